"""The synthetic CREMA-D generator: layout, determinism, detectable faces, visible emotions, lip sync, resume, CLI."""

from __future__ import annotations

import itertools
import os
import wave
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotalk.cremad import TEST_ACTORS, VAL_ACTORS, parse_name
from emotalk.data import synthetic as syn
from emotalk.ffmpeg import probe, run_ffmpeg
from emotalk.spec import EMOTIONS
from emotalk.video.decode import read_frames

SMALL = {"actors": 3, "sentences": 1, "clips_per_actor": 3, "duration": 1.0}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """3 actors (train 1001, val 1006, test 1011) x 3 clips of 1 s, written by two worker processes."""
    out = tmp_path_factory.mktemp("synth")
    return out, syn.synthesize(out, seed=0, workers=2, progress=False, **SMALL)


@pytest.fixture(scope="module")
def detector():
    from emotalk.video.faces import FaceDetector

    with FaceDetector() as det:
        yield det


def _read_wav(path: Path) -> tuple[int, int, int, bytes]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.readframes(w.getnframes())


def _first_frame(path: Path) -> np.ndarray:
    from emotalk.video.decode import VideoReader

    return next(iter(VideoReader(path))).copy()


def _region(p: syn.ActorParams, pose: syn.Pose, u: tuple[float, float], v: tuple[float, float]) -> tuple[slice, slice]:
    """Pixel box of a head-coordinate box (u in face half-widths, v in face half-heights)."""
    cv = syn._Canvas(np.empty((syn.HEIGHT, syn.WIDTH, 0), np.uint8), pose)
    q = cv.tf(np.array([[u[0] * p.face_a, v[0] * p.face_b], [u[1] * p.face_a, v[1] * p.face_b]]))
    return slice(int(q[0, 1]), int(q[1, 1])), slice(int(q[0, 0]), int(q[1, 0]))


def test_actor_ids_include_the_split() -> None:
    ids = syn.actor_ids(12)
    assert ids[:3] == ["1001", VAL_ACTORS[0], TEST_ACTORS[0]]
    assert len(set(ids)) == 12 and all(len(a) == 4 for a in ids)
    assert syn.actor_ids(1) == ["1001"]


def test_clip_names_follow_cremad() -> None:
    names = syn.clip_names(["1001"], sentences=2)
    parsed = [parse_name(n) for n in names]
    ieo = [c for c in parsed if c.sentence == "IEO"]
    assert len(ieo) == 16 and {c.level for c in ieo if c.emotion == "neutral"} == {"unspecified"}
    assert {c.level for c in ieo if c.emotion == "angry"} == {"low", "medium", "high"}
    assert {(c.emotion, c.level) for c in parsed if c.sentence == "TIE"} == {(e, "unspecified") for e in EMOTIONS}
    assert len(syn.clip_names(["1001", "1002"], sentences=2, clips_per_actor=7)) == 14


def test_layout_names_and_streams(dataset: tuple[Path, list[Path]]) -> None:
    out, videos = dataset
    assert len(videos) == 9
    assert sorted(p.name for p in (out / "VideoFlash").iterdir()) == sorted(p.name for p in videos)
    assert {p.stem for p in (out / "AudioWAV").iterdir()} == {p.stem for p in videos}
    assert {parse_name(p.stem).actor for p in videos} == {"1001", VAL_ACTORS[0], TEST_ACTORS[0]}
    assert len({parse_name(p.stem).emotion for p in videos}) >= 3
    info = probe(videos[0])
    assert (info.width, info.height) == (480, 360) and info.fps == pytest.approx(30, abs=0.1)
    assert info.has_audio and info.video_codec == "flv1" and info.audio_codec == "mp3"
    assert info.duration == pytest.approx(1.0, abs=0.1)
    rate, channels, width, pcm = _read_wav(out / "AudioWAV" / f"{videos[0].stem}.wav")
    assert (rate, channels, width) == (16000, 1, 2) and len(pcm) == 2 * 16000
    # exactly 30 stored frames (ffmpeg's default constant-rate output would duplicate the last one: FLV's ms clock)
    gray = run_ffmpeg(["-i", str(videos[0]), "-map", "0:v", "-fps_mode", "passthrough", "-f", "rawvideo",
                       "-pix_fmt", "gray", "-"])  # fmt: skip
    assert len(gray) == 30 * 480 * 360


def test_video_audio_track_is_the_wav_in_sync(dataset: tuple[Path, list[Path]]) -> None:
    """The FLV's MP3 track starts with the WAV (LAME's 25 ms encoder delay is compensated)."""
    from emotalk.audio.load import load_audio

    out, videos = dataset
    track, wav = load_audio(videos[1]), load_audio(out / "AudioWAV" / f"{videos[1].stem}.wav")
    n = min(len(track), len(wav)) - 200
    lags = range(-100, 101)
    score = [np.dot(track[100 + k : n + k], wav[100:n]) for k in lags]
    assert lags[int(np.argmax(score))] == 0
    assert np.corrcoef(track[:n], wav[:n])[0, 1] > 0.98


def test_deterministic_for_a_seed(dataset: tuple[Path, list[Path]], tmp_path: Path) -> None:
    out, videos = dataset
    name = videos[4].stem
    again = syn.write_clip(tmp_path / "again", name, seed=0, duration=1.0)
    other = syn.write_clip(tmp_path / "other", name, seed=1, duration=1.0)
    wav = _read_wav(out / "AudioWAV" / f"{name}.wav")[3]
    assert _read_wav(tmp_path / "again" / "AudioWAV" / f"{name}.wav")[3] == wav
    assert _read_wav(tmp_path / "other" / "AudioWAV" / f"{name}.wav")[3] != wav
    frame0 = _first_frame(videos[4])
    np.testing.assert_array_equal(_first_frame(again), frame0)
    assert np.abs(_first_frame(other).astype(int) - frame0).mean() > 5


def test_faces_found_where_drawn(detector) -> None:
    """mediapipe finds the face in >= 95 % of frames (every 3rd frame of 12 clips: 6 actors, all emotions/levels)."""
    levels = ("unspecified", "low", "high")
    found = total = 0
    ious = []
    for i, actor in enumerate(syn.actor_ids(6)):
        for emotion in (EMOTIONS[i], EMOTIONS[(i + 3) % 6]):
            level = "unspecified" if emotion == "neutral" else levels[i % 3]
            plan = syn.clip_plan(actor, "IEO", emotion, level, duration=1.0)
            truth = plan.face_boxes()
            for k in range(0, plan.n_frames, 3):
                boxes = detector.detect(plan.frame(k))
                total += 1
                if boxes:
                    found += 1
                    a, b = boxes[0].as_array(), truth[k]
                    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
                    ious.append(inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter))
    assert found / total >= 0.95, f"faces found in {found}/{total} frames"
    assert np.median(ious) > 0.6 and min(ious) > 0.3


def test_faces_found_in_written_video(dataset: tuple[Path, list[Path]], detector) -> None:
    _, videos = dataset
    frames = [f for v in videos[::2] for f in read_frames(v)[::5]]
    assert sum(bool(detector.detect(f)) for f in frames) / len(frames) >= 0.95


def test_emotions_are_visibly_different_and_graded() -> None:
    pose = syn.Pose(2.0, -1.0, 1.5, 1.0)
    for actor in ("1001", "1011"):
        p = syn.actor_params(actor)
        brows_eyes = _region(p, pose, (-0.75, 0.75), (-0.45, 0.1))
        mouth = _region(p, pose, (-0.65, 0.65), (0.4, 0.85))

        def render(emotion: str, level: str, p: syn.ActorParams = p) -> np.ndarray:
            return syn.render_face(p, syn.expression(emotion, level), 0.2, pose).astype(np.float32)

        neutral = render("neutral", "unspecified")
        faces = {e: render(e, "medium") for e in EMOTIONS}
        for a, b in itertools.combinations(EMOTIONS, 2):
            d = np.abs(faces[a] - faces[b])
            assert d[brows_eyes].mean() + d[mouth].mean() > 6, (actor, a, b)
        for e in EMOTIONS:
            if e == "neutral":
                continue
            d = np.abs(faces[e] - neutral)
            assert d[brows_eyes].mean() > 3 and d[mouth].mean() > 3, (actor, e)
            graded = [np.abs(render(e, lv) - neutral)[brows_eyes].mean() for lv in ("low", "medium", "high")]
            assert graded[0] < graded[1] < graded[2], (actor, e, graded)
            graded = [np.abs(render(e, lv) - neutral)[mouth].mean() for lv in ("low", "medium", "high")]
            assert graded[0] < graded[1] < graded[2], (actor, e, graded)


def test_identities_differ() -> None:
    actors = syn.actor_ids(6)
    looks = []
    for a in actors:
        p = syn.actor_params(a)
        img = syn.render_face(p, syn.expression("neutral"), 0.0, syn.Pose()).astype(np.float32)
        cheek = img[_region(p, syn.Pose(), (-0.55, -0.35), (0.1, 0.25))].reshape(-1, 3).mean(0)
        corner = img[:40, :40].reshape(-1, 3).mean(0)
        looks.append(np.concatenate([cheek, corner]))
    for i, j in itertools.combinations(range(len(actors)), 2):
        assert np.linalg.norm(looks[i] - looks[j]) > 25, (actors[i], actors[j])
    assert len({syn.actor_params(a).hair_style for a in actors[:3]}) == 3


def _mouth_darkness(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Fraction of the mouth box that shows the dark inside of an open mouth."""
    out = []
    for f, (x1, y1, x2, y2) in zip(frames, boxes.astype(int), strict=True):
        roi = f[y1:y2, x1:x2].astype(int)
        out.append((roi.max(axis=2) < 60).mean())
    return np.array(out)


def test_mouth_follows_the_audio() -> None:
    for actor, emotion in (("1001", "happy"), ("1011", "sad"), ("1003", "angry")):
        plan = syn.clip_plan(actor, "TIE", emotion, "unspecified", duration=2.5)
        frames = np.stack(list(plan.frames()))
        dark = _mouth_darkness(frames, plan.mouth_boxes())
        silent = plan.rms == 0
        assert silent.sum() >= 4 and (~silent).sum() >= 20
        assert np.corrcoef(dark, plan.rms)[0, 1] > 0.8, actor
        assert dark[silent].max() < 0.01  # silence: a closed mouth
        assert plan.mouth[silent].max() == 0 and plan.mouth.max() > 0.5


def test_audio_is_speech_like() -> None:
    plan = syn.clip_plan("1001", "IEO", "neutral", duration=2.5)
    wav = plan.wav
    assert wav.dtype == np.float32 and 0.3 < np.abs(wav).max() <= 0.95
    # syllable-rate envelope: the loudness rises and falls several times, with silent gaps
    voiced = plan.rms > 0.02
    assert 3 <= np.count_nonzero(np.diff(voiced.astype(int)) == 1) <= 15
    spec = np.abs(np.fft.rfft(wav))
    freqs = np.fft.rfftfreq(len(wav), 1 / 16000)
    assert 80 < freqs[np.argmax(spec * (freqs < 400))] < 400  # a voice fundamental
    loud = {e: np.abs(syn.clip_plan("1001", "IEO", e, "high", duration=2.0).wav).max() for e in ("angry", "sad")}
    assert loud["angry"] > loud["sad"]


def test_make_clip_for_fixtures() -> None:
    frames, wav, fps = syn.make_clip("1011", "IEO", "fearful", "high", duration=0.5, size=(240, 180))
    assert frames.shape == (15, 180, 240, 3) and frames.dtype == np.uint8
    assert wav.shape == (8000,) and fps == 30.0
    np.testing.assert_array_equal(
        frames, syn.make_clip("1011", "IEO", "fearful", "high", duration=0.5, size=(240, 180))[0]
    )


def test_resume_skips_finished_clips(tmp_path: Path) -> None:
    kw = {"actors": ["1002"], "sentences": 1, "clips_per_actor": 2, "duration": 0.5, "workers": 1, "progress": False}
    videos = syn.synthesize(tmp_path, **kw)
    mtimes = {p: p.stat().st_mtime_ns for p in videos}
    stale = tmp_path / "VideoFlash" / f".{videos[0].name}.99999.tmp"
    stale.write_bytes(b"half a video")
    videos[1].unlink()
    assert syn.synthesize(tmp_path, **kw) == videos
    assert videos[0].stat().st_mtime_ns == mtimes[videos[0]]
    assert videos[1].is_file() and probe(videos[1]).has_audio
    assert not stale.exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_cli_and_emotion_grid(tmp_path: Path) -> None:
    from emotalk.cli import main

    grid = tmp_path / "grid.png"
    out = tmp_path / "data"
    argv = ["synth", "--out", str(out), "--actors", "1", "--sentences", "1", "--clips-per-actor", "1"]
    argv += ["--duration", "0.4", "--workers", "1", "--no-progress", "--grid", str(grid)]
    assert main(argv) == 0
    assert [p.name for p in (out / "VideoFlash").iterdir()] == ["1001_IEO_ANG_MD.flv"]
    img = cv2.imread(str(grid))
    assert img is not None and img.shape[1] == 6 * 200 and img.shape[0] >= 5 * 200
    assert main(["synth", "--out", str(out), "--actors", "0"]) != 0
    if os.environ.get("EMOTALK_KEEP_GRID"):  # for a person to look at: EMOTALK_KEEP_GRID=path pytest ...
        syn.emotion_grid(os.environ["EMOTALK_KEEP_GRID"])
