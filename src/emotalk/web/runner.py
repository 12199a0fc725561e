"""The web server's real work: `DubRunner` loads one `Dubber` per device and dubs the jobs the workers hand it."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

from emotalk.errors import ConfigError, EmotalkError
from emotalk.web.records import RESULT_FILE, Job, ModelUnavailableError, Progress, scrub

log = logging.getLogger(__name__)


class DubRunner:
    """The real work: one `Dubber` per device, loaded once (in the background) and shared by the workers.

    Args:
        checkpoint: the generator checkpoint, or None (the server then runs without a model and says so).
        source: where the checkpoint setting came from ("--checkpoint", "$EMOTALK_CHECKPOINT", "default ...").
        devices: the device of each worker slot ("cpu", "cuda:0", ...); worker i uses devices[i % len].
        batch_size: the Dubber's generator batch (None: measured).
        backend, precision: the generator's runtime on CPU (infer.backends; GPUs stay on torch).
    """

    def __init__(
        self,
        checkpoint: Path | None,
        *,
        source: str = "",
        devices: list[str] | None = None,
        batch_size: int | None = None,
        backend: str = "torch",
        precision: str = "auto",
        compile_net: bool = False,
    ) -> None:
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.backend, self.precision, self.compile_net = backend, precision, compile_net
        self.source = source
        self.devices = devices or ["cpu"]
        self.batch_size = batch_size
        self._dubbers: dict[str, Any] = {}
        self._ready = threading.Event()
        self.state = "missing" if self.checkpoint is None else "not loaded"
        self.message = (
            "no generator checkpoint configured: start the server with --checkpoint FILE (or set "
            "EMOTALK_CHECKPOINT); `make demo` trains a small one at outputs/stages_tiny/smoke.ckpt"
            if self.checkpoint is None
            else ""
        )
        self.generator = ""
        self.runtime = ""  # "openvino int8", "torch fp32", …
        self.load_seconds: float | None = None

    def start(self) -> None:
        """Load the model in a background thread (the server answers meanwhile; jobs wait for it)."""
        if self.checkpoint is None:
            self._ready.set()
            return
        self.state = "loading"
        threading.Thread(target=self._load, name="emotalk-model-load", daemon=True).start()

    def _load(self) -> None:
        t0 = time.perf_counter()
        try:
            from emotalk.infer.backends import runtime_name
            from emotalk.infer.pipeline import Dubber

            for dev in dict.fromkeys(self.devices):
                on_cpu = dev == "cpu"
                backend = self.backend if on_cpu else "torch"  # a GPU stays on PyTorch (fp32 or bf16, not int8)
                precision = self.precision if on_cpu or self.precision != "int8" else "auto"
                dubber = Dubber(
                    self.checkpoint, device=dev, batch_size=self.batch_size, backend=backend, precision=precision,
                    compile_net=self.compile_net and backend == "torch",
                )  # fmt: skip
                dubber.detector()  # mediapipe's start-up, once, before the first job
                self._dubbers[dev] = dubber
                self.generator = dubber.model.source
                self.runtime = runtime_name(dubber.model)
            self.state, self.message = "ready", ""
            self.load_seconds = round(time.perf_counter() - t0, 2)
            log.info("model %s loaded on %s in %.1f s", self.checkpoint, ", ".join(self._dubbers), self.load_seconds)
        except EmotalkError as exc:
            self.state, self.message = "error", str(exc)
            log.error("cannot load the model: %s", exc)
        except Exception as exc:
            self.state, self.message = "error", f"cannot load {self.checkpoint}: {type(exc).__name__}: {exc}"
            log.exception("cannot load the model")
        finally:
            self._ready.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def available(self) -> bool:
        """False when jobs cannot run at all (no checkpoint, or it failed to load)."""
        return self.state not in ("missing", "error")

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "checkpoint": self.checkpoint.name if self.checkpoint else None,
            "source": self.source or None,
            "generator": self.generator or None,
            "backend": self.runtime or None,
            "devices": list(dict.fromkeys(self.devices)),
            "load_seconds": self.load_seconds,
            "message": self.message or None,
        }

    def __call__(self, job: Job, folder: Path, progress: Progress, worker: int) -> dict[str, Any]:
        progress(0.0, "waiting for the model")
        while not self._ready.wait(0.5):
            progress(0.0, "waiting for the model")  # lets a deleted job stop here
        if self.state != "ready":
            raise ModelUnavailableError(self.message or "the model is not loaded")
        device = self.devices[worker % len(self.devices)]
        dubber = self._dubbers[device]
        opts, inputs = job.options, job.inputs
        audio = inputs.get("audio")
        r = dubber.dub(
            folder / inputs["video"]["file"],
            folder / audio["file"] if audio else None,
            emotion=opts["emotion"],
            out=folder / RESULT_FILE,
            strength=float(opts.get("strength", 1.0)),
            timeline=opts.get("timeline") or None,
            face=opts.get("face") or None,
            watermark=bool(opts.get("watermark", True)),
            progress=progress,
        )
        return {
            "frames": r.frames,
            "generated": r.generated,
            "passed_through": r.passed_through,
            "passthrough_ranges": r.passthrough_ranges,
            "face_mode": r.face_mode,
            "face_warning": scrub(r.face_warning, folder, inputs),
            "fps": round(r.fps, 3),
            "width": r.width,
            "height": r.height,
            "seconds": round(r.output_seconds, 3),
            "emotion": r.emotion,
            "wall_seconds": round(r.wall_seconds, 2),
            "device": r.device,
            "bytes": (folder / RESULT_FILE).stat().st_size,
            "warnings": [scrub(w, folder, inputs) for w in r.warnings],
        }

    def close(self) -> None:
        for d in self._dubbers.values():
            with contextlib.suppress(Exception):
                d.close()
        self._dubbers.clear()


def resolve_devices(device: str = "auto") -> list[str]:
    """Worker devices: every CUDA GPU for "auto"/"cuda" when there are any, else the CPU; "cuda:N" as given."""
    if device == "cpu":
        return ["cpu"]
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device in ("auto", "cuda"):
        if n:
            return [f"cuda:{i}" for i in range(n)]
        if device == "cuda":
            raise ConfigError("--device cuda asked for, but CUDA is not available here; use --device cpu")
        return ["cpu"]
    if device.startswith("cuda:"):
        return [device]
    raise ConfigError(f"unsupported device {device!r}; use auto, cpu, cuda or cuda:N")
