"""Centred temporal smoothing of face boxes, and the mediapipe detector on real frames."""

from __future__ import annotations

import numpy as np
import pytest

from emotalk.video.decode import VideoReader
from emotalk.video.faces import Box, FaceDetector, smooth_boxes


def test_constant_track_is_unchanged():
    boxes = np.tile([[10.0, 20.0, 110.0, 140.0]], (9, 1))
    np.testing.assert_allclose(smooth_boxes(boxes, 5), boxes)


def test_window_is_centred_not_forward():
    # a face moving at constant speed: a centred window keeps it in place, a forward window (the reference's
    # frames i..i+4, reference-code.md §11) would lead it by two frames
    x = np.arange(20, dtype=float) * 3
    boxes = np.stack([x, x, x + 50, x + 50], axis=1)
    out = smooth_boxes(boxes, 5)
    np.testing.assert_allclose(out[2:-2], boxes[2:-2], atol=1e-4)
    # at the ends the window is clipped (frames 0..2 for frame 0), not padded
    np.testing.assert_allclose(out[0, 0], x[:3].mean(), atol=1e-4)


def test_single_frame_jitter_is_damped():
    boxes = np.tile([[100.0, 100.0, 200.0, 200.0]], (11, 1))
    boxes[5] += 20.0
    out = smooth_boxes(boxes, 5)
    np.testing.assert_allclose(out[5], [104.0, 104.0, 204.0, 204.0], atol=1e-4)  # 20 px → 4 px
    np.testing.assert_allclose(out[[3, 4, 6, 7], 0], 104.0, atol=1e-4)  # spread over the window
    np.testing.assert_allclose(out[[0, 1, 2, 8, 9, 10]], boxes[[0, 1, 2, 8, 9, 10]], atol=1e-4)


def test_nan_rows_stay_nan_and_are_ignored():
    boxes = np.tile([[0.0, 0.0, 10.0, 10.0]], (7, 1))
    boxes[3] = np.nan
    boxes[4] += 5.0
    out = smooth_boxes(boxes, 5)
    assert np.isnan(out[3]).all() and not np.isnan(np.delete(out, 3, axis=0)).any()
    # frame 2's window is frames 0..4 without frame 3: (0 + 0 + 0 + 5) / 4
    np.testing.assert_allclose(out[2, 0], 1.25, atol=1e-5)
    assert out.dtype == np.float32 and out.shape == boxes.shape


def test_window_one_and_empty():
    boxes = np.random.default_rng(0).uniform(0, 100, (4, 4))
    np.testing.assert_allclose(smooth_boxes(boxes, 1), boxes, rtol=1e-6)
    assert smooth_boxes(np.zeros((0, 4)), 5).shape == (0, 4)


def test_box_properties():
    b = Box(10, 20, 50, 100, 0.9)
    assert b.area == 40 * 80 and b.center == (30, 60)
    assert b.as_array().tolist() == [10, 20, 50, 100]


@pytest.fixture(scope="module")
def detector():
    with FaceDetector() as d:
        yield d


def test_detector_on_real_frames(media, detector):
    frame = next(iter(VideoReader(media / "crema-d" / "VideoFlash" / "1001_DFA_NEU_XX.flv", fps=25)))
    faces = detector.detect(frame)
    assert len(faces) == 1
    (f,) = faces
    assert 120 < f.center[0] < 360 and 60 < f.center[1] < 300 and 60 < f.x2 - f.x1 < 250 and f.score > 0.5
    assert detector.detect(np.full((360, 480, 3), 127, np.uint8)) == []


def test_detector_boxes_are_in_frame_pixels_whatever_the_downscale(media):
    frame = next(iter(VideoReader(media / "video" / "mead_M030_sad_3_001.mp4", fps=25)))
    boxes = []
    for side in (256, 640):
        with FaceDetector(max_side=side) as d:
            boxes.append(d.detect(frame)[0].as_array())
    width = boxes[1][2] - boxes[1][0]
    assert width > 200  # a 1080p close-up: hundreds of pixels, not the detector's downscaled size
    assert np.abs(boxes[0] - boxes[1]).max() < 0.05 * width
