"""Training throughput: samples/s and the share of each step spent waiting for data.

A step is split at Lightning's hooks: *data* runs from the end of one training batch to the start of the next (the
DataLoader's `next()`, collate and the host-to-device copy), *compute* from batch start to batch end (forward,
backward, optimiser steps). Add it with `+callbacks.step_timer._target_=emotalk.lit.timing.StepTimer`; it logs
`perf/samples_per_s` and `perf/data_share` and, given `out`, writes its summary as JSON when fitting ends.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np


class StepTimer(L.Callback):
    """Times training steps after `skip` warm-up steps (first batches pay worker start-up and allocator growth)."""

    def __init__(self, skip: int = 2, out: str | Path | None = None) -> None:
        self.skip = skip
        self.out = Path(out) if out else None
        self.data_s: list[float] = []
        self.compute_s: list[float] = []
        self.samples: list[int] = []
        self._end: float | None = None
        self._start = 0.0
        self._seen = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._end = time.perf_counter()  # the first fetch of an epoch counts as data time

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._start = time.perf_counter()
        self._data = self._start - self._end if self._end is not None else 0.0

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._end = time.perf_counter()
        self._seen += 1
        if self._seen <= self.skip:
            return
        self.data_s.append(self._data)
        self.compute_s.append(self._end - self._start)
        self.samples.append(len(batch))
        s = self.summary()
        pl_module.log_dict({"perf/samples_per_s": s["samples_per_s"], "perf/data_share": s["data_share"]})

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {"steps": 0, "samples_per_s": float("nan"), "data_share": float("nan")}
        data, compute = float(np.sum(self.data_s)), float(np.sum(self.compute_s))
        return {
            "steps": len(self.samples),
            "batch_size": float(np.median(self.samples)),
            "samples_per_s": float(np.sum(self.samples)) / (data + compute),
            "step_s": (data + compute) / len(self.samples),
            "compute_s": compute / len(self.samples),
            "data_s": data / len(self.samples),
            "data_share": data / (data + compute),
        }

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.out and trainer.is_global_zero:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.out.write_text(json.dumps(self.summary(), indent=2))
