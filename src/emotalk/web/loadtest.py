"""A bounded load test of a running `emotalk serve` over the network, and a helper that runs one in a subprocess.

    with ServerProcess(["--checkpoint", "tiny.ckpt", "--queue-size", "6"], cwd=tmp) as server:
        report = asyncio.run(load_test(server.url, video, audio, submissions=20, polls=200))

`load_test` submits one job and waits until it runs; then, all at once, sends `submissions` more jobs and `polls`
status requests for the running job (and samples /api/health meanwhile); then waits for every accepted job to
finish. It reports what the tests assert and the benchmark records: the latency of the status calls under that
load, the status codes (no 5xx), how many jobs were accepted or refused with 429 (each with Retry-After), the
most jobs the server ever held waiting against its capacity, every accepted job's final state (nothing lost),
and jobs per minute (from the server's own start and finish times of the jobs that ran back to back).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`python -m emotalk.cli serve ARGS --port <free>` in a subprocess, ready (health answers) inside `with`.

    Args:
        args: `emotalk serve` arguments (not --host/--port).
        cwd: working directory (the default checkpoint is looked up relative to it).
        env: extra environment; ``None`` values remove a variable.
        verify: what httpx verifies the health check against (a CA file or SSL context for HTTPS).
        log: file that receives the server's output (default: <cwd>/server.log).
    """

    def __init__(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str | None] | None = None,
        verify: ssl.SSLContext | str | bool = True,
        log: Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.port = free_port()
        self.https = "--certfile" in args
        self.url = f"{'https' if self.https else 'http'}://127.0.0.1:{self.port}"
        self.args = [*args, "--host", "127.0.0.1", "--port", str(self.port)]
        self.cwd = Path(cwd)
        self.env = dict(os.environ)
        for k, v in (env or {}).items():
            if v is None:
                self.env.pop(k, None)
            else:
                self.env[k] = v
        self.env.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
        self.verify = verify
        self.log = log or self.cwd / "server.log"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "emotalk.cli", "serve", *self.args],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emotalk serve exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/api/health", verify=self.verify, timeout=2).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"emotalk serve did not answer in {self.start_timeout} s:\n{self.output()[-3000:]}")
            time.sleep(0.2)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/api/health", verify=self.verify, timeout=10).json()

    def dump_stacks(self, wait_s: float = 1.0) -> str:
        """Every thread's stack in the server's log (SIGUSR1, see web/cli.py), then the log's tail: for a test
        that found the server no longer answering."""
        if self.proc is not None and self.proc.poll() is None and hasattr(signal, "SIGUSR1"):
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(wait_s)
        return self.output()[-12000:]

    def stop(self, timeout: float = 20.0) -> int | None:
        """Ctrl-C (a graceful stop: running jobs are marked interrupted), then a kill if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between order statistics."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _form(video: Path, audio: Path | None, emotion: str) -> dict[str, Any]:
    files: dict[str, Any] = {"video": (video.name, video.read_bytes(), "application/octet-stream")}
    if audio is not None:
        files["audio"] = (audio.name, audio.read_bytes(), "application/octet-stream")
    return {"files": files, "data": {"emotion": emotion}}


#: The emotions the burst cycles through.
_EMOTIONS = ("happy", "sad", "angry", "fearful", "disgusted", "neutral")


@dataclass
class _Tally:
    """What the load test counts as it goes: status-call latencies, every HTTP code, the most jobs seen waiting."""

    latencies: list[float] = field(default_factory=list)
    codes: Counter[int] = field(default_factory=Counter)
    peak_waiting: int = 0


async def load_test(
    url: str,
    video: Path,
    audio: Path | None = None,
    *,
    submissions: int = 20,
    polls: int = 200,
    finish_timeout: float = 300.0,
    verify: ssl.SSLContext | str | bool = True,
) -> dict[str, Any]:
    """Run the load test against the server at `url`; return the measurements (see the module docstring)."""
    limits = httpx.Limits(max_connections=submissions + polls + 20, max_keepalive_connections=20)
    tally = _Tally()
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120, verify=verify) as client:
        capacity = (await client.get("/api/health")).json()["queue"]["capacity"]
        first_id = await _first_job_running(client, video, audio)
        t_burst = time.perf_counter()
        responses = await _burst(client, tally, first_id, video, audio, submissions, polls)
        burst_s = time.perf_counter() - t_burst
        accepted = [r.json()["id"] for r in responses if r.status_code == 202]
        final, pending = await _wait_finished(client, tally, [first_id, *accepted], finish_timeout)
        health = (await client.get("/api/health")).json()

    refused = [r for r in responses if r.status_code == 429]
    states = Counter(j["state"] for j in final.values())
    done = sorted((j for j in final.values() if j["state"] == "done"), key=lambda j: j["started_at"])
    span = (done[-1]["finished_at"] - done[0]["started_at"]) if done else 0.0
    durations = [j["finished_at"] - j["started_at"] for j in done]
    ms = [x * 1000 for x in tally.latencies]
    codes = tally.codes
    return {
        "submissions": submissions,
        "polls": polls,
        "capacity": capacity,
        "workers": health["queue"]["workers"],
        "accepted": len(accepted),
        "refused_429": len(refused),
        "retry_after_on_every_429": all(r.headers.get("retry-after", "").isdigit() for r in refused),
        "other_submit_codes": sorted(r.status_code for r in responses if r.status_code not in (202, 429)),
        "burst_seconds": round(burst_s, 3),
        "status_ms_p50": round(percentile(ms, 50), 1),
        "status_ms_p95": round(percentile(ms, 95), 1),
        "status_ms_max": round(max(ms), 1) if ms else float("nan"),
        "status_calls": len(ms),
        "http_codes": dict(sorted(codes.items())),
        "server_errors": sum(n for c, n in codes.items() if c >= 500),
        "peak_waiting_seen": tally.peak_waiting,
        "peak_waiting_server": health["queue"]["peak_waiting"],
        "jobs_total": 1 + len(accepted),
        "final_states": dict(states),
        "unfinished": pending,
        "lost": [i for i, j in final.items() if j["state"].startswith("http")],
        "jobs_per_minute": round(len(done) / span * 60, 2) if span > 0 else float("nan"),
        "job_seconds_mean": round(sum(durations) / len(durations), 2) if durations else float("nan"),
        "counters": health["queue"]["counters"],
    }


async def _first_job_running(client: httpx.AsyncClient, video: Path, audio: Path | None) -> str:
    """Submit one job and wait until a worker runs it, so the burst meets a busy server; return its id."""
    first = await client.post("/api/jobs", **_form(video, audio, "happy"))
    if first.status_code != 202:
        raise RuntimeError(f"the first job was refused: {first.status_code} {first.text}")
    first_id = first.json()["id"]
    while (await client.get(f"/api/jobs/{first_id}")).json()["state"] == "queued":
        await asyncio.sleep(0.05)
    return first_id


async def _burst(
    client: httpx.AsyncClient,
    tally: _Tally,
    first_id: str,
    video: Path,
    audio: Path | None,
    submissions: int,
    polls: int,
) -> list[httpx.Response]:
    """Send `submissions` jobs and `polls` status calls at once, sampling /api/health; return the submit answers."""

    async def poll() -> None:
        t0 = time.perf_counter()
        r = await client.get(f"/api/jobs/{first_id}")
        tally.latencies.append(time.perf_counter() - t0)
        tally.codes[r.status_code] += 1

    async def submit(i: int) -> httpx.Response:
        r = await client.post("/api/jobs", **_form(video, audio, _EMOTIONS[i % len(_EMOTIONS)]))
        tally.codes[r.status_code] += 1
        return r

    async def watch(stop: asyncio.Event) -> None:
        while not stop.is_set():
            r = await client.get("/api/health")
            tally.codes[r.status_code] += 1
            q = r.json()["queue"]
            tally.peak_waiting = max(tally.peak_waiting, q["waiting"] + q["uploading"])
            await asyncio.sleep(0.05)

    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(stop))
    results = await asyncio.gather(*[submit(i) for i in range(submissions)], *[poll() for _ in range(polls)])
    stop.set()
    await watcher
    return [r for r in results if isinstance(r, httpx.Response)]


async def _wait_finished(
    client: httpx.AsyncClient, tally: _Tally, job_ids: list[str], timeout: float
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Poll the jobs until each is done or failed (or gone: a non-200); return their last views and the unfinished."""
    final: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    pending = list(job_ids)
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        for job_id in list(pending):
            r = await client.get(f"/api/jobs/{job_id}")
            tally.codes[r.status_code] += 1
            if r.status_code != 200 or r.json()["state"] in ("done", "failed"):
                final[job_id] = r.json() if r.status_code == 200 else {"state": f"http {r.status_code}"}
                pending.remove(job_id)
    return final, pending


def self_signed_cert(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for `host`, valid a day, made with the openssl command: (cert.pem, key.pem)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    san = f"IP:{host}" if host.replace(".", "").isdigit() else f"DNS:{host}"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={host}",
         "-addext", f"subjectAltName={san}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


__all__ = ["ServerProcess", "free_port", "load_test", "percentile", "self_signed_cert"]
