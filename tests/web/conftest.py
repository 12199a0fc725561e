"""Web fixtures: a tiny generator checkpoint, short real media, a stand-in runner, the app under httpx."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emotalk.ffmpeg import run_ffmpeg
from emotalk.web.app import Settings, create_app
from emotalk.web.jobs import FINISHED, RESULT_FILE, Job, Progress
from generator_ckpt import calibrated_generator, save_ours


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A width-0.25 generator checkpoint shaped like our Lightning ones."""
    gen = calibrated_generator(width=0.25, emotion_gain=1.0)
    return save_ours(gen, tmp_path_factory.mktemp("web_ckpt") / "tiny.ckpt", mask_mode="full")


@pytest.fixture(scope="session")
def web_media(media: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Short inputs cut from the real clips: a 1.5 s talking-face MP4 (with its sound), the same without sound,
    1.5 s of speech, a photo, a 1 s live WebM (no duration in its header, like a browser recording), a 1080p clip
    and a text file named .mp4."""
    d = tmp_path_factory.mktemp("web_media")
    flv = media / "crema-d" / "VideoFlash" / "1001_DFA_HAP_XX.flv"
    out = {
        "clip": d / "clip.mp4",
        "silent": d / "silent.mp4",
        "speech": d / "speech.wav",
        "photo": media / "stills" / "obama.jpg",
        "recording": d / "recording.webm",
        "text": d / "notes.mp4",
        "big_clip": media / "video" / "mead_M030_sad_3_001.mp4",
    }
    enc = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    run_ffmpeg(["-y", "-i", str(flv), "-t", "1.5", *enc, "-c:a", "aac", str(out["clip"])])
    run_ffmpeg(["-y", "-i", str(flv), "-t", "1.5", *enc, "-an", str(out["silent"])])
    run_ffmpeg(["-y", "-i", str(media / "audio" / "1002_DFA_HAP_XX.wav"), "-t", "1.5", "-ac", "1", str(out["speech"])])
    webm = run_ffmpeg(
        ["-i", str(flv), "-t", "1", "-c:v", "libvpx", "-deadline", "realtime", "-b:v", "500k", "-c:a", "libopus",
         "-f", "webm", "-live", "1", "pipe:1"]
    )  # fmt: skip
    out["recording"].write_bytes(webm)
    out["text"].write_text("this is not a video\n" * 50)
    return out


class FakeRunner:
    """Stands in for the Dubber where the tests are about the API: reports progress, waits on `gate` (so a job
    can be held running), then copies `result` as the output or raises `error`."""

    def __init__(self, result: Path, *, gate: threading.Event | None = None, error: Exception | None = None) -> None:
        self.result = result
        self.gate = gate
        self.error = error
        self.calls: list[str] = []
        self.started = threading.Event()

    def __call__(self, job: Job, folder: Path, progress: Progress, worker: int) -> dict[str, Any]:
        self.calls.append(job.id)
        self.started.set()
        progress(0.1, "dub")
        while self.gate is not None and not self.gate.wait(0.02):
            progress(0.5, "dub")  # lets a deleted job or a stopping server cancel it here
        progress(0.9, "mux")
        if self.error is not None:
            raise self.error
        shutil.copy(self.result, folder / RESULT_FILE)
        return {"frames": 1, "seconds": 1.5}

    def status(self) -> dict[str, Any]:
        return {"state": "ready", "checkpoint": "fake.ckpt", "source": "tests", "message": None}

    def available(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


@contextlib.asynccontextmanager
async def api(settings: Settings, runner: Any = None) -> AsyncIterator[httpx.AsyncClient]:
    """The app (lifespan started: workers running) under an httpx client talking ASGI to it directly."""
    app = create_app(settings, runner=runner)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def wait_job(client: httpx.AsyncClient, job_id: str, timeout: float = 90.0) -> tuple[dict, list[float]]:
    """Poll a job until it is done or failed; return its last view and the progress values seen on the way."""
    import anyio

    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(f"/api/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job = r.json()
        seen.append(job["progress"])
        if job["state"] in FINISHED:
            return job, seen
        assert time.monotonic() < deadline, f"job still {job['state']} after {timeout} s: {job}"
        await anyio.sleep(0.1)


def form(video: Path | None, audio: Path | None = None, *, name: str | None = None, **fields: str) -> dict[str, Any]:
    """httpx arguments of a job form."""
    files: dict[str, Any] = {}
    if video is not None:
        files["video"] = (name or video.name, video.read_bytes(), "application/octet-stream")
    if audio is not None:
        files["audio"] = (audio.name, audio.read_bytes(), "application/octet-stream")
    return {"files": files, "data": fields}
