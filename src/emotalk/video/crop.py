"""Face crops: pad a box, cut and resize it to the model's size (paste-back lives here too, see issue #5)."""

from __future__ import annotations

import cv2
import numpy as np

from emotalk.spec import DEFAULT_SPEC, AVSpec


def pad_box(box: np.ndarray, frame_hw: tuple[int, int], spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    """Grow x1, y1, x2, y2 by `spec.face_pads` (fractions of the box's height/width), clipped to the frame.

    Returns integer pixel coordinates as float32 [4].
    """
    top, bottom, left, right = spec.face_pads
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = x2 - x1, y2 - y1
    h, w = frame_hw
    out = np.array(
        [
            max(0.0, x1 - left * bw),
            max(0.0, y1 - top * bh),
            min(float(w), x2 + right * bw),
            min(float(h), y2 + bottom * bh),
        ]
    )
    return np.round(out).astype(np.float32)


def crop_face(frame: np.ndarray, padded_box: np.ndarray, size: int = DEFAULT_SPEC.img_size) -> np.ndarray:
    """Cut `padded_box` (from `pad_box`) out of `frame` and resize to size x size (area filter when shrinking)."""
    x1, y1, x2, y2 = (int(v) for v in padded_box)
    patch = frame[y1:y2, x1:x2]
    if patch.size == 0:
        raise ValueError(f"empty crop box {padded_box.tolist()} in a frame of shape {frame.shape}")
    interp = cv2.INTER_AREA if patch.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)
