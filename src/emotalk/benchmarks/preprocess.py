"""Preprocessing throughput on real CREMA-D video (480x360 VP6 + MP3 .flv, 29.97 fps → 25 fps).

The six real clips of ../shared/media/crema-d are linked under several actor ids (a CREMA-D layout of
6·copies clips) and preprocessed end to end (probe, decode, audio, detect, crop, mel, write) with 2 workers.
Rows: end-to-end frames/s (pool start-up included), steady-state frames/s (from the first finished clip to the
last), start-up time, wall ms per frame of each stage (summed over the workers), the CPU time per frame of all
processes (parent, workers, ffmpeg; start-up included) and the rate it projects for idle cores (the 2 cores of a
shared development machine are rarely idle, so wall-clock numbers vary with the load), and the peak RSS of the
whole process tree, sampled every 50 ms.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from emotalk.benchmarks._meters import PeakRSS, cpu_seconds
from emotalk.cremad import EMOTION_CODES


def _media_dir() -> Path:
    shared = Path(os.environ.get("EMOTALK_SHARED", Path(__file__).resolve().parents[3].parent / "shared"))
    return shared / "media" / "crema-d" / "VideoFlash"


def make_dataset(root: Path, copies: int) -> int:
    """Link the real clips as actors 1001..1000+copies; returns the number of clips."""
    src = _media_dir()
    vdir = root / "VideoFlash"
    vdir.mkdir(parents=True, exist_ok=True)
    n = 0
    for a in range(copies):
        for code in EMOTION_CODES:
            f = src / f"1001_DFA_{code}_XX.flv"
            if f.is_file():
                (vdir / f"{1001 + a}_DFA_{code}_XX.flv").symlink_to(f)
                n += 1
    if n == 0:
        raise FileNotFoundError(f"real CREMA-D clips not found in {src} (set EMOTALK_SHARED)")
    return n


def run(quick: bool = False, workers: int = 2, copies: int | None = None) -> list[dict]:
    from emotalk.data.preprocess import STAGES, preprocess

    copies = copies or (2 if quick else 8)
    with tempfile.TemporaryDirectory(prefix="emotalk-bench-pre-") as tmp:
        root = Path(tmp)
        n_clips = make_dataset(root / "in", copies)
        stamps: list[tuple[float, int]] = []
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        with PeakRSS() as rss:
            report = preprocess(
                "crema_d",
                root / "in",
                root / "out",
                workers=workers,
                progress=False,
                on_result=lambda r: stamps.append((time.perf_counter(), r.n_frames)),
            )
    cpu_ms = 1000 * (cpu_seconds() - cpu0) / max(report.frames, 1)
    if report.failures:
        raise RuntimeError(f"benchmark clips failed: {report.failures[:3]}")
    peak = round(rss.peak_tree / 2**20, 1)
    label = f"480x360, {workers} workers, {n_clips} clips"
    rows = [
        {
            "name": f"preprocess frames/s ({label}, end to end)",
            "value": round(report.frames_per_s, 1),
            "unit": "frames/s",
            **({} if quick else {"target": ">= 100"}),  # a quick run is dominated by the pool's start-up
            "peak_rss_mb": peak,
            "frames": report.frames,
            "wall_s": round(report.wall_s, 2),
        }
    ]
    if len(stamps) >= 2:
        span = stamps[-1][0] - stamps[0][0]
        steady = sum(n for _, n in stamps[1:]) / span if span > 0 else 0.0
        rows.append(
            {"name": f"preprocess frames/s ({label}, steady state)", "value": round(steady, 1), "unit": "frames/s"}
        )
        startup = round(stamps[0][0] - t0, 2)
        rows.append({"name": "preprocess start-up (listing, pool, first clip)", "value": startup, "unit": "s"})
    for stage in STAGES:
        rows.append(
            {
                "name": f"preprocess {stage} (per frame, summed over workers)",
                "value": round(1000 * report.seconds.get(stage, 0.0) / max(report.frames, 1), 3),
                "unit": "ms/frame",
            }
        )
    rows.append(
        {
            "name": "preprocess CPU time per frame (all processes, start-up included)",
            "value": round(cpu_ms, 2),
            "unit": "ms",
        }
    )
    rows.append(
        {
            "name": f"preprocess frames/s projected for {workers} idle cores (from CPU time)",
            "value": round(1000 * workers / cpu_ms, 1) if cpu_ms > 0 else 0.0,
            "unit": "frames/s",
        }
    )
    rows.append({"name": "preprocess peak RSS (process tree)", "value": peak, "unit": "MB"})
    return rows


if __name__ == "__main__":
    import json
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
