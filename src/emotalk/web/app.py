"""The FastAPI app of `emotalk serve`: the demo page, the JSON API and its error mapping (mission.md §9, issue #7).

    from emotalk.web.app import Settings, create_app
    app = create_app(Settings(checkpoint=Path("pl_da.ckpt"), data_dir=Path("outputs/web")))

API (OpenAPI at /docs and /openapi.json):
    POST   /api/jobs              multipart: video (file), audio (file, optional), emotion, strength, timeline,
                                  face, watermark → 202 {id, state, ...} + Location
    GET    /api/jobs/{id}         state queued|running|done|failed, progress 0..1, stage, error, result_url
    GET    /api/jobs/{id}/result  the MP4 (HTTP range requests; ?download=1 for an attachment)
    DELETE /api/jobs/{id}         204; cancels a running job
    GET    /api/health            model, queue and limits

Every error is JSON ``{"detail": "..."}``; an `EmotalkError` keeps its text and gets a 4xx by kind (`status_for`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import HTTPException
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import emotalk
from emotalk.errors import EmotalkError, InputTooLargeError, MissingWeightsError
from emotalk.spec import EMOTIONS
from emotalk.web.jobs import JobManager
from emotalk.web.records import FINISHED, Job, ModelUnavailableError, QueueFullError, Runner
from emotalk.web.runner import DubRunner, resolve_devices
from emotalk.web.uploads import Limits, UnsupportedMediaError, check_media, parse_options, read_upload

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
#: The checkpoint `make demo` trains (used when neither --checkpoint nor $EMOTALK_CHECKPOINT is given).
DEMO_CHECKPOINT = Path("outputs/stages_tiny/smoke.ckpt")
SYNTHETIC_NOTE = "AI-generated (synthetic) video made with emotalk: the face was re-rendered to speak new audio."
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass
class Settings:
    """What `emotalk serve` configures (see web/cli.py for the flags)."""

    data_dir: Path = Path("outputs/web")
    checkpoint: Path | None = None
    checkpoint_source: str = ""
    device: str = "auto"
    workers: int | None = None  # default: one per device (GPU), or one on CPU
    queue_size: int = 8
    limits: Limits = field(default_factory=Limits)
    result_ttl_h: float = 24.0
    clean_every_s: float | None = None
    batch_size: int | None = None
    backend: str = "torch"  # generator runtime on CPU (`emotalk serve` defaults to auto: the fastest)
    precision: str = "auto"
    compile_net: bool = False  # torch.compile the generator on torch workers (GPUs)


def default_checkpoint(explicit: Path | str | None = None) -> tuple[Path | None, str]:
    """The checkpoint to serve and where the choice came from: the flag, $EMOTALK_CHECKPOINT, the model shipped in
    the package (infer.model.default_checkpoint), or, in a checkout without it, `make demo`'s smoke model."""
    from emotalk.infer.model import default_checkpoint as infer_default

    path, source = infer_default(explicit)
    if path is not None or os.environ.get("EMOTALK_CHECKPOINT", "").lower() == "none":
        return path, source
    if DEMO_CHECKPOINT.is_file():
        return DEMO_CHECKPOINT.resolve(), (
            f"default {DEMO_CHECKPOINT} (the tiny smoke-test model `make demo` trains: expect rough faces; "
            "pass --checkpoint for a real one)"
        )
    return None, ""


def status_for(exc: EmotalkError) -> int:
    """HTTP status of an `EmotalkError`: what the client can do about it."""
    if isinstance(exc, QueueFullError):
        return 429
    if isinstance(exc, ModelUnavailableError | MissingWeightsError):
        return 503
    if isinstance(exc, InputTooLargeError):
        return 413
    if isinstance(exc, UnsupportedMediaError):
        return 415
    return 422  # MediaDecodeError, NoFaceError, UnknownEmotionError, ConfigError (timeline, strength, form)


class SecurityHeaders:
    """Pure ASGI middleware (does not buffer request bodies): safe defaults on every response, CSP on the page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if path == "/" or path.startswith("/static/"):
                    headers += [
                        (b"content-security-policy", CSP.encode()),
                        (b"x-frame-options", b"DENY"),
                        (b"permissions-policy", b"camera=(self), microphone=(self)"),
                    ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def job_view(job: Job, manager: JobManager) -> dict[str, Any]:
    """The public JSON of a job (no server paths)."""
    base = f"/api/jobs/{job.id}"
    inputs = {
        role: ({k: v for k, v in item.items() if k != "file"} if isinstance(item, dict) else None)
        for role, item in job.inputs.items()
    }
    done = job.state == "done"
    return {
        "id": job.id,
        "state": job.state,
        "progress": job.progress,
        "stage": job.stage,
        "queue_position": manager.position(job) if job.state == "queued" else None,
        "error": job.error,
        "error_kind": job.error_kind,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "expires_at": job.finished_at + manager.ttl_s if job.state in FINISHED and job.finished_at else None,
        "options": {k: v for k, v in job.options.items()},
        "inputs": inputs,
        "result": job.result,
        "status_url": base,
        "result_url": f"{base}/result" if done else None,
        "download_url": f"{base}/result?download=1" if done else None,
        "synthetic": True,
    }


def _not_found() -> HTTPException:
    return HTTPException(404, "no job with this id (it may have expired or been deleted)")


JOB_FORM_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["video"],
                    "properties": {
                        "video": {"type": "string", "format": "binary", "description": "video or photo of a face"},
                        "audio": {
                            "type": "string",
                            "format": "binary",
                            "description": "speech (any audio or video file); default: the video's own audio",
                        },
                        "emotion": {"type": "string", "enum": list(EMOTIONS), "default": "neutral"},
                        "strength": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
                        "timeline": {"type": "string", "example": "0-2:happy,2-4:sad@0.6"},
                        "face": {"type": "string", "description": "1 = largest face (default), 2, …, or left/right"},
                        "watermark": {"type": "boolean", "default": True, "description": 'visible "SYNTHETIC" mark'},
                    },
                }
            }
        },
    }
}

ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "upload, duration or picture size over the limit"},
    415: {"description": "a file that is not media (checked by content)"},
    422: {"description": "unusable media or options (audio as the video, no sound, unknown emotion, …)"},
    429: {"description": "the queue is full; see Retry-After"},
    503: {"description": "no model loaded"},
}


def create_app(settings: Settings | None = None, *, runner: Runner | None = None) -> FastAPI:
    """Build the app. `runner` replaces the Dubber (tests); the queue starts and stops with the app's lifespan."""
    s = settings or Settings()
    runner, manager = _runner_and_manager(s, runner)
    # /docs and /redoc from assets in the fastapi-offline package, not a CDN: they work without the internet
    app = FastAPIOffline(
        title="emotalk",
        version=emotalk.__version__,
        summary="Dub a face with new speech and a chosen emotion. Every output is synthetic and labelled so.",
        lifespan=_lifespan(s, runner, manager),
    )
    app.state.manager, app.state.runner, app.state.settings = manager, runner, s
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_error_handlers(app)
    _add_page_and_health(app, runner, manager, s.limits)
    _add_job_routes(app, runner, manager, s.limits)
    return app


def _runner_and_manager(s: Settings, runner: Runner | None) -> tuple[Runner, JobManager]:
    """The runner (a `DubRunner` on the configured devices unless one is given) and the queue that feeds it."""
    if runner is None:
        devices = resolve_devices(s.device) if s.checkpoint else ["cpu"]
        runner = DubRunner(
            s.checkpoint, source=s.checkpoint_source, devices=devices, batch_size=s.batch_size,
            backend=s.backend, precision=s.precision, compile_net=s.compile_net,
        )  # fmt: skip
        workers = s.workers or len(devices)
    else:
        workers = s.workers or 1
    manager = JobManager(
        s.data_dir,
        runner,
        workers=workers,
        queue_size=s.queue_size,
        ttl_s=s.result_ttl_h * 3600,
        clean_every_s=s.clean_every_s,
    )
    return runner, manager


def _lifespan(
    s: Settings, runner: Runner, manager: JobManager
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """Start the model load and the queue with the app; on shutdown stop the queue first, then free the model."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner.start()
        manager.start()
        log.info("emotalk web: data in %s, %d worker(s), queue of %d", s.data_dir, manager.workers, s.queue_size)
        try:
            yield
        finally:
            await run_in_threadpool(manager.close)
            runner.close()

    return lifespan


def _add_error_handlers(app: FastAPI) -> None:
    """An `EmotalkError` keeps its text with a 4xx by kind (`status_for`); anything else is a 500 without details."""

    @app.exception_handler(EmotalkError)
    async def emotalk_error(request: Request, exc: EmotalkError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, QueueFullError) else None
        return JSONResponse({"detail": str(exc)}, status_code=status_for(exc), headers=headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal server error; the server log has details"}, status_code=500)


def _runner_available(runner: Runner) -> bool:
    """False when jobs cannot run at all; a runner without `available` (a test's) always can."""
    check = getattr(runner, "available", None)
    return bool(check()) if callable(check) else True


def _add_page_and_health(app: FastAPI, runner: Runner, manager: JobManager, limits: Limits) -> None:
    """The demo page and GET /api/health."""
    index_html = (STATIC / "index.html").read_text()

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(index_html, headers={"Cache-Control": "no-cache"})

    @app.get("/api/health", tags=["service"])
    async def health(request: Request) -> dict[str, Any]:
        """Whether a model is loaded (and which), the queue, the limits, the emotions."""
        model = runner.status()
        state = model["state"]
        return {
            "status": "ok" if state == "ready" else "no model" if not _runner_available(runner) else state,
            "version": emotalk.__version__,
            "model": model,
            "queue": manager.stats(),
            "limits": limits.to_dict(),
            "emotions": list(EMOTIONS),
            "https": request.url.scheme == "https",
            "synthetic_note": SYNTHETIC_NOTE,
        }


def _add_job_routes(app: FastAPI, runner: Runner, manager: JobManager, limits: Limits) -> None:
    """POST /api/jobs, GET /api/jobs/{id}, GET /api/jobs/{id}/result and DELETE /api/jobs/{id}."""

    @app.post("/api/jobs", status_code=202, tags=["jobs"], openapi_extra=JOB_FORM_SCHEMA, responses=ERRORS)
    async def create_job(request: Request) -> JSONResponse:
        """Upload a video (or photo) and optionally an audio file; queue a dub. Poll the returned status_url."""
        if not _runner_available(runner):
            raise ModelUnavailableError(runner.status().get("message") or "no model is loaded")
        res = manager.reserve()  # before reading the body: a full queue costs the client no upload
        try:
            upload = await read_upload(request, res.folder, limits.max_upload_bytes)
            options = parse_options(upload.fields)
            inputs = await run_in_threadpool(check_media, upload, limits)
            job = manager.submit(res, options, inputs)
        except ClientDisconnect:  # the client gave up mid-upload: nobody is left to read an answer
            manager.release(res)
            log.info("upload %s abandoned by the client", res.id)
            return JSONResponse({"detail": "the upload was cut off"}, status_code=400)
        except BaseException:
            manager.release(res)
            raise
        return JSONResponse(job_view(job, manager), status_code=202, headers={"Location": f"/api/jobs/{job.id}"})

    @app.get("/api/jobs/{job_id}", tags=["jobs"], responses={404: {"description": "unknown or expired id"}})
    async def get_job(job_id: str) -> JSONResponse:
        """State, progress 0..1, stage, error and (when done) the result's URL."""
        job = manager.get(job_id)
        if job is None:
            raise _not_found()
        return JSONResponse(job_view(job, manager), headers={"Cache-Control": "no-store"})

    @app.get(
        "/api/jobs/{job_id}/result",
        tags=["jobs"],
        response_class=FileResponse,
        responses={
            200: {"content": {"video/mp4": {}}, "description": "the MP4 (supports Range)"},
            404: {"description": "unknown or expired id"},
            409: {"description": "not finished, or failed"},
        },
    )
    async def get_result(job_id: str, download: bool = False) -> FileResponse:
        """The dubbed MP4 (H.264 + AAC, labelled synthetic in its metadata). Supports HTTP range requests."""
        job = manager.get(job_id)
        if job is None:
            raise _not_found()
        if job.state != "done":
            why = f"the job failed: {job.error}" if job.state == "failed" else f"the job is {job.state}"
            raise HTTPException(409, f"no result: {why}")
        path = manager.result_path(job)
        if not path.is_file():
            raise _not_found()
        emotion = job.options.get("emotion", "dub")
        return FileResponse(
            path,
            media_type="video/mp4",
            filename=f"emotalk-synthetic-{emotion}-{job.id[:8]}.mp4",
            content_disposition_type="attachment" if download else "inline",
            headers={"X-Synthetic-Media": "AI-generated (emotalk)", "Cache-Control": "private, max-age=3600"},
        )

    @app.delete("/api/jobs/{job_id}", status_code=204, tags=["jobs"], responses={404: {"description": "unknown"}})
    async def delete_job(job_id: str) -> Response:
        """Forget a job and delete its files; a running job is cancelled."""
        if not manager.delete(job_id):
            raise _not_found()
        return Response(status_code=204)


__all__ = [
    "DEMO_CHECKPOINT",
    "Settings",
    "create_app",
    "default_checkpoint",
    "job_view",
    "status_for",
]
