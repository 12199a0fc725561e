"""Video emotion classifier: EmoGen's ``DISCEMO`` (reference-code.md §8.1).

Full-face frames [B, 3, T, 96, 96] → per frame 5 strided convs (LeakyReLU 0.3, no norm) → projector
4608→2048→512 → LSTM 512 over T → last step → 6 logits (class order `spec.EMOTIONS`). Used three ways: as the
generator's frozen emotion critic, updated on real clips only (an auxiliary classifier, not a GAN discriminator),
and, trained separately on the train actors, as the EmoAcc judge.

Reference quirk Q1: the reference folds (B, 3, T, H, W) into (B·T, 3, H, W) with a plain ``.view``, so each "image"
is 3 consecutive (channel, time) planes, not a colour frame. We permute to (B, T, 3, H, W) first by default;
``reference_layout=True`` keeps the reference's ``.view`` so published checkpoints score exactly as they did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from emotalk.models.blocks import scaled
from emotalk.spec import EMOTIONS

#: how per-window logits become one video prediction (EmoAcc, its gate and the training-time ClipAccuracy)
Aggregate = Literal["mean", "vote"]


class EmotionClassifier(nn.Module):
    """DISCEMO: ``forward(video [B, 3, T, 96, 96])`` → logits [B, 6]; any T ≥ 1.

    >>> import torch
    >>> EmotionClassifier(width=0.25)(torch.rand(2, 3, 4, 96, 96)).shape
    torch.Size([2, 6])
    """

    def __init__(self, width: float = 1.0, reference_layout: bool = False, img_size: int = 96) -> None:
        super().__init__()
        self.config = {"width": width, "reference_layout": reference_layout, "img_size": img_size}
        self.reference_layout = reference_layout
        filters = [scaled(n, width) for n in (64, 128, 256, 512, 512)]
        prev = 3
        for i, n in enumerate(filters):  # conv_1 … conv_5, the reference's attribute names
            setattr(self, f"conv_{i + 1}", nn.Sequential(nn.Conv2d(prev, n, 3, 2, 1), nn.LeakyReLU(0.3)))
            prev = n
        side = img_size
        for _ in filters:
            side = (side + 1) // 2  # k3 s2 p1: 96 → 48 → 24 → 12 → 6 → 3
        hidden = scaled(512, width)
        self.projector = nn.Sequential(
            nn.Linear(prev * side * side, scaled(2048, width)),  # 4608 → 2048 at width 1
            nn.LeakyReLU(0.3),
            nn.Linear(scaled(2048, width), hidden),
        )
        self.rnn_1 = nn.LSTM(hidden, hidden, 1, bidirectional=False, batch_first=True)
        self.cls = nn.Sequential(nn.Linear(hidden, len(EMOTIONS)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform on conv/linear weights, as the reference pre-training does (the LSTM keeps its default)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(m.weight)

    def fold(self, video: Tensor) -> Tensor:
        """[B, 3, T, H, W] → [B·T, 3, H, W] (item-major: rows b·T … b·T + T − 1 belong to item b)."""
        B, C, T, H, W = video.shape
        if self.reference_layout:
            # Q1, kept for published weights: each image = 3 consecutive planes of the (channel, time) grid.
            return video.contiguous().view(B * T, C, H, W)  # (B*T, 3, H, W), scrambled
        return video.transpose(1, 2).reshape(B * T, C, H, W)  # (B*T, 3, H, W), real colour frames

    def frame_features(self, video: Tensor) -> Tensor:
        """Per-frame projector outputs [B, T, 512·width], before the LSTM mixes the frames."""
        if video.dim() != 5 or video.shape[1] != 3:
            raise ValueError(f"video must be [B, 3, T, H, W], got {tuple(video.shape)}")
        B, T = video.shape[0], video.shape[2]
        x = self.fold(video)
        for i in range(1, 6):
            x = getattr(self, f"conv_{i}")(x)
        return self.projector(x.reshape(B, T, -1))  # (B, T, 512)

    def features(self, video: Tensor) -> Tensor:
        """The LSTM's last step [B, 512·width]: the clip embedding the head classifies."""
        h, _ = self.rnn_1(self.frame_features(video))
        return h[:, -1]

    def forward(self, video: Tensor) -> Tensor:
        return self.cls(self.features(video))


def video_prediction(logits: Tensor, how: Aggregate = "mean") -> int:
    """One class index from per-window logits [W, 6] (W ≥ 1)."""
    if len(logits) == 0:
        raise ValueError("no window to classify")
    mean = logits.mean(0)
    if how == "mean":
        return int(mean.argmax())
    if how != "vote":
        raise ValueError(f"how must be 'mean' or 'vote', got {how!r}")
    votes = torch.bincount(logits.argmax(1), minlength=logits.shape[1])
    top = (votes == votes.max()).nonzero().flatten()
    return int(top[mean[top].argmax()])


def accuracy(labels: Sequence[int], preds: Sequence[int]) -> float:
    """Fraction of equal pairs (NaN when empty)."""
    if len(labels) == 0:
        return float("nan")
    return float(np.mean(np.asarray(labels) == np.asarray(preds)))
