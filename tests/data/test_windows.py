"""Window arithmetic over fake clips whose pixels say which frame (B) of which clip (G) was served."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from emotalk.data.batch import ClipBatch, GeneratorBatch, SyncBatch
from emotalk.data.windows import (
    WindowDataset,
    apply_mask,
    audio_valid,
    build_index,
    collate_fn,
    face_window_starts,
)
from emotalk.errors import ConfigError
from emotalk.spec import DEFAULT_SPEC, EMOTIONS, LEVELS

T = DEFAULT_SPEC.T
R_VALUE = 200  # conftest.py: the R channel of every fake face frame (no-face frames are zeros)


def frame_ids(frames: np.ndarray) -> tuple[list[int], set[int]]:
    """(frame index per frame, clip numbers) from uint8 [T, H, W, 3] fake frames (constant per frame)."""
    assert (frames[..., 2] == R_VALUE).all(), "a no-face frame (zeros) was served"
    return [int(f[0, 0, 0]) for f in frames], {int(g) for g in np.unique(frames[..., 1])}


@pytest.fixture(scope="module")
def index(fake_crema):
    root, metas = fake_crema
    return metas, build_index(root, metas)


def by_no(metas):
    return {m.extra["fixture_no"]: m for m in metas}


def test_face_window_starts_skip_every_window_touching_a_noface_frame():
    has = np.ones(20, bool)
    has[[3, 15]] = False
    assert face_window_starts(has, 5).tolist() == [4, 5, 6, 7, 8, 9, 10]  # 0-3 touch frame 3, 11-15 frame 15
    assert face_window_starts(np.ones(4, bool), 5).tolist() == []


def test_valid_starts_keep_every_audio_window_inside_the_mel(index):
    metas, clips = index
    for spec in (DEFAULT_SPEC, replace(DEFAULT_SPEC, audio_offset_frames=-1)):
        for clip in build_index(clips[0].path.parents[1], metas, spec):
            for f in clip.face_starts:
                inside = all(
                    spec.mel_start(int(f) + k) >= 0 and spec.mel_start(int(f) + k) + spec.mel_step <= clip.n_mel
                    for k in range(T)
                )
                assert inside == (f in clip.starts)
            if spec.audio_offset_frames == -1:
                assert 0 not in clip.starts  # frame 0 would need audio before the clip starts
    assert audio_valid(np.array([0]), 16, DEFAULT_SPEC, 25.0).tolist() == [False]  # frame 4 needs cols 12..28


def test_generator_item_serves_exactly_frames_f_to_f_plus_4_and_their_audio(index):
    metas, clips = index
    ds = WindowDataset(clips, "generator", train=True, samples_per_epoch=300)
    nos = by_no(metas)
    for i in range(300):
        it = ds[i]
        f, ref = it["start"], it["ref_start"]
        ids, clip_nos = frame_ids(it["target"])
        assert ids == list(range(f, f + T))
        ref_ids, ref_nos = frame_ids(it["reference"])
        assert ref_ids == list(range(ref, ref + T)) and ref != f
        assert clip_nos == ref_nos and len(clip_nos) == 1  # the reference comes from the same clip
        meta = nos[clip_nos.pop()]
        assert meta.clip_id == ds.clips[it["clip"]].meta.clip_id
        # indiv_mels: frame k's 16 columns start at spec.mel_start(k); rows keep their order.
        assert it["indiv_mels"].shape == (T, 80, 16) and it["mel"].shape == (80, 16)
        for k in range(T):
            s = DEFAULT_SPEC.mel_start(f + k)
            expected = np.arange(s, s + 16)[None, :] + 0.001 * np.arange(80)[:, None]
            np.testing.assert_allclose(it["indiv_mels"][k], expected, atol=1e-4)
        np.testing.assert_allclose(it["mel"][:, 0], DEFAULT_SPEC.mel_start(f) + 0.001 * np.arange(80), atol=1e-4)
        assert it["mel"][0, 15] == pytest.approx(DEFAULT_SPEC.mel_start(f) + 15)
        assert it["emotion"] == EMOTIONS.index(meta.emotion) and it["level"] == LEVELS.index(meta.level)


def test_counterfactual_reference_comes_from_another_clip_of_the_same_actor(index):
    metas, clips = index
    nos = by_no(metas)
    ds = WindowDataset(clips, "generator", train=True, samples_per_epoch=200, reference_other_clip=0.5)
    crossed = 0
    for i in range(200):
        it = ds[i]
        ids, (clip_no,) = frame_ids(it["target"])
        ref_ids, (ref_no,) = frame_ids(it["reference"])
        assert ids == list(range(it["start"], it["start"] + T))
        assert ref_ids == list(range(ref_ids[0], ref_ids[0] + T))  # consecutive frames of one clip
        assert nos[ref_no].actor == nos[clip_no].actor  # identity always from the same actor
        if ref_no != clip_no:
            crossed += 1
            assert nos[ref_no].emotion != nos[clip_no].emotion or nos[ref_no].clip_id != nos[clip_no].clip_id
    assert 60 <= crossed <= 140  # about half
    plain = WindowDataset(clips, "generator", train=True, samples_per_epoch=50)
    for it in (plain[i] for i in range(50)):
        assert frame_ids(it["reference"])[1] == frame_ids(it["target"])[1]  # the paper: same clip


def test_audio_offset_minus_one_shifts_every_audio_window_one_frame_earlier(index):
    metas, clips = index
    spec = replace(DEFAULT_SPEC, audio_offset_frames=-1)
    ds = WindowDataset(build_index(clips[0].path.parents[1], metas, spec), "generator", spec=spec, train=False)
    for i in range(len(ds)):
        it = ds[i]
        f = it["start"]
        assert [it["indiv_mels"][k][0, 0] for k in range(T)] == [int((f + k - 1) * 3.2) for k in range(T)]
        assert it["mel"][0, 0] == int((f - 1) * 3.2)


def test_noface_frames_are_never_served(index):
    _, clips = index
    noface_clips = [c for c in clips if c.meta.n_noface]
    assert noface_clips
    for mode in ("generator", "syncnet", "emotion"):
        ds = WindowDataset(noface_clips, mode, train=True, samples_per_epoch=200)
        for i in range(200):
            it = ds[i]
            for key in ("target", "reference", "face", "frames"):
                if key in it:
                    frame_ids(it[key])  # asserts R == 200 everywhere: no zeroed no-face frame


def test_masks_full_and_lower_half():
    target = torch.rand(2, 3, T, 96, 96) + 0.1
    full = apply_mask(target, "full")
    assert full.shape == target.shape and (full == 0).all()
    lower = apply_mask(target, "lower_half")
    assert (lower[..., 48:, :] == 0).all() and torch.equal(lower[..., :48, :], target[..., :48, :])
    assert (target > 0).all()  # the input is left untouched
    with pytest.raises(ConfigError, match="mask_mode"):
        apply_mask(target, "upper")


def test_collated_generator_batch_has_the_documented_layout(index):
    _, clips = index
    ds = WindowDataset(clips, "generator", train=False)
    items = [ds[i] for i in range(4)]
    b = collate_fn("generator", "lower_half")(items)
    assert isinstance(b, GeneratorBatch) and len(b) == 4
    assert b.target.shape == (4, 3, T, 96, 96) and b.target.dtype == torch.float32 and b.target.is_contiguous()
    assert b.gen_input.shape == (4, 6, T, 96, 96)
    assert b.indiv_mels.shape == (4, T, 1, 80, 16) and b.mel.shape == (4, 1, 80, 16)
    assert b.emotion.dtype == torch.long and b.level.dtype == torch.long
    for j, it in enumerate(items):
        # channel 0 (B) of time step k is frame f+k; BGR order and [0, 1] scaling kept.
        assert torch.allclose(b.target[j, 0, :, 0, 0] * 255, torch.arange(it["start"], it["start"] + T).float())
        assert torch.allclose(b.target[j, 2], torch.full_like(b.target[j, 2], R_VALUE / 255))
        assert torch.allclose(
            b.reference[j, 0, :, 0, 0] * 255, torch.arange(it["ref_start"], it["ref_start"] + T).float()
        )
        assert (b.masked[j, :, :, 48:] == 0).all() and torch.equal(b.masked[j, :, :, :48], b.target[j, :, :, :48])
        assert torch.equal(b.indiv_mels[j, :, 0], torch.from_numpy(it["indiv_mels"]))
    assert (collate_fn("generator", "full")(items).masked == 0).all()


def test_sync_pairs_are_balanced_negatives_off_sync_positives_aligned(index):
    _, clips = index
    ds = WindowDataset(clips, "syncnet", train=True, samples_per_epoch=600)
    labels = []
    for i in range(600):
        it = ds[i]
        f, v = it["start"], it["video_start"]
        ids, _ = frame_ids(it["face"])
        assert ids == list(range(v, v + T))  # the face window really starts at video_start
        assert it["mel"][0, 0] == DEFAULT_SPEC.mel_start(f)  # audio always belongs to f
        if it["label"] == 1.0:
            assert v == f
        else:
            assert abs(v - f) >= T
        labels.append(it["label"])
    assert 0.42 < np.mean(labels) < 0.58
    b = collate_fn("syncnet")([ds[i] for i in range(8)])
    assert isinstance(b, SyncBatch) and b.face.shape == (8, 3, T, 96, 96) and b.mel.shape == (8, 1, 80, 16)
    assert b.label.dtype == torch.float32
    # The evaluation plan is exactly balanced (labels alternate over the plan).
    ev = WindowDataset(clips, "syncnet", train=False, windows_per_clip=2)
    ev_labels = [ev[i]["label"] for i in range(len(ev))]
    assert abs(sum(ev_labels) - len(ev_labels) / 2) <= 0.5


def test_sync_negative_offset_is_configurable(index):
    _, clips = index
    ds = WindowDataset(clips, "syncnet", train=True, samples_per_epoch=300, neg_min_offset=12)
    gaps = [abs(it["video_start"] - it["start"]) for it in (ds[i] for i in range(300)) if it["label"] == 0]
    assert gaps and min(gaps) >= 12


def test_emotion_clips_and_labels(index, fake_lrs2):
    metas, clips = index
    ds = WindowDataset(clips, "emotion", train=True, samples_per_epoch=100)
    nos = by_no(metas)
    for i in range(100):
        it = ds[i]
        ids, cn = frame_ids(it["frames"])
        assert ids == list(range(it["start"], it["start"] + T))
        assert it["emotion"] == EMOTIONS.index(nos[cn.pop()].emotion)
    b = collate_fn("emotion")([ds[i] for i in range(3)])
    assert isinstance(b, ClipBatch) and b.frames.shape == (3, 3, T, 96, 96) and b.emotion.dtype == torch.long
    # Unlabelled clips (LRS2) cannot train the emotion classifier: the dataset is empty, not mislabelled.
    root, lmetas = fake_lrs2
    assert len(WindowDataset(build_index(root, lmetas), "emotion", train=True)) == 0
    gen = WindowDataset(build_index(root, lmetas), "generator", train=True, samples_per_epoch=5)
    assert gen[0]["emotion"] == -1 and gen[0]["level"] == -1


def test_eval_plan_is_fixed_and_evenly_spread(index):
    _, clips = index
    a = WindowDataset(clips, "generator", train=False, windows_per_clip=3, seed=5)
    b = WindowDataset(clips, "generator", train=False, windows_per_clip=3, seed=5)
    assert np.array_equal(a.plan, b.plan) and len(a) == 3 * len(clips)
    first = [a[i] for i in range(len(a))]
    again = [a[i] for i in range(len(a))]  # a second "epoch"
    for x, y in zip(first, again, strict=True):
        assert x["start"] == y["start"] and x["ref_start"] == y["ref_start"]
        assert np.array_equal(x["target"], y["target"]) and np.array_equal(x["reference"], y["reference"])
    for c in range(len(clips)):
        starts = a.plan[a.plan[:, 0] == c, 1]
        assert len(set(starts.tolist())) == 3  # three distinct windows per clip, spread over the clip
    capped = WindowDataset(clips, "generator", train=False, windows_per_clip=3, max_samples=10)
    assert len(capped) == 10 and len(set(capped.plan[:, 0].tolist())) >= 8


def test_training_draws_differ_between_epochs_and_cover_the_clips(index):
    _, clips = index
    ds = WindowDataset(clips, "generator", train=True, samples_per_epoch=200)
    e1 = [ds.row(i) for i in range(200)]
    e2 = [ds.row(i) for i in range(200)]
    assert e1 != e2
    assert len({c for c, _, _ in e1 + e2}) == len(clips)


def test_unknown_mode_is_a_config_error(index):
    with pytest.raises(ConfigError, match="unknown data mode"):
        WindowDataset(index[1], "gan")
