"""`SyncNetModule`: trains the expert lip-sync discriminator (Wav2Lip's color_syncnet_train, EmoGen settings)."""

from __future__ import annotations

from typing import Any

import torch
from typing_extensions import override

from emotalk.data.batch import SyncBatch
from emotalk.lit.common import EmotalkModule, adam, with_schedule
from emotalk.models.stages import load_net
from emotalk.models.syncnet import SyncNet, cosine_loss, sync_probability


class SyncNetModule(EmotalkModule):
    """BCE(cos(audio, lower-half face), in-sync?) on in-sync / off-sync pairs.

    Args:
        width: channel multiplier (1.0 = paper, 16.4 M parameters).
        lr, betas: Adam; EmoGen uses 1e-4 with betas (0.5, 0.999) (Wav2Lip: (0.9, 0.999)).
        schedule: ``constant`` (the paper) or ``cosine`` (ours: decays to 0 over the run, for a fine-tuning phase).
        init_checkpoint: start from this expert's weights (same width) instead of random ones, so a second, slower
            phase can continue a finished run; the paper trains one phase from scratch.
    """

    stage = "syncnet"

    def __init__(
        self,
        width: float = 1.0,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        schedule: str = "constant",
        init_checkpoint: str | None = None,
        spec: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec)
        self.save_hyperparameters()
        self.net = SyncNet(width=width, T=self.spec.T)
        if init_checkpoint:
            start = load_net(init_checkpoint, "syncnet", "expert SyncNet to continue from", "syncnet")
            self.net.load_state_dict({k: v.float() for k, v in start.state_dict().items()})

    @override
    def net_config(self) -> dict[str, Any]:
        return {"width": self.hparams.width, "T": self.spec.T}

    def _step(self, batch: SyncBatch, stage: str) -> torch.Tensor:
        audio, face = self.net(batch.mel, batch.face)
        loss = cosine_loss(audio, face, batch.label)
        acc = ((sync_probability(audio, face) > 0.5).float() == batch.label).float().mean()
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=len(batch), sync_dist=stage != "train")
        self.log(f"{stage}/acc", acc, prog_bar=stage != "train", batch_size=len(batch), sync_dist=stage != "train")
        return loss

    @override
    def training_step(self, batch: SyncBatch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    @override
    def validation_step(self, batch: SyncBatch, batch_idx: int) -> None:
        self._step(batch, "val")

    @override
    def test_step(self, batch: SyncBatch, batch_idx: int) -> None:
        self._step(batch, "test")

    @override
    def configure_optimizers(self) -> Any:
        optimizer = adam(self.net.parameters(), self.hparams.lr, self.hparams.betas)
        return with_schedule(self, optimizer, self.hparams.schedule)
