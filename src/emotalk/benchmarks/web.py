"""Web server under load (issue #7): `emotalk serve` in its own process on the loopback, one worker on the CPU.

The load test of `emotalk.web.loadtest`: one job is submitted and starts running; then, all at once, 20 more
submissions and 200 status polls of the running job; then every accepted job is followed to its end. The inputs are
1.5 s of the real CREMA-D clip with real speech (../shared/media); the model is `make demo`'s smoke checkpoint
(outputs/stages_tiny/smoke.ckpt) when it is there, else a random width-0.25 generator (the cost does not depend on
the weights). The queue holds 8 (the default). For reference, the same 200 polls are timed with no job running
(the median of three rounds).

Rows: status-call latency p50/p95/max under that load and idle, jobs per minute (server-side start of the first
job to the end of the last, all run back to back), seconds per job, submissions accepted and refused (429), the
most jobs ever waiting against the queue's capacity, HTTP 5xx responses and lost jobs (both must be 0).
The client runs in this process and shares the machine's cores with the server and the dub: on the 2-core
development machine the latencies include the client's own time and whatever else runs (load average reported).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]
SMOKE = REPO / "outputs" / "stages_tiny" / "smoke.ckpt"
SUBMISSIONS, POLLS, QUEUE = 20, 200, 8


def _shared() -> Path:
    return Path(os.environ.get("EMOTALK_SHARED", REPO.parent / "shared"))


def make_inputs(folder: Path, seconds: float = 1.5) -> tuple[Path, Path]:
    """`seconds` of the real CREMA-D clip (H.264 + AAC) and of real speech (16 kHz WAV)."""
    from emotalk.ffmpeg import run_ffmpeg

    media = _shared() / "media"
    clip, speech = folder / "clip.mp4", folder / "speech.wav"
    run_ffmpeg(["-y", "-i", str(media / "crema-d" / "VideoFlash" / "1001_DFA_HAP_XX.flv"), "-t", f"{seconds}",
                "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)])  # fmt: skip
    run_ffmpeg(["-y", "-i", str(media / "audio" / "1002_DFA_HAP_XX.wav"), "-t", f"{seconds}", "-ac", "1", str(speech)])
    return clip, speech


async def idle_polls(url: str, job_id: str, n: int) -> list[float]:
    """Latencies (ms) of `n` simultaneous status calls with nothing else going on."""
    import httpx

    lat: list[float] = []
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=n + 10), timeout=60) as c:

        async def one() -> None:
            t0 = time.perf_counter()
            r = await c.get(f"/api/jobs/{job_id}")
            r.raise_for_status()
            lat.append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*[one() for _ in range(n)])
    return lat


def run(quick: bool = False) -> list[dict]:
    import httpx

    from emotalk.benchmarks.inference import save_generator
    from emotalk.web.loadtest import ServerProcess, load_test, percentile

    rows: list[dict] = [
        {"name": "load average (1 min) at start", "value": round(os.getloadavg()[0], 2), "unit": "", "target": ""}
    ]
    with tempfile.TemporaryDirectory(prefix="emotalk-bench-web-") as tmp:
        folder = Path(tmp)
        clip, speech = make_inputs(folder)
        if SMOKE.is_file():
            ckpt, model = SMOKE, "smoke.ckpt (make demo)"
        else:
            ckpt, model = save_generator(folder, 0.25), "random width-0.25 generator (no smoke.ckpt)"
        args = ["--checkpoint", str(ckpt), "--device", "cpu", "--queue-size", str(QUEUE), "--data-dir", "web"]
        with ServerProcess(args, cwd=folder, env={"EMOTALK_CHECKPOINT": None}) as server:
            r = asyncio.run(load_test(server.url, clip, speech, submissions=SUBMISSIONS, polls=POLLS))
            first = httpx.post(
                f"{server.url}/api/jobs",
                files={"video": ("clip.mp4", clip.read_bytes()), "audio": ("speech.wav", speech.read_bytes())},
            ).json()["id"]
            while httpx.get(f"{server.url}/api/jobs/{first}").json()["state"] not in ("done", "failed"):
                time.sleep(0.2)
            rounds = [asyncio.run(idle_polls(server.url, first, POLLS)) for _ in range(3)]
            idle = sorted(rounds, key=lambda lat: percentile(lat, 50))[1]  # the median round of three
    log.info("web load test: %s", r)
    common = {"model": model, "clip": "1.5 s 480x360 29.97 fps + 1.5 s speech", "workers": r["workers"]}
    under = f"{POLLS} simultaneous polls + {SUBMISSIONS} submissions while a job runs"
    for q in ("p50", "p95", "max"):
        rows.append({"name": f"status call latency {q}, {under}", "value": r[f"status_ms_{q}"], "unit": "ms",
                     "target": "", **common})  # fmt: skip
    rows += [
        {"name": f"status call latency p50, {POLLS} simultaneous polls, no job running",
         "value": round(percentile(idle, 50), 1), "unit": "ms", "target": ""},
        {"name": f"status call latency p95, {POLLS} simultaneous polls, no job running",
         "value": round(percentile(idle, 95), 1), "unit": "ms", "target": ""},
        {"name": "jobs per minute, CPU, one worker", "value": r["jobs_per_minute"], "unit": "jobs/min", "target": "",
         **common},
        {"name": "seconds per job (server-side, mean)", "value": r["job_seconds_mean"], "unit": "s", "target": ""},
        {"name": f"submissions accepted of {SUBMISSIONS} (queue of {QUEUE}, one running)", "value": r["accepted"],
         "unit": "jobs", "target": f">= {QUEUE}"},
        {"name": "submissions refused with 429 + Retry-After", "value": r["refused_429"], "unit": "jobs",
         "target": "", "retry_after_on_every_429": r["retry_after_on_every_429"]},
        {"name": "most jobs waiting at once (queue bound)", "value": r["peak_waiting_server"], "unit": "jobs",
         "target": f"<= {QUEUE}"},
        {"name": "HTTP 5xx responses", "value": r["server_errors"], "unit": "", "target": "<= 0",
         "http_codes": r["http_codes"]},
        {"name": "accepted jobs lost or unfinished", "value": len(r["lost"]) + len(r["unfinished"]), "unit": "",
         "target": "<= 0", "final_states": r["final_states"]},
        {"name": "load average (1 min) at end", "value": round(os.getloadavg()[0], 2), "unit": "", "target": ""},
    ]  # fmt: skip
    return rows


if __name__ == "__main__":
    import json
    import sys

    logging.basicConfig(level=logging.INFO)
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row))
