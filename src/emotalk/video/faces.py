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


# ---------------------------------------------------------------------------------------------------- face mesh

#: mediapipe face-mesh landmark indices used by `MeshGeometry` (canonical 468-point topology).
_CHEEK_R, _CHEEK_L, _FOREHEAD, _CHIN, _NOSE = 234, 454, 10, 152, 1
_EYE_R, _EYE_L, _LIP_TOP, _LIP_BOTTOM = 33, 263, 0, 17
#: width/height (cheek to cheek over forehead to chin) of a frontal face in the mesh; 0.79-0.84 on the real
#: clips of shared/media. A face turned by θ narrows to about cos θ of it, which the mesh's depth misses when a
#: frame is squeezed or a drawing is flat.
FRONTAL_ASPECT = 0.82


@dataclass(frozen=True)
class MeshGeometry:
    """What the face mesh says about one face: is it a plausible face, how is it turned, how open is the mouth.

    yaw/pitch are degrees (0 = frontal): yaw is the larger of the mesh's depth estimate (cheek to cheek) and the
    turn implied by a face narrower than `FRONTAL_ASPECT`; pitch likewise from forehead to chin. `mouth` is the
    outer lip height over the face height (about 0.02 closed, 0.1-0.2 wide open), the speaker cue.
    """

    plausible: bool
    yaw: float
    pitch: float
    mouth: float
    overlap: float  # share of the mesh's box inside the detection's box
    roll: float = 0.0  # degrees the eye line is tilted from horizontal (±180: upside down)


def mesh_geometry(points: np.ndarray, box: np.ndarray) -> MeshGeometry:
    """`MeshGeometry` of mesh landmarks `points` [468, 3] (pixels; z in x's scale) for the detection `box`."""
    p = np.asarray(points, np.float64)
    right, left, top, chin = p[_CHEEK_R], p[_CHEEK_L], p[_FOREHEAD], p[_CHIN]
    width = float(np.linalg.norm((left - right)[:2]))
    height = float(np.linalg.norm((chin - top)[:2]))
    if width < 1e-6 or height < 1e-6:
        return MeshGeometry(False, 90.0, 90.0, 0.0, 0.0)
    aspect = width / height
    yaw_depth = np.degrees(np.arctan2(left[2] - right[2], left[0] - right[0]))
    pitch_depth = np.degrees(np.arctan2(chin[2] - top[2], chin[1] - top[1]))
    yaw_shape = np.degrees(np.arccos(min(1.0, aspect / FRONTAL_ASPECT)))
    pitch_shape = np.degrees(np.arccos(min(1.0, FRONTAL_ASPECT / aspect)))
    yaw = max(abs(yaw_depth), yaw_shape)
    pitch = max(abs(pitch_depth), pitch_shape)
    # plausibility: eyes above the nose above the lips above the chin along the face's own up axis, the nose
    # between the eyes, and the mesh where the detector put the face
    up = (top - chin)[:2] / height
    along = [float(p[i, :2] @ up) for i in (_EYE_R, _NOSE, _LIP_TOP, _LIP_BOTTOM, _CHIN)]
    eyes = (p[_EYE_R, :2] @ up + p[_EYE_L, :2] @ up) / 2
    ordered = eyes > along[1] > along[2] > along[3] > along[4]
    side = np.array([up[1], -up[0]])
    er, el, nose = (float(p[i, :2] @ side) for i in (_EYE_R, _EYE_L, _NOSE))
    between = min(er, el) - 0.1 * abs(el - er) <= nose <= max(er, el) + 0.1 * abs(el - er)
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    mx1, my1 = p[:, 0].min(), p[:, 1].min()
    mx2, my2 = p[:, 0].max(), p[:, 1].max()
    inter = max(0.0, min(x2, mx2) - max(x1, mx1)) * max(0.0, min(y2, my2) - max(y1, my1))
    overlap = inter / max((mx2 - mx1) * (my2 - my1), 1e-6)
    mouth = float(np.linalg.norm((p[_LIP_BOTTOM] - p[_LIP_TOP])[:2])) / height
    plausible = bool(ordered and between and overlap >= 0.5 and 0.4 <= aspect <= 1.4)
    roll = float(np.degrees(np.arctan2(-up[0], -up[1])))  # 0 when the face's up is the image's up (-y)
    return MeshGeometry(plausible, float(yaw), float(pitch), mouth, float(overlap), roll)


class FaceMesh:
    """mediapipe's face mesh run on a square crop around one detection (not the whole frame: a 192 px crop
    costs the same whatever the frame size, and the mesh then describes that detection, not another face).

    Static-image mode: each call is independent, so a resumed or repeated analysis gives the same answer.
    """

    def __init__(self, crop_size: int = 192, grow: float = 0.25) -> None:
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=False, min_detection_confidence=0.5
        )
        self.crop_size = crop_size
        self.grow = grow

    def landmarks(self, frame_bgr: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """[468, 3] landmarks in frame pixels (z in the same scale) of the face in `box`, or None."""
        x1, y1, x2, y2 = (float(v) for v in box[:4])
        side = max(x2 - x1, y2 - y1) * (1 + 2 * self.grow)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        ox, oy = round(cx - side / 2), round(cy - side / 2)
        s = max(4, round(side))
        h, w = frame_bgr.shape[:2]
        patch = np.zeros((s, s, 3), np.uint8)  # black outside the frame: a face cut by the edge stays where it is
        sx1, sy1, sx2, sy2 = max(0, ox), max(0, oy), min(w, ox + s), min(h, oy + s)
        if sx2 <= sx1 or sy2 <= sy1:
            return None
        patch[sy1 - oy : sy2 - oy, sx1 - ox : sx2 - ox] = frame_bgr[sy1:sy2, sx1:sx2]
        interp = cv2.INTER_AREA if s > self.crop_size else cv2.INTER_LINEAR
        crop = cv2.resize(patch, (self.crop_size, self.crop_size), interpolation=interp)
        res = self._mesh.process(np.ascontiguousarray(crop[:, :, ::-1]))
        if not res.multi_face_landmarks:
            return None
        lm = res.multi_face_landmarks[0].landmark
        pts = np.array([[p.x, p.y, p.z] for p in lm], np.float64) * s
        pts[:, 0] += ox
        pts[:, 1] += oy
        return pts

    def geometry(self, frame_bgr: np.ndarray, box: np.ndarray) -> MeshGeometry | None:
        pts = self.landmarks(frame_bgr, box)
        return None if pts is None else mesh_geometry(pts, box)

    def close(self) -> None:
        self._mesh.close()
