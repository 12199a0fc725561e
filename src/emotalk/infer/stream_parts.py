"""The pieces the streaming engine (stream.py) is built from: a frame in flight, one segment's stats (kept for a
resume), the per-stage timer and the generator's batch-size tuner."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class FrameItem:
    """One output frame on its way through the pipeline."""

    index: int
    frame: np.ndarray  # BGR uint8 [H, W, 3], read-only (shared when the last frame repeats)
    box: np.ndarray | None = None  # padded crop box (ints as float32), None without a face
    crop: np.ndarray | None = None  # 96x96 input crop, only when the frame is generated
    mel: np.ndarray | None = None
    emotion: np.ndarray | None = None
    reason: str | None = None  # why it passes through (NO_FACE, SILENCE), None when generated
    face: np.ndarray | None = None  # the generated 96x96 face
    alpha: float = 1.0  # the generated face's weight (< 1 on a fade at the edge of a dubbed stretch)


@dataclass
class SegmentStats:
    """What one segment holds; saved in the work folder's state so a resumed run reports the whole video."""

    index: int
    frames: int = 0
    generated: int = 0
    with_face: int = 0
    passed: dict[str, int] = field(default_factory=dict)
    runs: list[list[Any]] = field(default_factory=list)  # [first, last, reason] of passed-through runs

    def add(self, item: FrameItem) -> None:
        self.frames += 1
        if item.box is not None:
            self.with_face += 1
        if item.reason is None:
            self.generated += 1
            return
        self.passed[item.reason] = self.passed.get(item.reason, 0) + 1
        if self.runs and self.runs[-1][2] == item.reason and self.runs[-1][1] == item.index - 1:
            self.runs[-1][1] = item.index
        else:
            self.runs.append([item.index, item.index, item.reason])

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "frames": self.frames,
            "generated": self.generated,
            "with_face": self.with_face,
            "passed": dict(self.passed),
            "runs": [list(r) for r in self.runs],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentStats:
        return cls(
            d["index"], d["frames"], d["generated"], d["with_face"], dict(d["passed"]), [list(r) for r in d["runs"]]
        )


class Timer:
    """Wall seconds and CPU seconds (of the calling thread) per stage, summed over calls (thread-safe).

    CPU time is what a stage costs whatever else runs on the machine; ffmpeg's decoding and x264's encoding run
    in their own processes and show up only as the time spent waiting on their pipes.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float, cpu: float = 0.0) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
            if cpu:
                self.cpu[stage] = self.cpu.get(stage, 0.0) + cpu

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0, time.thread_time() - c0)


# ---------------------------------------------------------------------------------------------------- batch size


class BatchTuner:
    """Pick the generator's batch size by timing real batches: each candidate runs twice (the first call of a
    shape builds oneDNN kernels), the fastest per frame wins and is kept for later runs of the same model."""

    def __init__(self, candidates: tuple[int, ...], fixed: int | None = None) -> None:
        self.candidates = candidates
        self.fixed = fixed
        self.trials: dict[int, list[float]] = {}
        self.chosen: int | None = fixed

    def next_size(self) -> int:
        if self.chosen is not None:
            return self.chosen
        for c in self.candidates:
            if len(self.trials.get(c, [])) < 2:
                return c
        self.chosen = min(self.candidates, key=lambda c: self.trials[c][-1])
        log.debug(
            "generator batch size %d chosen (ms/frame: %s)",
            self.chosen, ", ".join(f"{c}: {self.trials[c][-1] * 1000:.0f}" for c in self.candidates),
        )  # fmt: skip
        return self.chosen

    def record(self, size: int, n: int, seconds: float) -> None:
        if self.chosen is None and n == size and size in self.candidates:
            self.trials.setdefault(size, []).append(seconds / n)
