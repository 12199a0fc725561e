"""LSE-D / LSE-C: the syncnet_python arithmetic on hand-made features, the face-track front end on a real clip,
and the SyncNet layout. Networks here have random weights; no number below is an LSE of a real model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from emotalk.errors import MissingWeightsError
from emotalk.evaluate import lse
from emotalk.models.syncnet_lse import SyncNetLSE

from .helpers import TinySync

# ---------------------------------------------------------------------------------------------------- distances


@pytest.mark.parametrize("k", [-4, 0, 3, 7])
def test_known_offset_is_found(k: int) -> None:
    """Audio features = video features shifted so that audio[j] = video[j + k] → offset +k, LSE-C > 0."""
    g = torch.Generator().manual_seed(0)
    V, D = 60, 32
    base = torch.randn(V + 40, D, generator=g)
    video = base[20 : 20 + V]
    audio = base[20 + k : 20 + k + V]
    s = lse.sync_score(video, audio)
    assert s.offset == k
    assert s.lse_c > 0
    assert s.lse_d == pytest.approx(min(s.mdist))
    assert s.lse_c == pytest.approx(float(np.median(s.mdist)) - s.lse_d)
    assert len(s.mdist) == 31 and s.n_windows == V


def test_calc_pdist_zero_pads_the_edges_by_hand() -> None:
    """V = 3 one-dimensional features, vshift 1: row v holds |video[v] − audio[v+s] (0 outside) + 1e-6|."""
    video = torch.tensor([[1.0], [2.0], [4.0]])
    audio = torch.tensor([[10.0], [20.0], [40.0]])
    d = lse.calc_pdist(video, audio, vshift=1)
    eps = 1e-6
    padded = [0.0, 10.0, 20.0, 40.0, 0.0]
    expected = [[abs(video[v, 0].item() - padded[v + s] + eps) for s in range(3)] for v in range(3)]
    np.testing.assert_allclose(d.numpy(), np.array(expected), rtol=1e-6)
    # the first row's left neighbour and the last row's right neighbour are the zero vector
    assert d[0, 0].item() == pytest.approx(1.0 + eps)
    assert d[2, 2].item() == pytest.approx(4.0 + eps)
    mdist = d.mean(0)
    s = lse.sync_score(video, audio, vshift=1)
    assert s.lse_d == pytest.approx(mdist.min().item())
    assert s.offset == 1 - int(mdist.argmin())


def test_feature_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        lse.calc_pdist(torch.zeros(3, 4), torch.zeros(4, 4))
    with pytest.raises(ValueError, match="no window"):
        lse.sync_score(torch.zeros(0, 4), torch.zeros(0, 4))


# ---------------------------------------------------------------------------------------------------- windows


@pytest.mark.parametrize(
    ("frames", "samples", "min_len", "windows"),
    [
        (50, 50 * 640, 50, 45),  # video and audio agree
        (50, 30 * 640 + 639, 30, 25),  # audio shorter: ⌊samples / 640⌋
        (80, 50 * 640, 50, 45),  # video longer
        (6, 6 * 640, 6, 1),  # the shortest scorable track: one window
        (5, 5 * 640, 5, 0),
        (0, 0, 0, 0),
    ],
)
def test_min_length_and_window_count(frames: int, samples: int, min_len: int, windows: int) -> None:
    assert lse.min_length(frames, samples) == min_len
    assert lse.n_windows(frames, samples) == windows


def test_windows_take_frames_v_to_v4_and_mfcc_columns_4v_to_4v19() -> None:
    frames = torch.arange(12, dtype=torch.uint8)[:, None, None, None].expand(12, 3, 4, 4)  # frame i holds i
    w = lse.video_windows(frames, 2, 5).float()
    assert w.shape == (3, 3, 5, 4, 4)
    assert w[:, 0, :, 0, 0].tolist() == [[2, 3, 4, 5, 6], [3, 4, 5, 6, 7], [4, 5, 6, 7, 8]]
    mfcc = np.tile(np.arange(60, dtype=np.float32), (13, 1))  # column j holds j
    a = lse.audio_windows(mfcc, 4)
    assert a.shape == (4, 1, 13, 20)
    assert [a[v, 0, 0, 0].item() for v in range(4)] == [0, 4, 8, 12]
    assert a[3, 0, 0, -1].item() == 12 + 19
    with pytest.raises(ValueError, match="too few"):
        lse.audio_windows(mfcc, 12)


@pytest.mark.parametrize("n", [400, 16000, 36363])
def test_mfcc_shape_and_int16_scale(n: int) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n) * 3000).astype(np.int16)
    m = lse.mfcc(x)
    assert m.shape == (13, 1 + math.ceil((n - 400) / 160))  # ~N / 160 columns at 100 Hz
    assert abs(m.shape[1] - n / 160) <= 3
    # python_speech_features replaces c0 by the log frame energy, which depends on the int16 scale
    m2 = lse.mfcc((x // 2).astype(np.int16))
    assert np.abs(m2[0] - m[0]).mean() > 0.5
    with pytest.raises(TypeError, match="int16"):
        lse.mfcc(x.astype(np.float32) / 32768)


def test_to_int16_matches_ffmpeg_conversion() -> None:
    assert lse.to_int16(np.array([0.0, 0.5, -1.0, 1.0, 2.0])).tolist() == [0, 16384, -32768, 32767, 32767]


def test_scorer_counts_windows_and_uses_track_audio() -> None:
    """SyncScorer end to end with a random-weight stand-in network (shapes and window count only)."""
    crops = np.random.default_rng(0).integers(0, 255, (30, 224, 224, 3), dtype=np.uint8)
    audio = (np.random.default_rng(1).standard_normal(26 * 640) * 1000).astype(np.int16)
    v, a = lse.SyncScorer(TinySync(), batch_size=7).features(crops, audio)
    assert v.shape == a.shape == (26 - 5, 1024)


# ---------------------------------------------------------------------------------------------------- face tracks


def _box(x: float, y: float, s: float = 120.0) -> np.ndarray:
    return np.array([x, y, x + s, y + s])


def test_tracks_link_by_iou_interpolate_gaps_and_filter() -> None:
    dets: list[list[np.ndarray]] = [[_box(100 + f, 50)] for f in range(60)]
    for f in range(20, 30):  # a 10-frame miss (≤ 25): the track goes on, boxes interpolated
        dets[f] = []
    dets[10].append(_box(400, 300, 60))  # a small second face for one frame: its own 1-detection track
    tracks = lse.track_faces(dets, min_track=25, min_face_size=50)
    assert len(tracks) == 1
    t = tracks[0]
    assert (t.first, t.last, len(t), t.n_detections) == (0, 59, 60, 50)
    assert t.boxes[25, 0] == pytest.approx(125.0)  # linear between frames 19 and 30
    # more than min_track detections are needed (the reference's ">")
    assert lse.track_faces(dets, min_track=50, min_face_size=50) == []
    assert len(lse.track_faces(dets, min_track=49, min_face_size=50)) == 1
    # the mean face size must exceed min_face_size
    assert lse.track_faces(dets, min_track=25, min_face_size=120) == []


def test_a_long_miss_splits_the_track() -> None:
    dets: list[list[np.ndarray]] = [[_box(100, 50)] for _ in range(100)]
    for f in range(30, 60):  # 30 frames without a face > 25 tolerated
        dets[f] = []
    tracks = lse.track_faces(dets, min_track=25, min_face_size=50)
    assert [(t.first, t.last) for t in tracks] == [(0, 29), (60, 99)]


def test_crop_geometry_by_hand() -> None:
    """A square face box of side 2s: the crop spans x ± 1.4 s and y − s … y + 1.8 s, padding 110 outside."""
    frame = np.zeros((360, 480, 3), np.uint8)
    x1, y1, s2 = 200, 100, 100  # box 200..300 x 100..200: centre (250, 150), half-size s = 50
    frame[y1 : y1 + s2, x1 : x1 + s2] = 255
    track = lse.Track(np.arange(13), np.tile([x1, y1, x1 + s2, y1 + s2], (13, 1)).astype(float), 13)
    crop = lse.crop_track([frame] * 13, track)[6]
    assert crop.shape == (224, 224, 3)
    # crop side = 2.8 s = 140 px → scale 1.6; box columns 70..210 → 112 ± 80; rows 0..100 of 140 → 0..160
    white = np.argwhere(crop[..., 0] > 200)
    assert white[:, 1].min() == pytest.approx(32, abs=2) and white[:, 1].max() == pytest.approx(191, abs=2)
    assert white[:, 0].min() == pytest.approx(0, abs=2) and white[:, 0].max() == pytest.approx(159, abs=2)
    # a box at the frame's edge: the padding value 110 fills what lies outside the frame
    edge = lse.Track(np.arange(13), np.tile([0.0, 0.0, 100.0, 100.0], (13, 1)), 13)
    c = lse.crop_track([frame] * 13, edge)[6]
    assert (c[5, 5] == 110).all()


@pytest.mark.media
def test_face_track_crop_is_centred_on_a_real_face(media: Path) -> None:
    """On a real CREMA-D clip the 224x224 crop holds the face where the reference geometry puts it: centred
    horizontally, box centre at s / 2.8 s of the height (80 px), box side 2 s / 2.8 s (160 px)."""
    from emotalk.video.decode import read_frames
    from emotalk.video.faces import FaceDetector

    frames = list(read_frames(media / "crema-d/VideoFlash/1001_DFA_ANG_XX.flv", fps=25))
    with FaceDetector(max_side=lse.DETECT_MAX_SIDE) as det:
        tracks = lse.track_faces(lse.detect_all(frames, det))
        assert len(tracks) == 1 and len(tracks[0]) >= 50
        crops = lse.crop_track(frames, tracks[0])
        for i in (0, len(crops) // 2, len(crops) - 1):
            faces = det.detect(crops[i])
            assert faces, f"no face in LSE crop {i}"
            cx, cy = faces[0].center
            size = max(faces[0].x2 - faces[0].x1, faces[0].y2 - faces[0].y1)
            assert abs(cx - 112) < 14, (i, cx)
            assert abs(cy - 80) < 22, (i, cy)
            assert 125 < size < 195, (i, size)


@pytest.mark.media
def test_evaluator_runs_on_a_real_clip_and_both_front_ends(media: Path, tmp_path: Path) -> None:
    """Track mode on the real clip (random stand-in net: numbers meaningless), then the pre-cropped mode, and a
    min_track that drops the clip, as the reference's 100 does for every CREMA-D clip."""
    clip = media / "crema-d/VideoFlash/1001_DFA_ANG_XX.flv"
    ev = lse.LSEEvaluator(TinySync(), min_track=25)
    r = ev.score_video(clip)
    assert r.score is not None and r.n_frames == 57 and r.min_track == 25
    n_samples = len(lse.read_audio_int16(clip))
    assert n_samples == 36363  # 56.8 frames of audio under 57 video frames: min_length 56, 51 windows
    assert r.score.n_windows == lse.n_windows(r.tracks[0]["last"] - r.tracks[0]["first"] + 1, n_samples) == 51
    assert -15 <= r.score.offset <= 15
    dropped = lse.LSEEvaluator(TinySync(), min_track=lse.REFERENCE_MIN_TRACK).score_frames(
        list(np.zeros((57, 64, 64, 3), np.uint8)), np.zeros(57 * 640, np.int16)
    )
    assert dropped.score is None and "more than 100 detections" in dropped.reason
    cropped = lse.LSEEvaluator(TinySync(), mode="cropped").score_frames(
        list(np.random.default_rng(0).integers(0, 255, (20, 96, 96, 3), dtype=np.uint8)),
        np.zeros(20 * 640, np.int16),
    )
    assert cropped.score is not None and cropped.score.n_windows == 15 and cropped.mode == "cropped"
    assert lse.mean_over_videos([r, cropped, dropped])["n"] == 2


# ---------------------------------------------------------------------------------------------------- weights


def test_syncnet_lse_layout_equals_syncnet_v2_model(layouts: dict[str, dict[str, list[int]]]) -> None:
    ref = layouts["syncnet_python_S"]
    ours = {k: list(v.shape) for k, v in SyncNetLSE().state_dict().items()}
    assert ours == ref
    # a few, spelled out
    assert ref["netcnnaud.0.weight"] == [64, 1, 3, 3]
    assert ref["netcnnaud.18.weight"] == [512, 256, 5, 4]
    assert ref["netcnnlip.0.weight"] == [96, 3, 5, 7, 7]
    assert ref["netcnnlip.18.weight"] == [512, 256, 1, 6, 6]
    assert ref["netfclip.3.weight"] == [1024, 512]
    assert ref["netfcaud.1.running_var"] == [512]


def test_missing_syncnet_weights_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match=r"syncnet_v2\.model.*download_model\.sh"):
        lse.LSEEvaluator(tmp_path / "syncnet_v2.model")
