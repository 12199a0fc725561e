"""Padding a face box and cutting the 96x96 crop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotalk.spec import AVSpec
from emotalk.video.crop import crop_face, pad_box


def test_pad_box_fractions_of_the_box():
    spec = AVSpec(face_pads=(0.1, 0.2, 0.05, 0.05))
    out = pad_box(np.array([100, 100, 200, 300]), (1000, 1000), spec)  # w 100, h 200
    # top 0.1·h = 20, bottom 0.2·h = 40, left/right 0.05·w = 5
    assert out.tolist() == [95, 80, 205, 340] and out.dtype == np.float32


def test_pad_box_is_clipped_to_the_frame_and_rounded():
    spec = AVSpec(face_pads=(0.5, 0.5, 0.5, 0.5))
    out = pad_box(np.array([5.2, 3.7, 60.4, 50.1]), (60, 80), spec)
    assert out.tolist() == [0, 0, 80, 60]
    out = pad_box(np.array([10.4, 10.6, 20.2, 20.0]), (100, 100), AVSpec(face_pads=(0, 0, 0, 0)))
    assert out.tolist() == [10, 11, 20, 20]


def test_default_pads_are_used():
    spec = AVSpec()
    top, bottom, left, right = spec.face_pads
    out = pad_box(np.array([100, 100, 200, 200]), (1000, 1000))
    expect = [100 - 100 * left, 100 - 100 * top, 200 + 100 * right, 200 + 100 * bottom]
    assert out.tolist() == [round(v) for v in expect]


def test_crop_face_cuts_the_box_and_resizes():
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[20:68, 40:88] = (10, 200, 30)  # the "face" fills the box exactly
    crop = crop_face(frame, np.array([40, 20, 88, 68], np.float32), 96)
    assert crop.shape == (96, 96, 3) and crop.dtype == np.uint8
    assert (crop == (10, 200, 30)).all()  # nothing from outside the box
    # shrinking uses the area filter: a checkerboard averages to grey
    board = (np.indices((192, 192)).sum(axis=0) % 2 * 255).astype(np.uint8)
    board = cv2.merge([board] * 3)
    small = crop_face(board, np.array([0, 0, 192, 192], np.float32), 96)
    assert np.abs(small.astype(int) - 128).max() <= 1


def test_crop_face_keeps_content_orientation():
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[10:30, 10:90] = 255  # a bright band in the top of the box
    crop = crop_face(frame, np.array([10, 10, 90, 90], np.float32), 96)
    assert crop[:20].mean() > 200 and crop[40:].mean() < 5


def test_empty_crop_raises():
    with pytest.raises(ValueError, match="empty crop box"):
        crop_face(np.zeros((50, 50, 3), np.uint8), np.array([60, 60, 80, 80], np.float32))


def test_emotion_paste_keeps_the_real_eyes_as_far_as_the_emotion_is_neutral():
    """Full-face emotion models: the mouth is always pasted, the eyes and brows by the non-neutral weight."""
    from emotalk.infer.emotion import emotion_vector, upper_face_weight
    from emotalk.video.crop import box_mask, lower_face_mask, paste_face, paste_region_for

    h = w = 96
    eye, mouth = (int(0.35 * h), w // 2), (int(0.8 * h), w // 2)
    src = np.full((h, w, 3), 40, np.uint8)
    gen = np.full((h, w, 3), 200, np.uint8)
    box = np.array([0, 0, w, h])
    pasted = {}
    for name, strength in (("neutral", 1.0), ("happy", 0.5), ("happy", 1.0)):
        upper = upper_face_weight(emotion_vector(name, strength))
        frame = paste_face(src.copy(), gen, box, region="emotion", upper=upper)
        pasted[(name, strength)] = frame[eye][0], frame[mouth][0]
    assert pasted[("neutral", 1.0)][0] == 40  # eyes untouched for neutral
    assert 40 < pasted[("happy", 0.5)][0] < pasted[("happy", 1.0)][0]  # more of the eyes with more emotion
    assert {v[1] for v in pasted.values()} == {pasted[("neutral", 1.0)][1]} and pasted[("neutral", 1.0)][1] > 150
    full = paste_face(src.copy(), gen, box, region="face")
    assert full[eye][0] == pasted[("happy", 1.0)][0]  # full strength is the whole-face paste
    assert np.allclose(box_mask(h, w) >= lower_face_mask(h, w), True)
    assert paste_region_for("lower_half", False) == "lower"
    assert paste_region_for("full", True) == "emotion" and paste_region_for("full", False) == "face"
    assert upper_face_weight(None) == 1.0


def test_unknown_paste_region_is_refused():
    from emotalk.video.crop import region_mask

    with pytest.raises(ValueError, match="emotion"):
        region_mask("eyes", 8, 8)
