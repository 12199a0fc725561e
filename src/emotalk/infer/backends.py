"""CPU inference backends for the generator: eager PyTorch, ONNX Runtime or OpenVINO, in fp32, bf16 or int8.

Why: at paper width the generator is ~87 % of a CPU dub (issue #15). The exported graph (every variant: with or
without emotion, seq/end fusion, LSTM noise; the mask is applied before the net, so both masks share one graph)
runs in another runtime behind the same `LoadedGenerator`: `with_backend` swaps its `net` for a `RuntimeNet`
that takes and returns torch tensors, so the pipeline, the CLI and the server do not change.

* ``onnx``: ONNX Runtime, CPU provider (fp32 ≈ eager torch; int8 from `infer.quantize`).
* ``openvino``: OpenVINO on the same ONNX file. ``bf16`` is its default on CPUs with AVX512-BF16/AMX and
  about twice as fast as fp32; ``int8`` runs the quantized (QDQ) graph with int8 kernels (docs/inference.md).

Exports are cached (``$EMOTALK_CACHE`` or ~/.cache/emotalk, ``exported/``) under a key of the checkpoint's
SHA-256, the precision, the opset, the torch/onnxruntime versions and, for int8, the calibration set, so the
export (seconds) and the int8 calibration and quantization (minutes at paper width) happen once per model. GPU
inference stays on PyTorch.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from emotalk.errors import ConfigError
from emotalk.infer.backend_options import AUTO, BACKENDS, PRECISIONS, add_arguments  # noqa: F401
from emotalk.models.blocks import Conv2dBlock, ConvTranspose2dBlock
from emotalk.models.generator import IMG_SIZE, N_EMOTIONS, Generator

log = logging.getLogger(__name__)

OPSET = 17
#: Bumped when the exported graph changes for the same weights (2: no Shape op on the face input, for int8).
EXPORT_VERSION = 2
#: Calibration feeds for int8: a callable so that the (slow) capture runs only when the cache has no int8 model.
Calibration = Callable[[], Iterable[dict[str, np.ndarray]]]
#: How int8 feeds are captured: (checkpoint, clips) → feeds, `infer.pipeline.capture_calibration` (it dubs the
#: clips, so it is handed in: the pipeline imports this module, not the other way round).
Capture = Callable[[Path, list[Path]], Iterable[dict[str, np.ndarray]]]


def cache_root() -> Path:
    return Path(os.environ.get("EMOTALK_CACHE", Path.home() / ".cache" / "emotalk")) / "exported"


def file_sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def input_names(net: Generator) -> tuple[str, ...]:
    """The exported graph's inputs, in order: audio [N,1,80,16], face [N,6,96,96] (, emotion [N,6]) (, noise)."""
    return ("audio", "face") + (("emotion",) if net.use_emotion else ()) + (("noise",) if net.noise_dim else ())


def fused_copy(net: Generator) -> Generator:
    """A copy with every BatchNorm folded into its (transposed) convolution: the exporter folds Conv+BN but not
    ConvTranspose+BN, and the int8 quantizer wants bare convolutions (one scale per output channel)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    out = copy.deepcopy(net).eval()
    for m in out.modules():
        if isinstance(m, Conv2dBlock | ConvTranspose2dBlock):
            conv, bn = m.conv_block[0], m.conv_block[1]
            m.conv_block = nn.Sequential(
                fuse_conv_bn_eval(conv, bn, transpose=isinstance(m, ConvTranspose2dBlock)), nn.Identity()
            )
    return out


class _Frames(nn.Module):
    """The 4-D frames path with every input explicit (the noise too: the graph must not draw random numbers)."""

    def __init__(self, net: Generator) -> None:
        super().__init__()
        self.net = net

    def forward(self, audio: Tensor, face: Tensor, *rest: Tensor) -> Tensor:
        emotion = rest[0] if self.net.use_emotion else None
        noise = rest[-1] if self.net.noise_dim else None
        return self.net(audio, face, emotion, noise)


def example_inputs(net: Generator, n: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs of the exported graph's names and shapes (export tracing and tests)."""
    rng = np.random.default_rng(seed)
    feeds = {
        "audio": rng.standard_normal((n, 1, 80, 16), dtype=np.float32),
        "face": rng.random((n, 6, IMG_SIZE, IMG_SIZE), dtype=np.float32),
        "emotion": np.eye(N_EMOTIONS, dtype=np.float32)[np.arange(n) % N_EMOTIONS],
        "noise": rng.standard_normal((n, net.noise_dim or 1), dtype=np.float32),
    }
    return {k: feeds[k] for k in input_names(net)}


def export_onnx(net: Generator, path: Path | str) -> Path:
    """Export the frames path of `net` (BatchNorm folded, batch axis dynamic) to ONNX, atomically.

    Uses torch's TorchScript exporter (``dynamo=False``): it needs no onnxscript and handles the LSTM."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = input_names(net)
    args = tuple(torch.from_numpy(v) for v in example_inputs(net).values())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice and tracer warnings on shape checks
        torch.onnx.export(
            _Frames(fused_copy(net).float()),
            args,
            str(tmp),
            input_names=list(names),
            output_names=["out"],
            dynamic_axes={k: {0: "n"} for k in (*names, "out")},
            opset_version=OPSET,
            dynamo=False,
        )
    tmp.replace(path)
    return path


def cache_key(checkpoint: Path | str, precision: str, calibration_id: str = "") -> str:
    """What the exported file depends on: the weights, the precision, the exporter and the calibration set."""
    import onnxruntime

    parts = [file_sha256(checkpoint), precision, f"opset{OPSET}", f"export{EXPORT_VERSION}"]
    parts += [torch.__version__, onnxruntime.__version__]
    if precision == "int8":
        parts.append(calibration_id)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def exported_model(
    net: Generator, checkpoint: Path | str, int8: bool, calibration: Calibration | None, calibration_id: str
) -> Path:
    """The cached ONNX file of `net` (fp32, or int8 QDQ quantized with `calibration`), made when absent."""
    root = cache_root()
    fp32 = root / f"generator-{cache_key(checkpoint, 'fp32')}.onnx"
    if not fp32.is_file():
        t0 = time.perf_counter()
        export_onnx(net, fp32)
        log.info("exported %s to %s in %.1f s", Path(checkpoint).name, fp32, time.perf_counter() - t0)
    if not int8:
        return fp32
    q = root / f"generator-{cache_key(checkpoint, 'int8', calibration_id)}.int8.onnx"
    if not q.is_file():
        if calibration is None:
            raise ConfigError(
                "int8 needs calibration data (face crops and mels); pass --calibrate CLIP [CLIP ...] (in Python: "
                "runtime_for(..., capture=emotalk.infer.pipeline.capture_calibration))"
            )
        from emotalk.infer.quantize import quantize_int8

        t0 = time.perf_counter()
        quantize_int8(fp32, q, calibration())
        log.info("quantized %s to int8 (%s) in %.1f s", Path(checkpoint).name, q, time.perf_counter() - t0)
    return q


class RuntimeNet:
    """An exported generator behind the eager net's call: (audio, face, emotion, noise) tensors → faces tensor.

    Safe to call from several threads at once (the pipeline's generator workers): ONNX Runtime sessions are;
    OpenVINO gets one infer request per calling thread and one stream per worker."""

    def __init__(
        self, path: Path, net: Generator, backend: str, precision: str, workers: int = 1, threads: int = 1
    ) -> None:
        self.path, self.backend, self.precision = path, backend, precision
        self.use_emotion, self.noise_dim, self.config = net.use_emotion, net.noise_dim, dict(net.config)
        self.names = input_names(net)
        self._local = threading.local()
        if backend == "onnx":
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = max(1, threads), 1
            so.log_severity_level = 3
            self._session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        elif backend == "openvino":
            import openvino as ov

            core = ov.Core()
            core.set_property({"CACHE_DIR": str(cache_root() / "openvino")})  # compiled blobs: a warm start
            config = {
                "NUM_STREAMS": str(max(1, workers)),
                "INFERENCE_NUM_THREADS": max(1, workers) * max(1, threads),
                "INFERENCE_PRECISION_HINT": "f32" if precision == "fp32" else "bf16",
            }
            if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
                config["INFERENCE_PRECISION_HINT"] = "f32"
                log.warning("this CPU has no bf16 instructions: OpenVINO runs fp32 instead")
            self._compiled = core.compile_model(str(path), "CPU", config)
        else:
            raise ConfigError(f"unknown runtime backend {backend!r}; expected onnx or openvino")

    def __call__(
        self, audio: Tensor, face: Tensor, emotion: Tensor | None = None, noise: Tensor | None = None
    ) -> Tensor:
        n = face.shape[0]
        feeds = {"audio": audio, "face": face, "emotion": emotion}
        if self.noise_dim:
            feeds["noise"] = torch.randn(n, self.noise_dim) if noise is None else noise  # as the eager net draws
        if self.use_emotion and emotion is not None and emotion.shape[0] == 1 < n:
            feeds["emotion"] = emotion.expand(n, N_EMOTIONS)
        arrays = {k: np.ascontiguousarray(feeds[k].detach().cpu().numpy(), dtype=np.float32) for k in self.names}
        return torch.from_numpy(self.run(arrays))

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if self.backend == "onnx":
            return self._session.run(None, feeds)[0]
        req = getattr(self._local, "request", None)
        if req is None:
            req = self._local.request = self._compiled.create_infer_request()
        return np.array(req.infer(feeds)[0], copy=True)  # the request's buffer is reused by its next call


def resolve(
    backend: str,
    precision: str,
    device: torch.device | str,
    checkpoint: Path | str,
    clips: list[Path] | None,
) -> tuple[str, str, list[Path]]:
    """(backend, precision, calibration clips) with `auto` resolved (see AUTO) and the combination checked."""
    on_cpu = torch.device(device).type == "cpu"
    if backend == AUTO:
        backend = "openvino" if on_cpu else "torch"
    if precision == AUTO and backend == "torch":  # a GPU: bf16 autocast where the card has bf16 (Ampere on)
        precision = "bf16" if not on_cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    clips = list(clips or [])
    if precision in (AUTO, "int8") and not clips:
        from emotalk.infer.model import SHIPPED_GENERATOR, default_calibration_clips

        shipped = SHIPPED_GENERATOR.is_file() and Path(checkpoint).resolve() == SHIPPED_GENERATOR.resolve()
        clips = default_calibration_clips() if shipped else []
    if precision == AUTO:  # int8 keeps sync and emotion within 2 % (experiments/results/backends-20261205-int8.md)
        precision = "int8" if clips else ("bf16" if backend == "openvino" else "fp32")
    check_backend(backend, precision, device)
    if precision == "int8" and not clips:
        raise ConfigError(
            "int8 calibrates on face clips like the model's training data: pass --calibrate CLIP [CLIP ...] "
            "(or use --precision fp32/bf16)"
        )
    return backend, precision, clips


def check_backend(backend: str, precision: str, device: torch.device | str) -> None:
    """Refuse combinations that cannot run, with the fix in the message."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    kind = torch.device(device).type
    if backend == "torch" and (precision == "int8" or (precision == "bf16" and kind != "cuda")):
        raise ConfigError(
            f"--precision {precision} on CPU needs --backend openvino (or onnx for int8); torch runs fp32 on CPU "
            "and fp32 or bf16 on a GPU"
        )
    if backend == "onnx" and precision == "bf16":
        raise ConfigError("bf16 runs on --backend openvino; ONNX Runtime's CPU provider has fp32 and int8")
    if backend != "torch" and kind != "cpu":
        raise ConfigError(f"--backend {backend} is for CPU; on a GPU use --backend torch")


def runtime_for(
    model: Any,
    backend: str = "torch",
    precision: str = AUTO,
    *,
    workers: int = 1,
    threads: int = 1,
    calibration_clips: list[Path] | None = None,
    capture: Capture | None = None,
    compile_net: bool = False,
) -> Any:
    """`with_backend` from user settings: `auto` resolved, int8 calibrated by `capture` on the calibration clips
    (needed only when the int8 model of these clips is not cached yet); `compile_net`: torch.compile (torch only)."""
    backend, precision, clips = resolve(backend, precision, model.device, model.path, calibration_clips)
    if precision != "int8":
        return with_backend(model, backend, precision, workers=workers, threads=threads, compile_net=compile_net)
    from emotalk.infer.quantize import calibration_id

    return with_backend(
        model,
        backend,
        precision,
        workers=workers,
        threads=threads,
        calibration=(lambda: capture(model.path, clips)) if capture else None,
        calibration_id=calibration_id(clips),
        compile_net=compile_net,
    )


def release_memory() -> None:
    """Give the freed eager weights back to the OS after a swap to a runtime (glibc keeps freed heap otherwise)."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class AutocastNet:
    """The eager net under bf16 autocast (a GPU's torch path, issue #15 item 5): convolutions in bf16, the output
    back in fp32, the rest of the pipeline unchanged."""

    backend, precision = "torch", "bf16"

    def __init__(self, net: Generator) -> None:
        self.net = net
        self.use_emotion, self.noise_dim, self.config = net.use_emotion, net.noise_dim, dict(net.config)
        self.device_type = next(net.parameters()).device.type

    def __call__(
        self, audio: Tensor, face: Tensor, emotion: Tensor | None = None, noise: Tensor | None = None
    ) -> Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            return self.net(audio, face, emotion, noise).float()


def runtime_name(model: Any) -> str:
    """ "openvino int8", "onnx fp32", "torch bf16", "torch fp32 compiled": what runs a loaded generator."""
    net = model.net
    name = f"{net.backend} {net.precision}" if isinstance(net, RuntimeNet | AutocastNet) else "torch fp32"
    return name + (" compiled" if getattr(net, "compiled", False) else "")


def with_backend(
    model: Any,
    backend: str = "torch",
    precision: str = "fp32",
    *,
    workers: int = 1,
    threads: int = 1,
    calibration: Calibration | None = None,
    calibration_id: str = "",
    compile_net: bool = False,
) -> Any:
    """`model` (a `LoadedGenerator`) running on `backend` in `precision`; the torch fp32 model is returned as is,
    torch bf16 (GPU only) under autocast."""
    check_backend(backend, precision, model.device)
    if compile_net and backend != "torch":
        raise ConfigError(f"--compile is for --backend torch (a GPU's path), not {backend}")
    if backend == "torch":
        net = torch.compile(model.net) if compile_net else model.net
        if precision == "bf16":
            net = AutocastNet(net)
        if compile_net:
            net.compiled = True  # runtime_name says so
        return model if net is model.net else replace(model, net=net)
    net: Generator = model.net
    path = exported_model(net, model.path, precision == "int8", calibration, calibration_id)
    t0 = time.perf_counter()
    runtime = RuntimeNet(path, net, backend, precision, workers, threads)
    log.info("generator on %s %s (%s) ready in %.1f s", backend, precision, path.name, time.perf_counter() - t0)
    return replace(model, net=runtime, channels_last=False)
