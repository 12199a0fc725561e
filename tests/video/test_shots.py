"""Shot cuts on real clips: none inside a continuous clip, one at every hard cut between different scenes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotalk.video.decode import VideoReader, read_frames
from emotalk.video.shots import ShotDetector

pytestmark = pytest.mark.media

NAMES = ("hdtf_retalking_face2.mp4", "retalking_face1.mp4", "retalking_face4.mp4", "mead_M030_sad_3_001.mp4")


def test_no_cut_inside_a_real_clip(media):
    for name in NAMES:
        det = ShotDetector()
        cuts = [det.push(f) for f in VideoReader(media / "video" / name, max_side=640)]
        assert cuts[0] and not any(cuts[1:]), (name, [i for i, c in enumerate(cuts) if c])


def test_a_hard_cut_between_real_scenes_is_found(media):
    ends = {n: read_frames(media / "video" / n, max_side=320)[[0, -1]] for n in NAMES}
    flv = read_frames(media / "crema-d" / "VideoFlash" / "1001_DFA_ANG_XX.flv", max_side=320)
    ends["crema"] = flv[[0, -1]]
    for a, (_, last) in ends.items():
        for b, (first, _) in ends.items():
            if a == b:
                continue
            det = ShotDetector()
            det.push(last)
            assert det.push(cv2.resize(first, (last.shape[1], last.shape[0]))), (a, b, det.last_distance)


def test_a_flat_brightness_change_is_no_cut():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    det = ShotDetector()
    det.push(frame)
    assert not det.push(np.clip(frame.astype(int) + 4, 0, 255).astype(np.uint8))
    assert det.push(255 - frame) or det.last_distance > 0  # a different picture moves the distance
