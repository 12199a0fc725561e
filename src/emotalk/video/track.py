"""The one face tracker: detections → gap filling → centred smoothing (→ padded 96x96 crop), streaming.

Preprocessing, inference and evaluation all cut faces with these boxes, so the crops a model is trained on are the
crops it is run and scored on. `BoxTrack` streams the boxes in bounded memory and gives exactly what
`smooth_boxes(fill_gaps(all_boxes))` gives; `FaceTrack` adds the crop of each frame. A shot cut starts a new track
(inference's `infer.gating` smooths each shot's run on its own), so no box is averaged across a cut.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np

from emotalk.spec import DEFAULT_SPEC, AVSpec
from emotalk.video.crop import crop_face, pad_box
from emotalk.video.faces import smooth_boxes


def fill_gaps(boxes: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate runs of at most `max_gap` NaN rows that have a detection on both sides.

    Returns:
        (filled [N, 4] float64, was_filled [N] bool). Runs at the start or end of the clip, and longer runs,
        stay NaN.
    """
    boxes = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
    filled = np.zeros(len(boxes), dtype=bool)
    if max_gap <= 0 or len(boxes) < 3:
        return boxes, filled
    missing = np.isnan(boxes).any(axis=1)
    i, n = 0, len(boxes)
    while i < n:
        if not missing[i]:
            i += 1
            continue
        j = i
        while j < n and missing[j]:
            j += 1
        # run [i, j): bounded by detections at i-1 and j?
        if i > 0 and j < n and j - i <= max_gap:
            a, b = boxes[i - 1], boxes[j]
            for k in range(i, j):
                t = (k - i + 1) / (j - i + 1)
                boxes[k] = (1 - t) * a + t * b
            filled[i:j] = True
        i = j
    return boxes, filled


class TrackedBox(NamedTuple):
    """A finished frame of a `BoxTrack`."""

    index: int
    box: np.ndarray  # smoothed, unpadded x1, y1, x2, y2 (float32; NaN: no face)
    filled: bool  # the frame's box was interpolated over a missed detection


class BoxTrack:
    """Streaming `smooth_boxes(fill_gaps(raw boxes))`: push one raw box per frame, get finished frames back.

    The smoothed box of frame j depends on the gap-filled boxes j-h..j+h (h = box_smoothing // 2), each of which
    depends on detections up to `max_gap + 1` frames away. So frame j is final once frame j + h + g + 1 has been
    pushed (g = max_gap), and only that many raw boxes are kept, whatever the video's length. `first` is the index
    of the first pushed frame (a resumed stream starts a little before the frame it needs).
    """

    def __init__(self, spec: AVSpec = DEFAULT_SPEC, max_gap: int = 2, first: int = 0) -> None:
        self.window = spec.box_smoothing
        self.h = max(spec.box_smoothing, 1) // 2
        self.g = max(max_gap, 0)
        self.reach = self.h + self.g + 1
        self.lookahead = self.h + (self.g + 1 if self.g else 0)
        self.first = first  # index of the first pushed frame
        self.raw: deque[np.ndarray] = deque()
        self.base = first  # index of raw[0]
        self.n_pushed = 0
        self.n_detected = 0
        self.next_out = first

    def push(self, box: np.ndarray | None) -> list[TrackedBox]:
        """Add frame `first + n_pushed`'s detection (None: no face); returns the frames this finishes."""
        self.raw.append(np.full(4, np.nan) if box is None else np.asarray(box, np.float64)[:4])
        self.n_pushed += 1
        self.n_detected += box is not None
        return self._emit_until(self.first + self.n_pushed - 1 - self.lookahead)

    def finish(self) -> list[TrackedBox]:
        """The frames still waiting for detections that will not come (the end of the stream)."""
        return self._emit_until(self.first + self.n_pushed - 1)

    def _emit_until(self, last: int) -> list[TrackedBox]:
        out = []
        while self.next_out <= last:
            out.append(self._smoothed(self.next_out))
            self.next_out += 1
        return out

    def _smoothed(self, j: int) -> TrackedBox:
        lo = max(self.first, j - self.reach)
        hi = min(self.first + self.n_pushed, j + self.reach + 1)
        rows = np.stack([self.raw[k - self.base] for k in range(lo, hi)])
        filled, was_filled = fill_gaps(rows, self.g)
        box = smooth_boxes(filled, self.window)[j - lo]
        while self.base < j - self.reach:  # nothing before j - reach is needed again
            self.raw.popleft()
            self.base += 1
        return TrackedBox(j, box, bool(was_filled[j - lo]))


class FaceTrack:
    """Turns a stream of (frame, detected box or None) into 96x96 crops, holding only `lookahead + 1` frames.

    A frame whose smoothed box is missing (or falls outside the frame) keeps its index with a zero crop, a NaN box
    and `has_face` False; nothing is renumbered.
    """

    def __init__(self, spec: AVSpec = DEFAULT_SPEC, max_gap: int = 2) -> None:
        self.spec = spec
        self._boxes = BoxTrack(spec, max_gap)
        self.lookahead = self._boxes.lookahead
        self._pending: deque[np.ndarray] = deque()
        size = spec.img_size
        self._blank = np.zeros((size, size, 3), np.uint8)
        self.faces: list[np.ndarray] = []
        self.boxes: list[np.ndarray] = []  # padded crop boxes in the frames' pixels (NaN: no face)
        self.has_face: list[bool] = []
        self.filled: list[int] = []  # frame indices whose box was interpolated

    def push(self, frame: np.ndarray, box: np.ndarray | None) -> None:
        self._pending.append(frame)
        for done in self._boxes.push(box):
            self._finalize(self._pending.popleft(), done)

    def finish(self) -> FaceTrack:
        for done in self._boxes.finish():
            self._finalize(self._pending.popleft(), done)
        return self

    def _finalize(self, frame: np.ndarray, done: TrackedBox) -> None:
        crop = None
        if not np.isnan(done.box).any():
            padded = pad_box(done.box, frame.shape[:2], self.spec)
            try:
                crop = crop_face(frame, padded, self.spec.img_size)
            except ValueError:  # box outside the frame after clipping
                crop = None
        if crop is None:
            self.faces.append(self._blank)
            self.boxes.append(np.full(4, np.nan, np.float32))
            self.has_face.append(False)
        else:
            self.faces.append(crop)
            self.boxes.append(padded)
            self.has_face.append(True)
            if done.filled:
                self.filled.append(done.index)

    @property
    def n_detected(self) -> int:
        return self._boxes.n_detected
