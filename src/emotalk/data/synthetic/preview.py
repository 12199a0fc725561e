"""A picture of the six emotions across actors and levels (`emotion_grid`), to check the set by eye."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from emotalk.data.synthetic.actors import Pose, actor_params, expression
from emotalk.data.synthetic.face import face_box, render_face
from emotalk.data.synthetic.writer import actor_ids
from emotalk.errors import EmotalkError
from emotalk.fsutil import atomic_path
from emotalk.spec import EMOTIONS

log = logging.getLogger(__name__)


_LEVEL_CODE = {"low": "LO", "medium": "MD", "high": "HI", "unspecified": "XX"}


def emotion_grid(
    path: Path | str, actors: Sequence[str] | None = None, seed: int = 0, mouth_open: float = 0.25, cell: int = 200
) -> Path:
    """A PNG for people: the six emotions (columns) of three actors (rows), then LO/MD/HI of angry and sad."""
    path = Path(path)
    actors = list(actors) if actors is not None else actor_ids(3)
    rows: list[list[tuple[np.ndarray, str]]] = []

    def face(actor: str, emotion: str, level: str) -> np.ndarray:
        p = actor_params(actor, seed)
        img = render_face(p, expression(emotion, level), mouth_open, Pose())
        x1, y1, x2, y2 = face_box(p, Pose())
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - 0.12 * (y2 - y1)
        half = 0.8 * (y2 - y1)
        crop = img[max(0, int(cy - half)) : int(cy + half), max(0, int(cx - half)) : int(cx + half)]
        return cv2.resize(crop, (cell, cell), interpolation=cv2.INTER_AREA)

    for actor in actors:
        rows.append([(face(actor, e, "unspecified"), f"{actor} {e}") for e in EMOTIONS])
    graded = ("low", "medium", "high")
    for actor, pair in ((actors[0], ("angry", "sad")), (actors[-1], ("happy", "fearful"))):
        rows.append([(face(actor, e, lv), f"{actor} {e} {_LEVEL_CODE[lv]}") for e in pair for lv in graded])
    label_h = 22
    grid = np.full((len(rows) * (cell + label_h), 6 * cell, 3), 255, np.uint8)
    for r_i, row in enumerate(rows):
        for c_i, (img, text) in enumerate(row):
            y = r_i * (cell + label_h)
            grid[y + label_h : y + label_h + cell, c_i * cell : (c_i + 1) * cell] = img
            cv2.putText(
                grid, text, (c_i * cell + 6, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), grid):
            raise EmotalkError(f"could not write {path}")
    return path
