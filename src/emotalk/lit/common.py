"""What every emotalk LightningModule shares: the AVSpec in each checkpoint and the Adam of the paper."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from typing_extensions import override

from emotalk.spec import DEFAULT_SPEC, AVSpec


class EmotalkModule(L.LightningModule):
    """Stores the spec (and the network config) in every checkpoint under ``checkpoint["emotalk"]``.

    Inference refuses a checkpoint whose spec differs from the one it runs with (nanoGPT's model_args check).
    """

    stage: str = "base"

    def __init__(self, spec: AVSpec | dict[str, Any] | None = None) -> None:
        super().__init__()
        self.spec = spec if isinstance(spec, AVSpec) else AVSpec.from_dict(dict(spec or {})) if spec else DEFAULT_SPEC

    def net_config(self) -> dict[str, Any]:
        return {}

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["emotalk"] = {"stage": self.stage, "spec": self.spec.to_dict(), "net": self.net_config()}
        # The generator's input mask (full | lower_half) is a data setting; inference must mask the same way.
        # Optional: readers take "full" when it is absent.
        mask_mode = getattr(getattr(self._trainer, "datamodule", None), "mask_mode", None) if self._trainer else None
        if self.stage == "generator" and isinstance(mask_mode, str):
            checkpoint["emotalk"]["mask_mode"] = mask_mode


def adam(params: Any, lr: float, betas: tuple[float, float] | list[float]) -> torch.optim.Adam:
    return torch.optim.Adam([p for p in params if p.requires_grad], lr=lr, betas=tuple(betas))


def with_schedule(module: L.LightningModule, optimizer: torch.optim.Optimizer, schedule: str = "constant") -> Any:
    """The optimiser, or with ``schedule="cosine"`` the optimiser and a per-step cosine decay to 0 over the run.

    The paper keeps the learning rate constant; the cosine decay is ours: it settles the late, noisy epochs of
    short runs (the classifier's held-out accuracy jumps by ±10 points from epoch to epoch at a constant rate).
    """
    if schedule == "constant":
        return optimizer
    if schedule != "cosine":
        raise ValueError(f"unknown schedule {schedule!r} (constant | cosine)")
    total = max(1, int(module.trainer.estimated_stepping_batches))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
