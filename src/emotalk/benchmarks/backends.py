"""CPU inference backends (issue #15): the paper-width generator on PyTorch, ONNX Runtime and OpenVINO (fp32,
bf16, int8), alone, in a whole `emotalk infer` process on a 20 s 480x360 clip with face detection, in a warm
server, and the int8 quality gate.

The paper-width generator has random weights (seeded, BatchNorm statistics calibrated on random batches so that
its output is not flat; there is no trained paper-width model): speed does not depend on the weights, quality
does, so the 35 dB gate is judged on the shipped (trained, quarter-width) model, calibrated on GRID training
sentences and judged on the two held-out GRID clips of examples/. The paper-width int8 PSNR is listed for the
record only. Every speed row is reported with the fp32 PyTorch figure of the same run (the ratio is what stays
meaningful on a shared machine) and CPU time per frame (less sensitive to other jobs than wall time).

Rows:
* generator alone, width 1.0, batch 8, two workers (the pipeline's layout): frames/s, CPU ms/frame, × torch;
* whole process (`emotalk infer` start to exit, the export cache warm): frames/s, peak RSS of the process and
  its ffmpeg children, the dub's own frames/s (model loaded) and its generate stage's CPU ms per frame;
* the one-time cost of a cold cache (export, int8 calibration + quantization), seconds;
* warm server (`emotalk serve`, one worker): a 5 s clip's job latency, submit → result ready, median of 3;
* int8/bf16 face-crop PSNR against fp32 PyTorch (target ≥ 35 dB on the shipped model).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emotalk.infer.model import LoadedGenerator

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]
RUNTIMES = (("onnx", "fp32"), ("onnx", "int8"), ("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8"))
WHOLE = (("torch", "fp32"), ("openvino", "int8"), ("openvino", "bf16"), ("onnx", "int8"))


def paper_checkpoint(folder: Path) -> Path:
    """The seeded paper-width generator as our checkpoint (same bytes every run: the export cache keys on them)."""
    import torch

    from emotalk.models.generator import Generator
    from emotalk.spec import AVSpec

    path = folder / "paper_w1_seed0.ckpt"
    if path.is_file():
        return path
    torch.manual_seed(0)
    gen = Generator(width=1.0)
    for m in gen.modules():  # eval-mode statistics of real activations: a fresh net's output is flat grey
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    gen.train()
    with torch.no_grad():
        gen(torch.randn(16, 1, 80, 16), torch.rand(16, 6, 96, 96), torch.eye(6)[torch.arange(16) % 6])
    gen.eval()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "state_dict": {"generator." + k: v for k, v in gen.state_dict().items()},
            "emotalk": {"stage": "generator", "spec": AVSpec().to_dict(), "net": gen.config, "mask_mode": "full"},
        },
        tmp,
    )
    tmp.replace(path)
    return path


def _whole_process(ckpt: Path, clip: Path, backend: str, precision: str, out: Path, calib: list[Path]) -> dict:
    """`emotalk infer` in a subprocess: wall from start to exit, peak RSS of its tree, its dub summary."""
    import psutil

    from emotalk.benchmarks._meters import PeakRSS

    cmd = [sys.executable, "-m", "emotalk.cli", "infer", "--video", str(clip), "--emotion", "happy", "--checkpoint",
           str(ckpt), "--out", str(out), "--device", "cpu", "--no-progress", "--backend", backend,
           "--precision", precision]  # fmt: skip
    if precision == "int8":
        cmd += ["--calibrate", *map(str, calib)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakRSS(process=psutil.Process(proc.pid)) as peak:
        _, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"emotalk infer --backend {backend} failed: {stderr[-2000:]}")
    summary = json.loads(out.with_name(out.name + ".json").read_text())
    return {"wall": wall, "rss_mb": peak.peak / 2**20, "rss_tree_mb": peak.peak_tree / 2**20, "summary": summary}


def _server_latency(ckpt: Path | None, clip: Path, backend: str, folder: Path, rounds: int = 3) -> list[float]:
    """Seconds from submit to result ready for `rounds` jobs, one at a time, on a warm one-worker server."""
    import httpx

    from emotalk.web.loadtest import ServerProcess

    args = ["--device", "cpu", "--backend", backend, "--data-dir", "web", "--workers", "1"]
    args += ["--checkpoint", str(ckpt)] if ckpt else []
    times = []
    with ServerProcess(args, cwd=folder, env={"EMOTALK_CHECKPOINT": None}, start_timeout=300) as server:
        while server.health()["model"]["state"] in ("loading", "not loaded"):
            time.sleep(0.5)  # warm: the model (and its export) loaded before the clock starts
        for i in range(rounds + 1):
            t0 = time.perf_counter()
            r = httpx.post(f"{server.url}/api/jobs", files={"video": (clip.name, clip.read_bytes())},
                           data={"emotion": "happy"}, timeout=120)  # fmt: skip
            r.raise_for_status()
            job = r.json()["id"]
            while (state := httpx.get(f"{server.url}/api/jobs/{job}").json()["state"]) not in ("done", "failed"):
                time.sleep(0.05)
            if state != "done":
                raise RuntimeError(f"server job failed on {backend}: {httpx.get(f'{server.url}/api/jobs/{job}').text}")
            if i:  # the first job warms mediapipe's graphs and the batch-size tuner
                times.append(time.perf_counter() - t0)
        backend_name = server.health()["model"].get("backend")
    log.info("server %s (%s): %s", backend, backend_name, times)
    return times


def _load_row(name: str) -> dict:
    """The 1-minute load average: the machine is shared, and every figure below is read against it."""
    return {"name": name, "value": round(os.getloadavg()[0], 2), "unit": "", "target": ""}


def _calibration_clips() -> list[Path]:
    """The GRID training clips of int8 calibration; without them there is no int8 row to measure, so stop early."""
    from emotalk.infer.model import default_calibration_clips

    calib = default_calibration_clips()
    if not calib:
        raise FileNotFoundError("GRID training clips not found under shared/datasets/grid (set EMOTALK_SHARED)")
    return calib


def _one_time_cost(model: LoadedGenerator, calib: list[Path]) -> list[dict]:
    """Export and int8 calibration + quantization, timed first: they are cold only before this checkpoint is cached."""
    from emotalk.infer import backends as B
    from emotalk.infer.pipeline import capture_calibration

    t0 = time.perf_counter()
    B.runtime_for(model, "onnx", "fp32")
    t1 = time.perf_counter()
    B.runtime_for(model, "onnx", "int8", calibration_clips=calib, capture=capture_calibration)
    t2 = time.perf_counter()
    return [
        {"name": "paper width: ONNX export + load (0 when cached)", "value": round(t1 - t0, 1), "unit": "s",
         "target": ""},
        {"name": "paper width: int8 calibration (4 GRID clips, 192 frames) + quantization (0 when cached)",
         "value": round(t2 - t1, 1), "unit": "s", "target": ""},
    ]  # fmt: skip


def _generator_alone(model: LoadedGenerator, calib: list[Path], seconds: float) -> list[dict]:
    """The generator alone in the pipeline's layout (batch 8, 2 workers x 1 thread): the runtimes' own speed."""
    import torch

    from emotalk.benchmarks.inference import throughput
    from emotalk.infer import backends as B
    from emotalk.infer.pipeline import capture_calibration

    batch = 8
    feeds = B.example_inputs(model.net, n=batch)
    a, f, e = (torch.from_numpy(feeds[k]) for k in ("audio", "face", "emotion"))
    net = model.net  # channels_last on CPU, as load_generator places it
    fcl = f.contiguous(memory_format=torch.channels_last)

    def eager() -> None:
        with torch.inference_mode():
            net(a, fcl, e)

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        base_fps, base_cpu = throughput(eager, 2, batch, seconds)
    finally:
        torch.set_num_threads(saved)
    tag = "generator alone, width 1.0, batch 8, 2 workers x 1 thread"
    rows = [{"name": f"{tag}, torch fp32", "value": round(base_fps, 2), "unit": "frames/s", "target": "",
             "cpu_ms_per_frame": round(base_cpu, 1), "x_torch": 1.0}]  # fmt: skip
    for backend, precision in RUNTIMES:
        fast = B.runtime_for(
            model, backend, precision, workers=2, threads=1, calibration_clips=calib, capture=capture_calibration
        )
        fps, cpu = throughput(lambda fast=fast: fast.net.run(feeds), 2, batch, seconds)
        rows.append({"name": f"{tag}, {backend} {precision}", "value": round(fps, 2), "unit": "frames/s",
                     "target": ">= 25" if (backend, precision) == ("openvino", "int8") else "",
                     "cpu_ms_per_frame": round(cpu, 1), "x_torch": round(fps / base_fps, 2),
                     "x_torch_cpu": round(base_cpu / cpu, 2)})  # fmt: skip
    return rows


def _quality(model: LoadedGenerator, ckpt: Path, calib: list[Path], quick: bool) -> list[dict]:
    """int8 / bf16 face-crop PSNR against fp32 torch on held-out clips: the gate is judged on the trained model."""
    from emotalk.infer import backends as B
    from emotalk.infer.model import SHIPPED_GENERATOR, load_generator
    from emotalk.infer.pipeline import capture_calibration
    from emotalk.infer.quantize import PSNR_GATE_DB, calibration_id, crops_psnr

    held_out = [REPO / "examples" / "grid_s1_bbwg1s.mp4", REPO / "examples" / "grid_s1_bgit7a.mp4"]
    rows: list[dict] = []
    shipped = load_generator(SHIPPED_GENERATOR, "cpu")
    held = capture_calibration(SHIPPED_GENERATOR, held_out, frames=64 if quick else 144)
    for backend, precision in (("onnx", "int8"), ("openvino", "int8"), ("openvino", "bf16")):
        fast = B.runtime_for(shipped, backend, precision, calibration_clips=calib, capture=capture_calibration)
        rows.append({"name": f"face-crop PSNR vs fp32 torch, shipped model, held-out GRID clips, {backend} "
                     f"{precision}", "value": round(crops_psnr(shipped.net, fast.net, held), 2), "unit": "dB",
                     "target": f">= {PSNR_GATE_DB:g}", "calibration": calibration_id(calib)})  # fmt: skip
    held_paper = capture_calibration(ckpt, held_out[:1], frames=32)
    fast = B.runtime_for(model, "openvino", "int8", calibration_clips=calib, capture=capture_calibration)
    value = round(crops_psnr(model.net, fast.net, held_paper), 2)
    rows.append({"name": "face-crop PSNR vs fp32 torch, paper width (random weights: record only), openvino int8",
                 "value": value, "unit": "dB", "target": ""})  # fmt: skip
    return rows


def _whole_process_rows(ckpt: Path, folder: Path, calib: list[Path], quick: bool) -> list[dict]:
    """`emotalk infer` start to exit on a 20 s clip with detection: speed and peak RSS as a user meets them."""
    from emotalk.benchmarks.inference import make_clip

    rows: list[dict] = []
    clip_s = 6.0 if quick else 20.0
    clip = make_clip(folder, clip_s)
    torch_fps = torch_gen = None
    for backend, precision in WHOLE[:2] if quick else WHOLE:
        r = _whole_process(ckpt, clip, backend, precision, folder / f"out_{backend}_{precision}.mp4", calib)
        s = r["summary"]
        n = s["frames"]
        fps = n / r["wall"]
        gen_ms = s["cpu_seconds"]["generate"] / n * 1000
        torch_fps, torch_gen = (fps, gen_ms) if backend == "torch" else (torch_fps, torch_gen)
        what = f"whole process, width 1.0, {clip_s:g} s 480x360 clip ({n} frames), {backend} {precision}"
        rows.append({"name": what, "value": round(fps, 2), "unit": "frames/s", "target": ">= 20",
                     "x_torch": round(fps / torch_fps, 2), "wall_s": round(r["wall"], 1),
                     "dub_frames_per_s": round(n / s["wall_seconds"], 2),
                     "generate_cpu_ms_per_frame": round(gen_ms, 1),
                     "generate_x_torch_cpu": round(torch_gen / gen_ms, 2),
                     "load_1min": round(os.getloadavg()[0], 2)})  # fmt: skip
        rows.append({"name": f"peak RSS, {what}", "value": round(r["rss_mb"]), "unit": "MB", "target": "<= 1000",
                     "with_ffmpeg_children_mb": round(r["rss_tree_mb"])})  # fmt: skip
    return rows


def _server_rows(folder: Path, quick: bool) -> list[dict]:
    """A warm server's job latency on a 5 s clip; a failed backend gets a row that says so, not a lost run."""
    from emotalk.benchmarks.inference import make_clip

    rows: list[dict] = []
    short = make_clip(folder, 5.0)
    lat: dict[str, float] = {}
    for backend in ("torch", "auto"):
        with contextlib.suppress(OSError):
            (folder / "web").mkdir(exist_ok=True)
        name = f"server job latency, 5 s 480x360 clip, shipped model, --backend {backend}"
        try:
            times = _server_latency(None, short, backend, folder, rounds=2 if quick else 3)
        except Exception as exc:  # a row that says so; the rows measured above are kept
            log.exception("server latency on --backend %s failed", backend)
            rows.append({"name": name, "value": None, "unit": "s", "target": "", "error": repr(exc)})
            continue
        lat[backend] = statistics.median(times)
        rows.append({"name": name,
                     "value": round(lat[backend], 2), "unit": "s", "target": "",
                     "x_torch": round(lat["torch"] / lat[backend], 2) if "torch" in lat else None,
                     "all_s": [round(t, 2) for t in times]})  # fmt: skip
    return rows


def run(quick: bool = False) -> list[dict]:
    """The rows of this benchmark, in the order of the module's docstring (cold costs first, load at both ends)."""
    from emotalk.infer import backends as B
    from emotalk.infer.model import load_generator

    rows: list[dict] = [_load_row("load average (1 min) at start")]
    calib = _calibration_clips()
    ckpt = paper_checkpoint(B.cache_root().parent / "bench")
    model = load_generator(ckpt, "cpu")
    rows += _one_time_cost(model, calib)
    rows += _generator_alone(model, calib, seconds=2.0 if quick else 6.0)
    rows += _quality(model, ckpt, calib, quick)
    with tempfile.TemporaryDirectory(prefix="emotalk-bench-backends-") as tmp:
        rows += _whole_process_rows(ckpt, Path(tmp), calib, quick)
        rows += _server_rows(Path(tmp), quick)
    rows.append(_load_row("load average (1 min) at end"))
    return rows


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
