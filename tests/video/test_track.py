"""The one face tracker (video/track.py): gap filling, streaming smoothing equal to the batch result, crops."""

from __future__ import annotations

import numpy as np
import pytest

from emotalk.spec import DEFAULT_SPEC, AVSpec
from emotalk.video.crop import pad_box
from emotalk.video.faces import smooth_boxes
from emotalk.video.track import BoxTrack, FaceTrack, fill_gaps


def random_boxes(n: int, seed: int = 0, holes: tuple[tuple[int, int], ...] = ((5, 6), (20, 24), (40, 41))):
    rng = np.random.default_rng(seed)
    xy = 100 + np.cumsum(rng.normal(0, 2, (n, 2)), axis=0)
    boxes = np.concatenate([xy, xy + 80 + rng.normal(0, 1, (n, 2))], axis=1)
    for a, b in holes:
        boxes[a:b] = np.nan
    return boxes


def test_fill_gaps_interpolates_short_gaps_only():
    b = np.tile(np.arange(12, dtype=float)[:, None], (1, 4))
    b[[0, 3, 4, 7, 8, 9, 11]] = np.nan  # edge, gap of 2, gap of 3, edge
    filled, was = fill_gaps(b, 2)
    np.testing.assert_allclose(filled[[3, 4], 0], [3.0, 4.0])
    assert np.isnan(filled[[0, 7, 8, 9, 11]]).all()
    assert was.tolist() == [i in (3, 4) for i in range(12)]
    assert not fill_gaps(b, 0)[1].any()


@pytest.mark.parametrize("max_gap", [0, 2])
def test_streaming_track_equals_batch_smoothing(max_gap):
    rng = np.random.default_rng(max_gap)
    n = 40
    xy = 60 + np.cumsum(rng.normal(0, 2, (n, 2)), axis=0)
    raw = np.concatenate([xy, xy + 50], axis=1)
    miss = rng.random(n) < 0.25
    miss[[5, 6, 20, 21, 22]] = True
    frames = [np.full((200, 200, 3), i, np.uint8) for i in range(n)]
    track = FaceTrack(DEFAULT_SPEC, max_gap)
    for f, b, m in zip(frames, raw, miss, strict=True):
        track.push(f, None if m else b)
        assert len(track._pending) <= track.lookahead + 1  # memory stays bounded
    track.finish()
    raw_nan = np.where(miss[:, None], np.nan, raw)
    filled, was = fill_gaps(raw_nan, max_gap)
    smooth = smooth_boxes(filled, DEFAULT_SPEC.box_smoothing)
    ok = ~np.isnan(smooth).any(axis=1)
    assert track.has_face == ok.tolist()
    expect = np.array([pad_box(b, (200, 200)) if k else np.full(4, np.nan) for b, k in zip(smooth, ok, strict=True)])
    np.testing.assert_array_equal(np.stack(track.boxes), expect.astype(np.float32))
    assert track.filled == [i for i in range(n) if was[i] and ok[i]]
    assert all(face[0, 0, 0] == i for i, face in enumerate(track.faces) if ok[i])  # frame i's crop at index i
    assert all(not face.any() for i, face in enumerate(track.faces) if not ok[i])


@pytest.mark.parametrize("max_gap", [0, 2])
def test_streamed_boxes_equal_preprocessing(max_gap):
    spec = AVSpec()
    raw = random_boxes(60)
    want = smooth_boxes(fill_gaps(raw, max_gap)[0], spec.box_smoothing)
    track = BoxTrack(spec, max_gap)
    got = {}
    for b in raw:
        got.update(dict(t[:2] for t in track.push(None if np.isnan(b).any() else b)))
        assert len(track.raw) <= 2 * track.reach + 2  # bounded memory
    got.update(dict(t[:2] for t in track.finish()))
    assert sorted(got) == list(range(60))
    np.testing.assert_allclose(np.stack([got[j] for j in range(60)]), want, equal_nan=True, rtol=1e-6)


def test_a_resumed_track_gives_the_same_boxes():
    spec = AVSpec()
    raw = random_boxes(60)
    want = smooth_boxes(fill_gaps(raw, 2)[0], spec.box_smoothing)
    skip = 30
    first = skip - (spec.box_smoothing // 2 + 2 + 1)
    track = BoxTrack(spec, 2, first=first)
    got = {}
    for b in raw[first:]:
        got.update(dict(t[:2] for t in track.push(None if np.isnan(b).any() else b)))
    got.update(dict(t[:2] for t in track.finish()))
    np.testing.assert_allclose(np.stack([got[j] for j in range(skip, 60)]), want[skip:], equal_nan=True, rtol=1e-6)
