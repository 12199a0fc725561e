"""Paste-back: a feathered mask with no visible box edge, LAB colour matching, and the visible label."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotalk.video.crop import (
    box_mask,
    crop_face,
    draw_label,
    feather_mask,
    label_overlay,
    match_colour,
    paste_face,
    region_mask,
)


@pytest.mark.parametrize(("h", "w"), [(96, 96), (200, 150), (37, 61)])
def test_feather_mask_is_zero_on_the_border_and_one_inside(h, w):
    for m in (feather_mask(h, w), box_mask(h, w)):
        assert m.shape == (h, w) and m.dtype == np.float32
        assert m[0].max() == 0 and m[-1].max() == 0 and m[:, 0].max() == 0 and m[:, -1].max() == 0
        assert m[h // 2, w // 2] == pytest.approx(1.0, abs=1e-3)
        assert m.min() >= 0 and m.max() <= 1
        # falls monotonically from the centre to the edge along the middle row
        row = m[h // 2, w // 2 :]
        assert (np.diff(row) <= 1e-3).all()
    np.testing.assert_allclose(box_mask(h, w), feather_mask(h, w), atol=0.03)


def test_paste_changes_only_the_inside_of_the_box():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    orig = frame.copy()
    box = np.array([100, 40, 220, 190], np.float32)
    face = np.full((96, 96, 3), (20, 200, 60), np.uint8)
    paste_face(frame, face, box)
    outside = np.ones(frame.shape[:2], bool)
    outside[41:189, 101:219] = False  # the box's interior (its border ring keeps the original, alpha 0)
    np.testing.assert_array_equal(frame[outside], orig[outside])
    centre = frame[115, 160].astype(int)
    assert abs(centre - np.array([20, 200, 60])).max() <= 1  # generated pixel in the middle
    # no hard edge: just inside the border the change is small, it grows towards the centre
    d = np.abs(frame.astype(int) - orig.astype(int)).sum(axis=2)
    assert d[115, 101] < d[115, 120] < d[115, 160] or d[115, 160] > 100


def test_colour_match_moves_mean_and_std_to_the_original():
    rng = np.random.default_rng(1)
    ref = cv2.GaussianBlur(rng.integers(60, 200, (96, 96, 3), dtype=np.uint8), (9, 9), 3)
    ref[..., 2] = np.clip(ref[..., 2].astype(int) + 40, 0, 255)  # warmer original
    gen = cv2.GaussianBlur(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), (9, 9), 3) // 2 + 20  # dark, greyish
    out = match_colour(gen, ref)
    lab = [cv2.cvtColor(x, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(float) for x in (gen, ref, out)]
    assert np.abs(lab[2].mean(0) - lab[1].mean(0)).max() < 3
    assert np.abs(lab[2].mean(0) - lab[1].mean(0)).max() < np.abs(lab[0].mean(0) - lab[1].mean(0)).max()
    assert np.abs(lab[2].std(0) - lab[1].std(0)).max() < 3


def test_paste_with_colour_matching_uses_the_original_crop():
    frame = np.full((200, 200, 3), (90, 120, 200), np.uint8)
    box = np.array([50, 50, 150, 150], np.float32)
    crop = crop_face(frame, box)
    blue = np.full((96, 96, 3), (230, 40, 40), np.uint8)
    out = paste_face(frame.copy(), blue, box, reference=crop)
    assert np.abs(out[100, 100].astype(int) - np.array([90, 120, 200])).max() <= 3  # recoloured to the original


def test_label_changes_pixels_only_in_its_box():
    frame = np.full((360, 480, 3), 128, np.uint8)
    overlay = label_overlay(480, 360)
    (x1, y1, x2, y2), img, alpha = overlay
    assert 0 <= x1 < x2 <= 480 and 0 <= y1 < y2 <= 360 and y2 > 300  # bottom-left corner
    out = draw_label(frame.copy(), overlay)
    changed = np.abs(out.astype(int) - frame.astype(int)).sum(axis=2) > 0
    assert changed[y1:y2, x1:x2].mean() > 0.9 and changed.sum() == changed[y1:y2, x1:x2].sum()
    assert out[y1:y2, x1:x2].max() > 200  # white text on a dark plate
    for w, h in ((64, 48), (1920, 1080), (911, 1137)):
        (a, b, c, d), img, alpha = label_overlay(w, h)
        assert 0 <= a < c <= w and 0 <= b < d <= h and img.shape[:2] == alpha.shape == (d - b, c - a)


def test_lower_region_keeps_the_upper_face_and_takes_the_mouth():
    rng = np.random.default_rng(2)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    orig = frame.copy()
    box = np.array([100, 40, 220, 190], np.float32)  # 150 px tall
    face = np.full((96, 96, 3), (20, 200, 60), np.uint8)
    paste_face(frame, face, box, region="lower")
    top = 40 + int(0.45 * 150)  # above the fade: the real eyes and nose, untouched
    np.testing.assert_array_equal(frame[:top], orig[:top])
    mouth = frame[40 + int(0.75 * 150), 160].astype(int)
    assert abs(mouth - np.array([20, 200, 60])).max() <= 1
    m = region_mask("lower", 150, 120)
    assert m[: int(0.45 * 150)].max() == 0.0 and m[int(0.62 * 150) : int(0.8 * 150), 60].min() > 0.5
    assert np.all(np.diff(m[:, 60][: int(0.7 * 150)]) >= 0)  # a smooth rise, no seam
    with pytest.raises(ValueError, match="paste region"):
        region_mask("eyes", 10, 10)
