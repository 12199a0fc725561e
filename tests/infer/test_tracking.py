"""Face choice and batch sizing in the stream (box tracking: tests/video/test_track.py)."""

from __future__ import annotations

import pytest

from emotalk.errors import ConfigError
from emotalk.infer.stream import BatchTuner, FaceSelector
from emotalk.video.faces import Box


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
