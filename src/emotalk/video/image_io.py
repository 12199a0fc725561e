"""Pictures written atomically (a temporary name in the same folder, then a rename): a killed run never leaves a
half-written PNG where a reader expects a whole one."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emotalk.fsutil import atomic_path


def write_image(path: Path | str, image_bgr: np.ndarray) -> Path:
    """Write a BGR uint8 image (format from the suffix, e.g. .png) to `path` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix, mkdir=True) as tmp:
        if not cv2.imwrite(str(tmp), image_bgr):
            raise OSError(f"could not write {path}")
    return path
