"""Anti-aliased drawing in head coordinates through a pose (`_Canvas`), and the small shape helpers the face
drawing uses.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence

import cv2
import numpy as np

from emotalk.data.synthetic.actors import Pose

log = logging.getLogger(__name__)


_SHIFT = 4  # fixed-point bits for sub-pixel anti-aliased drawing
_ONE = 1 << _SHIFT
MOUTH_INSIDE = (24, 16, 44)  # BGR of the open mouth: darker than any lips, skin or nostril the actors have
HEAD_CENTER = (0.5, 0.44)  # head centre as fractions of the frame (the real clips frame the face like this)


class _Canvas:
    """Draws in head coordinates (origin at the head centre, y down, 360-pixel frame units) through the pose."""

    def __init__(self, img: np.ndarray, pose: Pose) -> None:
        self.img = img
        h, w = img.shape[:2]
        k = h / 360.0
        self.scale = pose.scale
        self.k = k * pose.scale
        t = math.radians(pose.angle)
        c, s = math.cos(t) * self.k, math.sin(t) * self.k
        self.m = np.array([[c, -s], [s, c]])
        self.o = np.array([w * HEAD_CENTER[0] + pose.dx * k, h * HEAD_CENTER[1] + pose.dy * k])

    @classmethod
    def at(cls, img: np.ndarray, m: np.ndarray, o: Sequence[float], scale: float = 1.0) -> _Canvas:
        """A canvas with an explicit transform: frame = m @ head + o."""
        cv = cls.__new__(cls)
        cv.img, cv.m, cv.o, cv.scale = img, np.asarray(m, np.float64), np.asarray(o, np.float64), scale
        cv.k = float(math.sqrt(abs(np.linalg.det(cv.m))))
        return cv

    def tf(self, pts: np.ndarray) -> np.ndarray:
        return np.asarray(pts, dtype=np.float64) @ self.m.T + self.o

    def _fix(self, pts: np.ndarray) -> np.ndarray:
        return np.round(self.tf(pts) * _ONE).astype(np.int32).reshape(-1, 1, 2)

    def poly(self, pts: np.ndarray, color: Sequence[int]) -> None:
        cv2.fillPoly(self.img, [self._fix(pts)], color, cv2.LINE_AA, _SHIFT)

    def line(self, pts: np.ndarray, color: Sequence[int], width: float, closed: bool = False) -> None:
        th = max(1, round(width * self.k))
        cv2.polylines(self.img, [self._fix(pts)], closed, color, th, cv2.LINE_AA, _SHIFT)

    def circle(self, c: Sequence[float], r: float, color: Sequence[int]) -> None:
        ctr = np.round(self.tf(np.array([c]))[0] * _ONE).astype(int)
        cv2.circle(
            self.img, (int(ctr[0]), int(ctr[1])), max(1, round(r * self.k * _ONE)), color, -1, cv2.LINE_AA, _SHIFT
        )

    def ellipse(self, c: Sequence[float], ax: Sequence[float], color: Sequence[int], angle: float = 0.0) -> None:
        self.poly(_ellipse(c, ax, angle), color)


@functools.cache
def _unit_circle(n: int) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], 1)


@functools.cache
def _span(lo: float, hi: float, n: int) -> np.ndarray:
    """np.linspace, cached: the drawing code asks for the same few spans thousands of times."""
    out = np.linspace(lo, hi, n)
    out.setflags(write=False)
    return out


def _ellipse(c: Sequence[float], ax: Sequence[float], angle: float = 0.0, n: int = 48) -> np.ndarray:
    p = _unit_circle(n) * (ax[0], ax[1])
    if angle:
        a = math.radians(angle)
        ca, sa = math.cos(a), math.sin(a)
        p = p @ np.array([[ca, sa], [-sa, ca]])
    return p + np.array([c[0], c[1]], np.float64)


def _shade(color: Sequence[int], f: float) -> tuple[int, int, int]:
    b, g, r = (min(255, max(0, int(c * f))) for c in color)
    return b, g, r


def _mix(c1: Sequence[int], c2: Sequence[int], t: float) -> tuple[int, int, int]:
    b, g, r = (round(x * (1 - t) + y * t) for x, y in zip(c1, c2, strict=True))
    return b, g, r
