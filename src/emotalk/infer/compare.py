"""Before/after picture of a dub: evenly spaced frames of the input over the same frames of the output."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emotalk.video.decode import read_frames
from emotalk.video.image_io import write_image


def before_after(before: Path | str, after: Path | str, out: Path | str, n: int = 6, width: int = 200) -> Path:
    """Write a PNG: `n` frames of `before` (top row) and the same frame numbers of `after` (bottom row).

    The output may be longer than the input (audio longer: last frame repeated) or shorter (trimmed); frames are
    picked over the shorter of the two, so each column shows one moment in both.
    """
    import cv2

    a, b = read_frames(before), read_frames(after)
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"no frames in {before if len(a) == 0 else after}")
    idx = np.linspace(0, min(len(a), len(b)) - 1, n).round().astype(int)

    def row(frames: np.ndarray, label: str) -> np.ndarray:
        h = round(frames.shape[1] * width / frames.shape[2])
        tiles = [cv2.resize(frames[i], (width, h), interpolation=cv2.INTER_AREA) for i in idx]
        strip = np.concatenate(tiles, axis=1)
        bar = np.full((22, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        return np.concatenate([bar, strip], axis=0)

    img = np.concatenate([row(a, f"before: {Path(before).name}"), row(b, f"after: {Path(after).name}")], axis=0)
    return write_image(out, img)
