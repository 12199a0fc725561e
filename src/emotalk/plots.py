"""Pictures people would rather look at than read: sample grids and confusion matrices (written atomically)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from emotalk.fsutil import write_atomic
from emotalk.video.image_io import write_image


def save_figure(fig, path: Path | str) -> Path:
    """Write a matplotlib figure as PNG atomically (a temporary name, then a rename) and close it."""
    import matplotlib.pyplot as plt

    try:
        return write_atomic(path, fig.savefig, suffix=".png", mkdir=True)
    finally:
        plt.close(fig)


def sample_grid(columns: Sequence[torch.Tensor], labels: Sequence[str], row_titles: Sequence[str]) -> np.ndarray:
    """One row per item, one column per tensor [B, 3, T, H, W] (BGR [0, 1]); the middle frame of each clip.

    Returns a uint8 BGR image with the column labels on top and a title at the left of each row.
    """
    B = columns[0].shape[0]
    t = columns[0].shape[2] // 2
    tiles = [(c[:, :, t].detach().float().clamp(0, 1).cpu().numpy() * 255).astype(np.uint8) for c in columns]
    H, W = tiles[0].shape[2:]
    head, side = 22, 90
    img = np.full((head + B * H, side + len(columns) * W, 3), 255, np.uint8)
    for j, lab in enumerate(labels):
        cv2.putText(img, lab, (side + j * W + 3, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    for i in range(B):
        cv2.putText(
            img, row_titles[i], (3, head + i * H + H // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA
        )
        for j, tile in enumerate(tiles):
            img[head + i * H : head + (i + 1) * H, side + j * W : side + (j + 1) * W] = tile[i].transpose(1, 2, 0)
    return img


def save_sample_grid(
    path: Path, columns: Sequence[torch.Tensor], labels: Sequence[str], row_titles: Sequence[str]
) -> Path:
    return write_image(Path(path), sample_grid(columns, labels, row_titles))


def save_confusion_matrix(cm: np.ndarray, classes: Sequence[str], path: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (rows: true class, columns: predicted) with counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.8), dpi=120)
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(title or f"accuracy {acc:.1%} (n={int(cm.sum())})")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                int(cm[i, j]),
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=8,
            )
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return save_figure(fig, path)
