"""Face choice and box tracking in the stream: the same boxes as preprocessing, chunk by chunk."""

from __future__ import annotations

import numpy as np
import pytest

from emotalk.data.preprocess import fill_gaps
from emotalk.errors import ConfigError
from emotalk.infer.stream import BatchTuner, BoxTrack, FaceSelector
from emotalk.spec import AVSpec
from emotalk.video.faces import Box, smooth_boxes


def random_boxes(n: int, seed: int = 0, holes: tuple[tuple[int, int], ...] = ((5, 6), (20, 24), (40, 41))):
    rng = np.random.default_rng(seed)
    xy = 100 + np.cumsum(rng.normal(0, 2, (n, 2)), axis=0)
    boxes = np.concatenate([xy, xy + 80 + rng.normal(0, 1, (n, 2))], axis=1)
    for a, b in holes:
        boxes[a:b] = np.nan
    return boxes


@pytest.mark.parametrize("max_gap", [0, 2])
def test_streamed_boxes_equal_preprocessing(max_gap):
    spec = AVSpec()
    raw = random_boxes(60)
    want = smooth_boxes(fill_gaps(raw, max_gap)[0], spec.box_smoothing)
    track = BoxTrack(spec, max_gap)
    got = {}
    for b in raw:
        got.update(dict(track.push(None if np.isnan(b).any() else b)))
        assert len(track.raw) <= 2 * track.reach + 2  # bounded memory
    got.update(dict(track.finish()))
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
        got.update(dict(track.push(None if np.isnan(b).any() else b)))
    got.update(dict(track.finish()))
    np.testing.assert_allclose(np.stack([got[j] for j in range(skip, 60)]), want[skip:], equal_nan=True, rtol=1e-6)


def test_face_selector():
    big, small_right, mid_left = Box(200, 100, 400, 300), Box(500, 100, 560, 160), Box(10, 50, 110, 150)
    faces = [big, mid_left, small_right]  # largest first, as FaceDetector returns them
    hw = (480, 640)
    assert FaceSelector().pick(faces, hw).tolist() == big.as_array().tolist()
    assert FaceSelector(2).pick(faces, hw).tolist() == mid_left.as_array().tolist()
    assert FaceSelector("3").pick(faces, hw).tolist() == small_right.as_array().tolist()
    assert FaceSelector(4).pick(faces, hw) is None
    assert FaceSelector("left").pick(faces, hw).tolist() == mid_left.as_array().tolist()
    assert FaceSelector("right").pick(faces, hw).tolist() == small_right.as_array().tolist()
    assert FaceSelector("center").pick(faces, hw).tolist() == big.as_array().tolist()
    assert FaceSelector().pick([], hw) is None
    for bad in (0, "middle", "-1"):
        with pytest.raises(ConfigError, match="--face"):
            FaceSelector(bad)


def test_batch_tuner_keeps_the_fastest():
    tuner = BatchTuner((8, 16, 32))
    per_frame = {8: 0.05, 16: 0.03, 32: 0.04}
    sizes = []
    for _ in range(8):
        b = tuner.next_size()
        sizes.append(b)
        tuner.record(b, b, per_frame[b] * b * (3 if len(tuner.trials.get(b, [])) == 0 else 1))
    assert sizes[:6] == [8, 8, 16, 16, 32, 32] and tuner.chosen == 16 and sizes[6:] == [16, 16]
    assert BatchTuner((8, 16), fixed=4).next_size() == 4
