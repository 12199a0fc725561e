"""`ClipAccuracy`: accuracy per clip (video), the unit EmoAcc and its 90 % gate score, during training.

Window accuracy scores each 5-frame window alone; EmoAcc (evaluate/emotion_acc.py) predicts one emotion per video
from the mean logits of its windows (`models.emotion.video_prediction`, shared by both). Logging both lets the
classifier's training run report the number that decides whether `emotalk evaluate` accepts it as a judge.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat
from typing_extensions import override

from emotalk.models.emotion import accuracy, video_prediction


class ClipAccuracy(Metric):
    """Accuracy of per-clip predictions: argmax of the mean window logits of each clip (the EmoAcc rule).

    States are concatenated across DDP ranks, so a clip whose windows land on different ranks is still one clip.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self) -> None:
        super().__init__()
        self.add_state("logits", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")
        self.add_state("clips", default=[], dist_reduce_fx="cat")

    @override
    def update(self, logits: Tensor, labels: Tensor, clips: Tensor) -> None:
        """logits [B, C] of B windows; labels [B] and clips [B] (the clip index of each window)."""
        self.logits.append(logits.detach().float())
        self.labels.append(labels.detach().long())
        self.clips.append(clips.detach().long())

    @override
    def compute(self) -> Tensor:
        if isinstance(self.logits, list) and not self.logits:
            return torch.tensor(float("nan"))
        logits, labels, clips = (dim_zero_cat(s) for s in (self.logits, self.labels, self.clips))
        truth, preds = [], []
        for c in clips.unique():
            sel = clips == c
            label = labels[sel][0]
            if bool((labels[sel] != label).any()):
                raise ValueError(f"clip {int(c)} has windows with different labels")
            truth.append(int(label))
            preds.append(video_prediction(logits[sel]))
        return torch.tensor(accuracy(truth, preds), dtype=torch.float32)
