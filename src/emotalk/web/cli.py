"""`emotalk serve`: the web demo and HTTP API on uvicorn (HTTPS when given a certificate).

    emotalk serve                                   # http://127.0.0.1:8000, model from $EMOTALK_CHECKPOINT or make demo
    emotalk serve --checkpoint pl_da.ckpt --host 0.0.0.0 --port 8443 --certfile cert.pem --keyfile key.pem

Without a checkpoint (flag, $EMOTALK_CHECKPOINT, or outputs/stages_tiny/smoke.ckpt from `make demo`) the server
still starts; the page and /api/health say that no model is loaded and job submissions get 503. Browsers allow the
camera and microphone only on https:// pages or on localhost: serve with a certificate to record from a phone.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from emotalk.errors import ConfigError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = __doc__.split("\n\n", 1)[1] if __doc__ else None
    net = p.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    net.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    net.add_argument("--certfile", type=Path, help="TLS certificate (PEM): serve HTTPS")
    net.add_argument("--keyfile", type=Path, help="TLS private key (PEM) of --certfile")
    model = p.add_argument_group("model and jobs")
    model.add_argument(
        "--checkpoint", "-c", type=Path, default=None,
        help="generator checkpoint (default: $EMOTALK_CHECKPOINT, else outputs/stages_tiny/smoke.ckpt if present)",
    )  # fmt: skip
    model.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    model.add_argument("--batch-size", type=int, default=None, help="generator batch (default: measured)")
    from emotalk.infer.backend_options import add_arguments as add_backend_arguments

    add_backend_arguments(model, "auto")
    model.add_argument("--data-dir", type=Path, default=Path("outputs/web"), help="job folders (default outputs/web)")
    model.add_argument("--workers", type=int, default=None, help="jobs run at once (default: one per GPU, 1 on CPU)")
    model.add_argument("--queue-size", type=int, default=8, help="jobs that may wait (default 8; then 429)")
    limits = p.add_argument_group("limits")
    limits.add_argument("--max-upload-mb", type=float, default=200.0, help="largest upload, MB (default 200)")
    limits.add_argument("--max-duration-s", type=float, default=60.0, help="longest video/audio, s (default 60)")
    limits.add_argument("--max-side", type=int, default=1920, help="largest picture side, px (default 1920)")
    limits.add_argument("--result-ttl-h", type=float, default=24.0, help="hours results are kept (default 24)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))


def settings_from_args(args: argparse.Namespace) -> Any:
    """`Settings` from the command line (checks the values; imports nothing heavy)."""
    from emotalk.web.app import Settings, default_checkpoint
    from emotalk.web.uploads import Limits

    for name in ("max_upload_mb", "max_duration_s", "max_side", "result_ttl_h", "queue_size"):
        if not getattr(args, name) > 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    checkpoint, source = default_checkpoint(args.checkpoint)
    if checkpoint is not None and not checkpoint.is_file():
        raise ConfigError(f"checkpoint not found: {checkpoint} ({source}); pass --checkpoint with an existing file")
    return Settings(
        data_dir=args.data_dir,
        checkpoint=checkpoint,
        checkpoint_source=source,
        device=args.device,
        workers=args.workers,
        queue_size=args.queue_size,
        limits=Limits(
            max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
            max_duration_s=float(args.max_duration_s),
            max_side=int(args.max_side),
        ),
        result_ttl_h=float(args.result_ttl_h),
        batch_size=args.batch_size,
        backend=args.backend,
        precision=args.precision,
        compile_net=args.compile,
    )


def tls_options(certfile: Path | None, keyfile: Path | None) -> dict[str, str]:
    """uvicorn's ssl_* options, after checking that both files are there."""
    if certfile is None and keyfile is None:
        return {}
    if certfile is None or keyfile is None:
        raise ConfigError("HTTPS needs both --certfile and --keyfile")
    for f in (certfile, keyfile):
        if not Path(f).is_file():
            raise ConfigError(f"TLS file not found: {f}")
    return {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile)}


def uvicorn_config(args: argparse.Namespace, app: Any | None = None) -> Any:
    """The uvicorn Config for these arguments (the app built from them unless given)."""
    import uvicorn

    from emotalk.web.app import create_app

    tls = tls_options(args.certfile, args.keyfile)
    app = app if app is not None else create_app(settings_from_args(args))
    return uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=10,
        **tls,  # type: ignore[arg-type]
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    config = uvicorn_config(args)
    scheme = "https" if args.certfile else "http"
    settings = config.app.state.settings
    where = settings.checkpoint or "none: the page will say so (pass --checkpoint)"
    log.info("emotalk serve on %s://%s:%d (model: %s)", scheme, args.host, args.port, where)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.certfile:
        log.warning("serving plain HTTP on %s: browsers allow recording only over HTTPS or on localhost", args.host)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    _stacks_on_sigusr1()
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown: for a server, a normal stop
        log.info("emotalk serve stopped")
    return 0


def _stacks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` prints every thread's Python stack to stderr: what a server that stopped answering is
    stuck on (the signal handler runs in C, so it works while the event loop or a worker is blocked)."""
    import faulthandler
    import signal

    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
