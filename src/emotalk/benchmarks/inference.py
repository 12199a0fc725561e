"""Inference speed and memory (issue #5): `Dubber` end to end on a 480x360 clip of 10 s and of 60 s.

The clip loops the real CREMA-D clip of ../shared/media (ping-pong, 29.97 fps) under looped real speech. The
target model is the paper-size generator (width 1.0, random weights in EmoGen's published layout: the cost does
not depend on the weights); the lighter width-0.5 and width-0.25 generators are measured too. Everything is warm
(imports, mediapipe, the batch size measured on a warm-up dub) before the clock starts.

Rows:
* end-to-end frames/s (wall) and the CPU time per frame of everything (this process's threads plus its ffmpeg
  children), with the frame rate that CPU time projects for the machine's cores when nothing else runs: on the
  shared 2-core development machine other jobs take cores away, so wall rates vary with the load (reported);
* peak RSS of the process (and with its ffmpeg children), sampled every 50 ms, for 10 s and 60 s: flat memory
  means the 60 s peak stays within 10 % of the 10 s one;
* per stage (decode, detect, crop, generate, paste, encode): CPU ms per frame of the thread that runs it, and
  wall ms per frame (stages overlap, so wall times do not add up);
* the generator alone at batch 8/16/32, both as two single-threaded workers (what `Dubber` does on CPU) and as
  one call with torch's two OpenMP threads (the reference's way);
* the face gating alone (issue #14: the analysis pass before generation, `Dubber.plan`): CPU ms per frame of
  its decode (≤ 640 px), shot-cut, detection and face-mesh stages and its frames/s, with the mesh every 1, 2
  (default) and 4 frames, on the one-face benchmark clip and on a two-face side-by-side clip (two meshes a frame).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from emotalk.benchmarks._meters import PeakRSS, cpu_seconds

log = logging.getLogger(__name__)

FPS = Fraction(30000, 1001)


def _shared() -> Path:
    return Path(os.environ.get("EMOTALK_SHARED", Path(__file__).resolve().parents[3].parent / "shared"))


def make_clip(folder: Path, seconds: float) -> Path:
    """A 480x360 29.97 fps clip of `seconds`: the real CREMA-D clip played forwards and backwards, with speech."""
    from emotalk.audio.load import load_audio, write_wav
    from emotalk.video.decode import read_frames
    from emotalk.video.encode import SegmentEncoder, mux

    media = _shared() / "media"
    frames = read_frames(media / "crema-d" / "VideoFlash" / "1001_DFA_ANG_XX.flv")
    cycle = np.concatenate([frames, frames[-2:0:-1]])  # ping-pong: no jump at the loop point
    n = round(seconds * float(FPS))
    enc = SegmentEncoder(folder / f"v{seconds:g}.mp4", 480, 360, FPS, crf=18)
    for i in range(n):
        enc.write(cycle[i % len(cycle)])
    enc.close()
    speech = load_audio(media / "audio" / "hdtf_RD_Radio31_000.wav")
    wav = np.resize(speech, int(n / float(FPS) * 16000))  # repeats the speech to the clip's length
    write_wav(folder / f"a{seconds:g}.wav", wav)
    return mux([folder / f"v{seconds:g}.mp4"], folder / f"a{seconds:g}.wav", folder / f"clip{seconds:g}.mp4")


def save_generator(folder: Path, width: float) -> Path:
    """A random generator of `width`: width 1.0 as EmoGen's raw state_dict, others in our checkpoint layout."""
    import torch

    from emotalk.models.generator import Generator
    from emotalk.spec import AVSpec

    gen = Generator(width=width)
    path = folder / f"generator_w{width:g}.pt"
    if width == 1.0:
        torch.save(gen.state_dict(), path)
    else:
        torch.save(
            {
                "state_dict": {"generator." + k: v for k, v in gen.state_dict().items()},
                "emotalk": {"stage": "generator", "spec": AVSpec().to_dict(), "net": gen.config},
            },
            path,
        )
    return path


def generator_alone(width: float, batch: int, mode: str, seconds: float) -> tuple[float, float]:
    """(frames/s wall, CPU ms per frame) of the generator alone; mode "2x1" (two single-threaded workers) or
    "omp" (one call, torch threads = cores)."""
    import torch

    from emotalk.models.generator import Generator

    saved = torch.get_num_threads()
    gen = Generator(width=width).eval().to(memory_format=torch.channels_last)
    a = torch.randn(batch, 1, 80, 16)
    f = torch.rand(batch, 6, 96, 96).contiguous(memory_format=torch.channels_last)
    e = torch.eye(6)[torch.arange(batch) % 6]

    def one() -> None:
        with torch.inference_mode():
            gen(a, f, e)

    workers = 2 if mode == "2x1" else 1
    torch.set_num_threads(1 if mode == "2x1" else (os.cpu_count() or 1))
    try:
        return throughput(one, workers, batch, seconds)
    finally:
        torch.set_num_threads(saved)


def throughput(fn: Callable[[], None], workers: int, batch: int, seconds: float) -> tuple[float, float]:
    """(frames/s wall, CPU ms per frame) of `fn` (one batch of `batch` frames) called by `workers` threads at once,
    for at least `seconds` after a warm-up round (oneDNN and the runtimes build their kernels on the first call)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: fn(), range(workers)))
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < seconds or n < 2 * workers * batch:
            list(pool.map(lambda _: fn(), range(workers)))
            n += workers * batch
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return n / wall, cpu / n * 1000


def _e2e(ckpt: str, clips: dict[float, str], warm: str, width: float, out_dir: str) -> list[dict]:
    """End-to-end rows for one generator, measured in a fresh process (see `run`)."""
    import psutil

    from emotalk.infer.pipeline import Dubber

    cores = os.cpu_count() or 1
    proc = psutil.Process()
    rows: list[dict] = []
    rss: dict[float, float] = {}
    with Dubber(ckpt, "cpu") as dubber:
        dubber.dub(warm, None, "happy", Path(out_dir) / f"warm_{width:g}.mp4")  # mediapipe, batch size, kernels
        base = proc.memory_info().rss / 2**20
        for seconds, clip in clips.items():
            cpu0 = cpu_seconds()
            with PeakRSS() as peak:
                t0 = time.perf_counter()
                r = dubber.dub(clip, None, "happy", Path(out_dir) / f"out_{width:g}_{seconds:g}.mp4")
                wall = time.perf_counter() - t0
            cpu_ms = (cpu_seconds() - cpu0) / r.frames * 1000
            n = r.frames
            tag = f"width {width:g}, {seconds:g} s clip ({n} frames)"
            target = ">= 10" if width == 1.0 else ""
            rows.append({"name": f"end to end, {tag}", "value": round(n / wall, 2), "unit": "frames/s",
                         "target": target, "batch_size": r.batch_size, "workers": dubber.workers,
                         "threads_per_worker": dubber.threads, "load_1min": round(os.getloadavg()[0], 2)})  # fmt: skip
            rows.append({"name": f"end to end CPU per frame, {tag}", "value": round(cpu_ms, 1), "unit": "ms",
                         "target": ""})  # fmt: skip
            rows.append({"name": f"end to end projected for {cores} idle cores, {tag}",
                         "value": round(cores * 1000 / cpu_ms, 2), "unit": "frames/s", "target": target})  # fmt: skip
            rss[seconds] = peak.peak / 2**20
            rows.append({"name": f"peak RSS, {tag}", "value": round(rss[seconds]), "unit": "MB",
                         "target": "<= 1500" if width == 1.0 else "", "before_dub_mb": round(base),
                         "with_ffmpeg_children_mb": round(peak.peak_tree / 2**20)})  # fmt: skip
            stages = ("gate_decode", "gate_cut", "gate_detect", "gate_mesh", "gate_plan")
            for stage in (*stages, "decode", "crop", "generate", "paste", "encode"):
                cpu_stage = round(r.cpu_seconds.get(stage, 0.0) / n * 1000, 2)
                wall_stage = round(r.timings.get(stage, 0.0) / n * 1000, 2)
                rows.append({"name": f"stage {stage}, {tag}", "value": cpu_stage, "unit": "CPU ms/frame",
                             "target": "", "wall_ms_per_frame": wall_stage})  # fmt: skip
            rows.append({"name": f"mux (concat + AAC), {tag}", "value": round(r.timings.get("mux", 0.0), 3),
                         "unit": "s", "target": ""})  # fmt: skip
    if len(rss) > 1:
        lo, hi = min(rss), max(rss)
        rows.append({"name": f"peak RSS {hi:g} s / {lo:g} s, width {width:g}", "value": round(rss[hi] / rss[lo], 3),
                     "unit": "x", "target": "<= 1.1"})  # fmt: skip
    return rows


def two_face_clip(folder: Path, seconds: float) -> Path:
    """Two real faces side by side (CREMA-D 320x240 with its speech | another real clip 240x240), 29.97 fps."""
    import cv2

    from emotalk.audio.load import load_audio, write_wav
    from emotalk.video.decode import read_frames
    from emotalk.video.encode import SegmentEncoder, mux

    media = _shared() / "media"
    left = read_frames(media / "crema-d" / "VideoFlash" / "1001_DFA_ANG_XX.flv")
    right = read_frames(media / "video" / "retalking_face1.mp4", max_side=240)
    n = round(seconds * float(FPS))
    enc = SegmentEncoder(folder / "two.v.mp4", 560, 240, FPS, crf=18)
    for i in range(n):
        a = cv2.resize(left[i % len(left)], (320, 240), interpolation=cv2.INTER_AREA)
        enc.write(np.concatenate([a, right[i % len(right)]], axis=1))
    enc.close()
    wav = np.resize(load_audio(media / "crema-d" / "AudioWAV" / "1001_DFA_ANG_XX.wav"), int(n / float(FPS) * 16000))
    write_wav(folder / "two.wav", wav)
    return mux([folder / "two.v.mp4"], folder / "two.wav", folder / "two_faces.mp4")


def gating_alone(ckpt: str, clips: dict[str, Path]) -> list[dict]:
    """The analysis pass of the face gating (`Dubber.plan`) per stage, mesh every 1/2/4 frames."""
    from dataclasses import replace

    from emotalk.infer.pipeline import Dubber

    rows: list[dict] = []
    with Dubber(ckpt, "cpu") as dubber:
        base = dubber.gating
        dubber.plan(clips["one face"])  # warm: mediapipe's graphs
        for k in (1, 2, 4):
            dubber.gating = replace(base, mesh_every=k)
            for what, clip in clips.items():
                t0, c0 = time.perf_counter(), cpu_seconds()
                plan = dubber.plan(clip)
                wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
                n = len(plan.reasons)
                tag = f"{what}, mesh every {k}"
                rows.append({"name": f"gating pass, {tag}", "value": round(n / wall, 1), "unit": "frames/s",
                             "target": "", "cpu_ms_per_frame_incl_ffmpeg": round(cpu / n * 1000, 2),
                             "dubbed_frames": plan.reasons.count(None), "frames": n})  # fmt: skip
                for stage in ("decode", "cut", "detect", "mesh", "plan"):
                    rows.append({"name": f"gating stage {stage}, {tag}",
                                 "value": round(plan.timer.cpu.get(stage, 0.0) / n * 1000, 2),
                                 "unit": "CPU ms/frame", "target": ""})  # fmt: skip
        dubber.gating = base
    return rows


def run(quick: bool = False) -> list[dict]:
    import multiprocessing

    cores = os.cpu_count() or 1
    rows: list[dict] = [
        {"name": "load average (1 min) at start", "value": round(os.getloadavg()[0], 2), "unit": "", "target": ""}
    ]
    widths = (0.25,) if quick else (1.0, 0.5, 0.25)
    with tempfile.TemporaryDirectory(prefix="emotalk-bench-infer-") as tmp:
        folder = Path(tmp)
        clips = {s: str(make_clip(folder, s)) for s in ((3.0,) if quick else (10.0, 60.0))}
        warm = str(make_clip(folder, 1.5))

        # ---- end to end: each generator in a fresh process, so that its peak RSS is the dub's alone
        ctx = multiprocessing.get_context("spawn")
        for width in widths:
            ckpt = str(save_generator(folder, width))
            use = clips if width == widths[0] else {min(clips): clips[min(clips)]}  # lighter: the short clip
            with ctx.Pool(1) as pool:
                rows += pool.apply(_e2e, (ckpt, use, warm, width, tmp))

        # ---- the face gating alone
        gate_clips = {"one face": Path(clips[min(clips)]), "two faces": two_face_clip(folder, 3.0 if quick else 10.0)}
        rows += gating_alone(str(save_generator(folder, 0.25)), gate_clips)

        # ---- the generator alone
        for width in widths:
            for mode in ("2x1",) if quick or width != 1.0 else ("2x1", "omp"):
                for batch in (8, 16) if quick else (8, 16, 32):
                    fps, cpu_ms = generator_alone(width, batch, mode, 2.0 if quick else 5.0)
                    how = "2 workers x 1 thread" if mode == "2x1" else f"1 call x {cores} threads"
                    rows.append({"name": f"generator alone, width {width:g}, batch {batch}, {how}",
                                 "value": round(fps, 2), "unit": "frames/s", "target": "",
                                 "cpu_ms_per_frame": round(cpu_ms, 1)})  # fmt: skip
    rows.append({"name": "load average (1 min) at end", "value": round(os.getloadavg()[0], 2), "unit": "",
                 "target": ""})  # fmt: skip
    return rows


if __name__ == "__main__":
    import json
    import sys

    logging.basicConfig(level=logging.INFO)
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
