"""Face detection (mediapipe) and centred temporal smoothing of face boxes.

mediapipe's short-range model finds frontal faces in ~4 ms a frame on one core; the full-range model (~9 ms)
is tried only when the short-range one finds nothing (small faces in wide shots, full-body portraits).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Box:
    """A face box in pixels of the frame it was found in."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2

    def as_array(self) -> np.ndarray:
        return np.array([self.x1, self.y1, self.x2, self.y2], dtype=np.float32)


class FaceDetector:
    """All faces in a BGR frame, largest first.

    Args:
        min_confidence: mediapipe's detection threshold.
        max_side: frames are downscaled to this longer side before detection (mediapipe works at 128 px
            internally, so larger inputs only cost conversion time); boxes come back in full-frame pixels.
        full_range_fallback: try the full-range model when the short-range one finds no face.
    """

    def __init__(self, min_confidence: float = 0.5, max_side: int = 640, full_range_fallback: bool = True) -> None:
        import mediapipe as mp

        fd = mp.solutions.face_detection
        self._short = fd.FaceDetection(model_selection=0, min_detection_confidence=min_confidence)
        self._full = (
            fd.FaceDetection(model_selection=1, min_detection_confidence=min_confidence)
            if full_range_fallback
            else None
        )
        self.max_side = max_side

    def detect(self, frame_bgr: np.ndarray) -> list[Box]:
        h, w = frame_bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = (
            frame_bgr
            if scale == 1.0
            else cv2.resize(frame_bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        rgb = np.ascontiguousarray(small[:, :, ::-1])
        boxes = self._run(self._short, rgb, w, h)
        if not boxes and self._full is not None:
            boxes = self._run(self._full, rgb, w, h)
        return sorted(boxes, key=lambda b: b.area, reverse=True)

    @staticmethod
    def _run(model: object, rgb: np.ndarray, w: int, h: int) -> list[Box]:
        res = model.process(rgb)  # type: ignore[attr-defined]
        out = []
        for d in res.detections or []:
            r = d.location_data.relative_bounding_box
            x1, y1 = max(0.0, r.xmin * w), max(0.0, r.ymin * h)
            x2, y2 = min(float(w), (r.xmin + r.width) * w), min(float(h), (r.ymin + r.height) * h)
            if x2 - x1 >= 4 and y2 - y1 >= 4:
                out.append(Box(x1, y1, x2, y2, float(d.score[0])))
        return out

    def close(self) -> None:
        for m in (self._short, self._full):
            if m is not None:
                m.close()

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def smooth_boxes(boxes: np.ndarray, window: int = 5) -> np.ndarray:
    """Centred moving average of boxes over `window` frames, ignoring frames without a face.

    Args:
        boxes: [N, 4] x1, y1, x2, y2; rows of NaN mark frames without a face (they stay NaN).
    Returns:
        [N, 4] float32. The reference averages frames i..i+4 (forward only, reference-code.md Q11), which
        lags the face by two frames; a centred window does not.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if window <= 1 or len(boxes) == 0:
        return boxes.astype(np.float32)
    valid = ~np.isnan(boxes).any(axis=1)
    vals = np.where(valid[:, None], boxes, 0.0)
    half = window // 2
    csum = np.concatenate([np.zeros((1, 4)), np.cumsum(vals, axis=0)])
    ccount = np.concatenate([[0], np.cumsum(valid)])
    idx = np.arange(len(boxes))
    lo, hi = np.clip(idx - half, 0, len(boxes)), np.clip(idx + half + 1, 0, len(boxes))
    count = (ccount[hi] - ccount[lo])[:, None]
    out = (csum[hi] - csum[lo]) / np.maximum(count, 1)
    out[~valid] = np.nan
    return out.astype(np.float32)
