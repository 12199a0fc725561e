"""Data loading speed: generator batches per second with and without the paper's augmentation, 0 and 2 workers.

The data set is a temporary preprocessed folder of face-sized textured clips (the datamodule's work does not
depend on what the pixels show); the target is what keeps a GPU generator step (batch 16) fed on 2 cores.
"""

from __future__ import annotations

import logging
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from emotalk.cremad import format_name
from emotalk.data.augment import FrameAugment
from emotalk.data.clips import ClipMeta, write_clip, write_manifest
from emotalk.data.datamodule import TalkingFaceDataModule
from emotalk.spec import EMOTIONS

TARGET_SAMPLES_PER_S = 200


def make_dataset(root: Path, n_actors: int = 4, n_frames: int = 75, seed: int = 0) -> list[ClipMeta]:
    """n_actors x 6 emotions clips of n_frames smooth textured 96x96 frames with a small drift."""
    rng = np.random.default_rng(seed)
    metas = []
    for a in range(n_actors):
        actor = str(1001 + a)
        for emotion in EMOTIONS:
            base = cv2.GaussianBlur(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8), (0, 0), 3)
            faces = np.stack([base[i % 40 : i % 40 + 96, 20 : 20 + 96] for i in range(n_frames)])
            mel = rng.uniform(-4, 4, (80, 1 + n_frames * 640 // 200)).astype(np.float32)
            clip_id = format_name(actor, "DFA", emotion)
            meta = ClipMeta(clip_id, "crema_d", actor, "bench", n_frames, 0, emotion=emotion, level="unspecified")
            write_clip(
                root, meta, faces, np.ones(n_frames, bool), np.zeros((n_frames, 4)), mel, lambda p: p.write_bytes(b"")
            )
            metas.append(meta)
    write_manifest(root, metas)
    return metas


def loader_throughput(root: Path, augment: bool, workers: int, n_batches: int, batch_size: int = 16) -> float:
    """Generator samples/s through the train DataLoader (collate included), after the first batch."""
    dm = TalkingFaceDataModule(
        root,
        batch_size=batch_size,
        num_workers=workers,
        augment=FrameAugment() if augment else None,
        samples_per_epoch=batch_size * (n_batches + 1),
        split={"test_actors": [], "val_actors": []},
    )
    dm.setup()
    it = iter(dm.train_dataloader())
    next(it)  # worker start-up and first maps
    t0 = time.perf_counter()
    n = sum(len(b) for b in it)
    return n / (time.perf_counter() - t0)


def item_latency_ms(root: Path, n: int) -> tuple[float, float]:
    """Mean and p95 of one generator item (paper augmentation, no workers, no collate)."""
    dm = TalkingFaceDataModule(root, augment=FrameAugment(), split={"test_actors": [], "val_actors": []})
    dm.setup()
    ds = dm.datasets["train"]
    ds[0]
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        ds[i]
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.mean(times)), float(np.percentile(times, 95))


def _max_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def run(quick: bool = False) -> list[dict]:
    n_batches = 10 if quick else 40
    baseline = _max_rss_mb(resource.RUSAGE_SELF)  # torch, lightning, albumentations, OpenCV imported
    rows: list[dict] = []
    data_log = logging.getLogger("emotalk.data")
    level = data_log.level
    data_log.setLevel(logging.ERROR)  # the benchmark set has no val/test actors on purpose: no split warnings
    try:
        _measure(rows, quick, n_batches)
    finally:
        data_log.setLevel(level)
    rows.append({"name": "peak RSS, main process, before the benchmark", "value": baseline, "unit": "MB"})
    rows.append({"name": "peak RSS, main process", "value": _max_rss_mb(resource.RUSAGE_SELF), "unit": "MB"})
    rows.append({"name": "peak RSS, largest worker", "value": _max_rss_mb(resource.RUSAGE_CHILDREN), "unit": "MB"})
    return rows


def _measure(rows: list[dict], quick: bool, n_batches: int) -> None:
    with tempfile.TemporaryDirectory(prefix="emotalk-bench-data-") as tmp:
        root = Path(tmp)
        make_dataset(root, n_actors=2 if quick else 4)
        for augment in (True, False):
            for workers in (2, 0):
                rate = loader_throughput(root, augment, workers, n_batches)
                rows.append(
                    {
                        "name": f"generator samples/s, augment {'paper' if augment else 'none'}, {workers} workers",
                        "value": rate,
                        "unit": "samples/s",
                        "target": f">= {TARGET_SAMPLES_PER_S}" if augment and workers == 2 else "",
                    }
                )
        mean, p95 = item_latency_ms(root, 50 if quick else 300)
        rows.append({"name": "generator item latency (paper aug, no workers), mean", "value": mean, "unit": "ms"})
        rows.append({"name": "generator item latency (paper aug, no workers), p95", "value": p95, "unit": "ms"})


if __name__ == "__main__":
    for r in run(quick=True):
        print(r)
