"""Which of a frame's faces to dub (``--face``): the N-th largest, the one at a position, or the speaker."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from emotalk.errors import ConfigError
from emotalk.video.faces import Box

POSITIONS = ("largest", "left", "right", "top", "bottom", "center")


class FaceSelector:
    """Which of a frame's faces to dub: the N-th largest (1 = largest), the one at a position, or ``auto``.

    Positions: left/right/top/bottom (the face whose centre is furthest that way), center (nearest the frame's
    centre). A frame with fewer than N faces counts as a frame without a face. ``auto``: the speaking face, chosen
    per shot by `infer.gating` (it picks like ``largest`` per frame here).
    """

    def __init__(self, face: int | str | None = None) -> None:
        self.auto = isinstance(face, str) and face.strip().lower() == "auto"
        if face is None or face == "largest" or self.auto:
            self.rank, self.position = 1, None
        elif isinstance(face, int) or (isinstance(face, str) and face.strip().isdigit()):
            self.rank, self.position = int(face), None
            if self.rank < 1:
                raise ConfigError(f"--face {face}: face numbers start at 1 (the largest face)")
        elif isinstance(face, str) and face.strip().lower() in POSITIONS:
            self.rank, self.position = 1, face.strip().lower()
        else:
            raise ConfigError(f"--face {face!r}: use auto (the speaking face), a number (1 = largest face, 2 = second "
                              f"largest, …) or one of {', '.join(POSITIONS)}")  # fmt: skip

    def describe(self) -> str:
        return "auto" if self.auto else (self.position or ("largest" if self.rank == 1 else str(self.rank)))

    def pick(self, faces: list[Box], frame_hw: tuple[int, int]) -> np.ndarray | None:
        """x1, y1, x2, y2 of the chosen face, or None. `faces` come largest first (FaceDetector)."""
        k = self.pick_index(faces, frame_hw)
        return None if k is None else faces[k].as_array()

    def pick_index(self, faces: list[Box], frame_hw: tuple[int, int]) -> int | None:
        """Index in `faces` (largest first) of the chosen face, or None."""
        if not faces:
            return None
        if self.position is None:
            return self.rank - 1 if len(faces) >= self.rank else None
        h, w = frame_hw
        key: dict[str, Callable[[Box], float]] = {
            "left": lambda b: b.center[0],
            "right": lambda b: -b.center[0],
            "top": lambda b: b.center[1],
            "bottom": lambda b: -b.center[1],
            "center": lambda b: (b.center[0] - w / 2) ** 2 + (b.center[1] - h / 2) ** 2,
        }
        return min(range(len(faces)), key=lambda k: key[self.position](faces[k]))  # type: ignore[index]
