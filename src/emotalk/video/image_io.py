"""Pictures written atomically (a temporary name in the same folder, then a rename): a killed run never leaves a
half-written PNG where a reader expects a whole one."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np


def write_image(path: Path | str, image_bgr: np.ndarray) -> Path:
    """Write a BGR uint8 image (format from the suffix, e.g. .png) to `path` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    if not cv2.imwrite(str(tmp), image_bgr):
        raise OSError(f"could not write {path}")
    os.replace(tmp, path)
    return path
