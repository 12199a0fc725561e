"""Synthetic CREMA-D generation speed and face detectability (`emotalk synth`, data/synthetic/).

Writes a 12-actor set (2 sentences: 264 clips, the size the target was set for; `quick`: 2 actors, 1 sentence:
32 clips) with 2 workers into a temporary folder. Rows: clips/s and wall seconds end to end (pool start-up
included), the CPU time per clip of all processes (parent, workers, ffmpeg) and the wall time it projects for the
12-actor set on 2 idle cores (the shared development machine is rarely idle), the render time per frame in one
process, and the share of frames of the written videos (every 4th frame of 12 clips across actors and emotions) in
which mediapipe finds the face.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from emotalk.benchmarks._meters import cpu_seconds


def _render_ms_per_frame() -> float:
    from emotalk.data.synthetic import clip_plan

    plan = clip_plan("1002", "IEO", "happy", "high", duration=2.0)
    plan.frame(0)  # the head layer and the backdrop are drawn once per clip
    t0 = time.process_time()
    for _ in plan.frames():
        pass
    return round(1000 * (time.process_time() - t0) / plan.n_frames, 2)


def _detection_rate(videos: list[Path]) -> tuple[float, int, int]:
    """(share of frames with a face, frames, clips) over every 4th frame of up to 12 clips spread over the list."""
    from emotalk.video.decode import read_frames
    from emotalk.video.faces import FaceDetector

    # clips are listed actor by actor, emotion by emotion: a stride of 23 visits every actor and varies the emotion
    sample = sorted({videos[(i * 23) % len(videos)] for i in range(min(12, len(videos)))})
    found = total = 0
    with FaceDetector() as det:
        for v in sample:
            for frame in read_frames(v)[::4]:
                total += 1
                found += bool(det.detect(frame))
    return found / max(total, 1), total, len(sample)


def run(quick: bool = False, workers: int = 2) -> list[dict]:
    from emotalk.data.synthetic import clip_names, synthesize

    actors, sentences = (2, 1) if quick else (12, 2)
    with tempfile.TemporaryDirectory(prefix="emotalk-bench-synth-") as tmp:
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        videos = synthesize(Path(tmp), actors=actors, sentences=sentences, workers=workers, progress=False)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        rate, frames, sampled = _detection_rate(videos)
    n = len(videos)
    cpu_per_clip = cpu / n
    n_default = len(clip_names([str(a) for a in range(1001, 1013)], 2))
    label = f"{actors} actors, {sentences} sentence(s), {workers} workers, {n} clips"
    return [
        {"name": f"synth clips/s ({label}, end to end)", "value": round(n / wall, 2), "unit": "clips/s"},
        {"name": f"synth wall time ({label})", "value": round(wall, 1), "unit": "s"},
        {"name": "synth CPU time per clip (all processes)", "value": round(cpu_per_clip, 3), "unit": "s"},
        {
            "name": f"synth 12-actor set ({n_default} clips) projected for {workers} idle cores (from CPU time)",
            "value": round(n_default * cpu_per_clip / workers, 1),
            "unit": "s",
            "target": "<= 60",
        },
        {
            "name": "synth render time per 480x360 frame (one process)",
            "value": _render_ms_per_frame(),
            "unit": "ms",
        },
        {
            "name": f"synth faces found by mediapipe (every 4th frame of {sampled} written clips, {frames} frames)",
            "value": round(100 * rate, 1),
            "unit": "%",
            "target": ">= 95",
        },
    ]


if __name__ == "__main__":
    import json
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
