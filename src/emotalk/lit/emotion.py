"""`EmotionModule`: pre-trains the video emotion classifier (EmoGen's emotion_disc_train) on real clips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix
from typing_extensions import override

from emotalk.data.batch import ClipBatch
from emotalk.lit.common import EmotalkModule, adam, with_schedule
from emotalk.lit.metrics import ClipAccuracy
from emotalk.models.emotion import EmotionClassifier
from emotalk.spec import EMOTIONS


class EmotionModule(EmotalkModule):
    """Cross-entropy on T-frame full-face clips; validation/test accuracy on held-out actors.

    The reference hard-codes lr 1e-6 and trains for up to 10,000 epochs with no validation; we default to 1e-4
    (same betas) and select by held-out accuracy. Accuracy is logged per window (``acc``) and per clip
    (``clip_acc``: mean logits over the clip's windows, the rule of EmoAcc and of its 90 % gate). The test stage
    writes a confusion-matrix PNG of the windows.

    Args:
        reference_layout: the reference's channel/time scrambling (Q1); False (correct layout) by default.
        schedule: ``constant`` (the paper) or ``cosine`` decay over the run.
    """

    stage = "emotion_classifier"

    def __init__(
        self,
        width: float = 1.0,
        reference_layout: bool = False,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        schedule: str = "constant",
        spec: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec)
        self.save_hyperparameters()
        self.net = EmotionClassifier(width=width, reference_layout=reference_layout, img_size=self.spec.img_size)
        n = len(EMOTIONS)
        self.val_acc = MulticlassAccuracy(num_classes=n, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=n, average="micro")
        self.val_clip_acc, self.test_clip_acc = ClipAccuracy(), ClipAccuracy()
        self.test_confusion = MulticlassConfusionMatrix(num_classes=n)

    @override
    def net_config(self) -> dict[str, Any]:
        return dict(self.net.config)

    @override
    def training_step(self, batch: ClipBatch, batch_idx: int) -> torch.Tensor:
        logits = self.net(batch.frames)
        loss = F.cross_entropy(logits, batch.emotion)
        acc = (logits.argmax(1) == batch.emotion).float().mean()
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch))
        self.log("train/acc", acc, batch_size=len(batch))
        return loss

    @override
    def validation_step(self, batch: ClipBatch, batch_idx: int) -> None:
        logits = self.net(batch.frames)
        self.val_acc(logits, batch.emotion)
        self.log("val/loss", F.cross_entropy(logits, batch.emotion), batch_size=len(batch), sync_dist=True)
        self.log("val/acc", self.val_acc, prog_bar=True, batch_size=len(batch))
        if batch.clip is not None:
            self.val_clip_acc.update(logits, batch.emotion, batch.clip)
            self.log("val/clip_acc", self.val_clip_acc, batch_size=len(batch))

    @override
    def test_step(self, batch: ClipBatch, batch_idx: int) -> None:
        logits = self.net(batch.frames)
        self.test_acc(logits, batch.emotion)
        self.test_confusion(logits, batch.emotion)
        self.log("test/acc", self.test_acc, batch_size=len(batch))
        if batch.clip is not None:
            self.test_clip_acc.update(logits, batch.emotion, batch.clip)
            self.log("test/clip_acc", self.test_clip_acc, batch_size=len(batch))

    @override
    def on_test_epoch_end(self) -> None:
        cm = self.test_confusion.compute().cpu().numpy()
        self.test_confusion.reset()
        log_dir = self.trainer.log_dir or self.trainer.default_root_dir  # on every rank: log_dir broadcasts
        if self.trainer.is_global_zero:
            from emotalk.plots import save_confusion_matrix

            save_confusion_matrix(cm, EMOTIONS, Path(log_dir) / "confusion_matrix.png")

    @override
    def configure_optimizers(self) -> Any:
        optimizer = adam(self.net.parameters(), self.hparams.lr, self.hparams.betas)
        return with_schedule(self, optimizer, self.hparams.schedule)
