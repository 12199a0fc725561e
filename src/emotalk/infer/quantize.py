"""int8 post-training static quantization of the exported generator, and its quality gate (issue #15).

Calibration feeds are the generator's real inputs: a `Dubber` (handed in: `infer.pipeline.capture_calibration`)
dubs a few clips with the fp32 torch model and a recorder between `LoadedGenerator` and its net keeps what the
net was given (masked + reference crops, mel
windows, emotions cycling through the six), so the activation ranges are those of dubbing, not of random tensors.
For the shipped GRID model the clips are training-split GRID sentences of the shared corpus (the data it was
trained on, `infer.model.SHIPPED_CALIBRATION`); the gate dubs held-out (test-split) clips, e.g. examples/.

Quantization: ONNX Runtime's `quantize_static`, QDQ format (both ONNX Runtime and OpenVINO run it with int8
kernels), int8 weights per output channel, uint8 activations per tensor, MinMax ranges.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emotalk.errors import NoFaceError
from emotalk.spec import EMOTIONS

log = logging.getLogger(__name__)

CALIBRATION_FRAMES = 192  # 24 batches of 8: enough for stable MinMax ranges, ~1 min at paper width
PSNR_GATE_DB = 35.0


def calibration_id(clips: Iterable[Path | str], frames: int = CALIBRATION_FRAMES) -> str:
    """Names and sizes of the calibration clips (the int8 cache key changes with the set)."""
    return ";".join(f"{Path(c).name}:{Path(c).stat().st_size}" for c in clips) + f";{frames}"


class _Recorder:
    """Sits in `LoadedGenerator.net`: records each call's inputs as graph feeds, then runs the real net."""

    def __init__(self, net: Any, names: tuple[str, ...], limit: int) -> None:
        self.net, self.names, self.limit = net, names, limit
        self.use_emotion, self.noise_dim = net.use_emotion, net.noise_dim
        self.feeds: list[dict[str, np.ndarray]] = []
        self.frames = 0

    def __call__(self, audio: torch.Tensor, face: torch.Tensor, emotion: Any = None, noise: Any = None) -> Any:
        if self.noise_dim and noise is None:
            noise = torch.randn(face.shape[0], self.noise_dim)
        if self.frames < self.limit:
            given = {"audio": audio, "face": face, "emotion": emotion, "noise": noise}
            self.feeds.append({k: given[k].float().contiguous().numpy().copy() for k in self.names})
            self.frames += face.shape[0]
        return self.net(audio, face, emotion, noise)


def record_feeds(
    dubber: Any, names: tuple[str, ...], clips: Iterable[Path | str], frames: int = CALIBRATION_FRAMES
) -> list[dict[str, np.ndarray]]:
    """The generator's inputs (graph feeds `names`) while `dubber` (a torch fp32 `infer.pipeline.Dubber`, handed
    in so that this module stays below the pipeline) dubs `clips`, each in another emotion, ≤ `frames`."""
    clips = [Path(c) for c in clips]
    eager = dubber.model
    rec = _Recorder(eager.net, names, frames)
    dubber.model = replace(eager, net=rec, channels_last=False)
    per_clip = -(-frames // max(1, len(clips)))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, clip in enumerate(clips):
                rec.limit = min(frames, (i + 1) * per_clip)
                dubber.dub(clip, None, EMOTIONS[i % len(EMOTIONS)], Path(tmp) / f"calib{i}.mp4", allow_no_face=True)
    finally:
        dubber.model = eager
    if not rec.feeds:
        raise NoFaceError(f"no face to calibrate on in {', '.join(map(str, clips))}; pass clips with a face")
    log.info("int8 calibration: %d frames from %d clips", rec.frames, len(clips))
    return rec.feeds


def quantize_int8(fp32: Path | str, out: Path | str, feeds: Iterable[dict[str, np.ndarray]]) -> Path:
    """Static int8 QDQ copy of the ONNX model `fp32`, activation ranges from `feeds` (written atomically)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it: Iterator[dict[str, np.ndarray]] = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    root = logging.getLogger()
    level = root.level
    # the quantizer logs advice ("consider pre-processing") on the root logger; the graph is already BN-folded
    root.setLevel(max(level, logging.ERROR))
    try:
        quantize_static(
            str(fp32),
            str(tmp),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    finally:
        root.setLevel(level)
    tmp.replace(out)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of uint8 images `a` against `b`, over all pixels (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def crops_psnr(reference: Any, other: Any, feeds: Iterable[dict[str, np.ndarray]]) -> float:
    """Face-crop PSNR of `other`'s uint8 output against `reference`'s (two nets), on the same graph feeds."""
    outs: list[tuple[np.ndarray, np.ndarray]] = []
    with torch.inference_mode():
        for f in feeds:
            args = [torch.from_numpy(f[k]) for k in ("audio", "face")]
            emo = torch.from_numpy(f["emotion"]) if "emotion" in f else None
            noise = torch.from_numpy(f["noise"]) if "noise" in f else None
            a, b = (net(*args, emo, noise).mul(255).round().clamp(0, 255).byte().numpy() for net in (reference, other))
            outs.append((a, b))
    return psnr(np.concatenate([b for _, b in outs]), np.concatenate([a for a, _ in outs]))
