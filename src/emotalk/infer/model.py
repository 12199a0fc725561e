"""The generator for inference: our Lightning checkpoint or a published EmoGen/Wav2Lip file, checked and timed.

Refuses (one-line `EmotalkError`s) a missing file, a checkpoint of another stage (SyncNet, emotion classifier),
a file of another model (s3fd.pth, lipsync_expert.pth, …: `models/weights.py` names what it looks like) and
a checkpoint whose `AVSpec` differs from the one inference runs with (naming the differing fields).

The input mask must match training: our checkpoints record it (``checkpoint["emotalk"]["mask_mode"]``; older
ones keep it in the datamodule's hyper-parameters; "full" when neither says), published Wav2Lip generators use
``lower_half`` and EmoGen's ``full`` (reference-code.md §5.4).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emotalk.errors import ConfigError, MissingWeightsError
from emotalk.models.generator import Generator
from emotalk.models.stages import SHIPPED_EXPERT, SHIPPED_GENERATOR  # noqa: F401  (SHIPPED_EXPERT re-exported)
from emotalk.spec import DEFAULT_SPEC, AVSpec

log = logging.getLogger(__name__)

MASK_MODES = ("full", "lower_half")
GENERATOR_WHERE = (
    "Pass a generator checkpoint: ours from `python -m emotalk.train experiment=pl_da` (or any generator "
    "experiment), EmoGen's released generator, or Wav2Lip's wav2lip.pth."
)


SHIPPED_NAME = "emotalk real-face base (lower-half lip-sync, trained on GRID s1; shipped default)"
#: The shipped model's int8 calibration clips: four training-split GRID s1 sentences (data.grid's sentence split;
#: tests/infer/test_backends.py checks it), in the shared corpus at shared/datasets/grid/s1/video/.
SHIPPED_CALIBRATION = ("bbaf2n", "bgbb1s", "brif4n", "bwwa9s")


def shared_root() -> Path:
    """The shared folder beside the repository (datasets), or $EMOTALK_SHARED."""
    import os

    return Path(os.environ.get("EMOTALK_SHARED", Path(__file__).resolve().parents[3].parent / "shared"))


def default_calibration_clips() -> list[Path]:
    """The shipped model's calibration clips (`SHIPPED_CALIBRATION`) when the shared GRID corpus is here, else []."""
    folder = shared_root() / "datasets" / "grid" / "s1" / "video"
    clips = [folder / f"{name}.mp4" for name in SHIPPED_CALIBRATION]
    return clips if all(c.is_file() for c in clips) else []


def default_checkpoint(explicit: Path | str | None = None) -> tuple[Path | None, str]:
    """The generator to use and where the choice came from: the flag, $EMOTALK_CHECKPOINT, or the shipped model."""
    import os

    if explicit:
        return Path(explicit), "--checkpoint"
    env = os.environ.get("EMOTALK_CHECKPOINT")
    if env and env.lower() == "none":  # explicitly no default model (a server that must say "no model")
        return None, ""
    if env:
        return Path(env), "$EMOTALK_CHECKPOINT"
    if SHIPPED_GENERATOR.is_file():
        return SHIPPED_GENERATOR, SHIPPED_NAME
    return None, ""


class SpecMismatchError(ConfigError):
    """A checkpoint trained with other audio/video constants than the ones inference uses."""


def spec_differences(theirs: dict[str, Any], ours: AVSpec = DEFAULT_SPEC) -> list[str]:
    """ "field: checkpoint X vs ours Y" for every differing AVSpec field (unknown fields count as differing)."""
    mine = ours.to_dict()
    diffs = []
    for k in sorted(set(theirs) | set(mine)):
        a, b = theirs.get(k, "<absent>"), mine.get(k, "<absent>")
        if isinstance(a, list | tuple) and isinstance(b, list | tuple):
            same = len(a) == len(b) and all(x == y for x, y in zip(a, b, strict=True))
        else:
            same = a == b
        if k not in theirs:  # an older checkpoint without a newer field: the default was in force
            continue
        if not same:
            diffs.append(f"{k}: checkpoint {a!r} vs ours {b!r}")
    return diffs


@dataclass
class LoadedGenerator:
    """A generator ready for 4-D per-frame inference, with what it needs to be fed correctly."""

    net: Generator
    path: Path
    source: str  # "emotalk" | "emogen" | "wav2lip" | "generator_end"
    mask_mode: str
    device: torch.device
    channels_last: bool = False
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def uses_emotion(self) -> bool:
        return self.net.use_emotion

    def __call__(self, crops: np.ndarray, mels: np.ndarray, emotions: np.ndarray) -> np.ndarray:
        """uint8 BGR crops [N, S, S, 3], mel windows [N, 80, 16], soft emotions [N, 6] → uint8 BGR [N, S, S, 3].

        Dubbing: each crop is both the masked target and its own reference (Wav2Lip's and EmoGen's inference).
        """
        return self.generate(crops, crops, mels, emotions)

    @torch.inference_mode()
    def generate(self, crops: np.ndarray, refs: np.ndarray, mels: np.ndarray, emotions: np.ndarray) -> np.ndarray:
        """`__call__` with reference frames `refs` [N, S, S, 3] other than the crops (self-reenactment tests)."""
        dev = self.device

        def tensor(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(x)).to(dev).permute(0, 3, 1, 2).float().div_(255.0)

        target = tensor(crops)
        ref = target if refs is crops else tensor(refs)
        if self.mask_mode == "full":  # EmoGen: the generator sees no part of the target (whole face redrawn)
            masked = torch.zeros_like(target)
        else:  # Wav2Lip: lower half zeroed
            masked = target.clone()
            masked[:, :, target.shape[2] // 2 :] = 0
        face = torch.cat([masked, ref], dim=1)  # (N, 6, S, S)
        if self.channels_last:
            face = face.contiguous(memory_format=torch.channels_last)
        audio = torch.from_numpy(np.ascontiguousarray(mels, dtype=np.float32)).to(dev).unsqueeze(1)  # (N, 1, 80, 16)
        emo = torch.from_numpy(np.ascontiguousarray(emotions, dtype=np.float32)).to(dev) if self.uses_emotion else None
        out = self.net(audio, face, emo)  # (N, 3, S, S) in [0, 1]
        return out.mul_(255.0).round_().clamp_(0, 255).byte().permute(0, 2, 3, 1).contiguous().cpu().numpy()


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device {device!r}; use cpu or cuda")
    return dev


def _mask_from_ours(ckpt: dict[str, Any]) -> str:
    mode = ckpt["emotalk"].get("mask_mode")
    if mode is None:
        dm = ckpt.get("datamodule_hyper_parameters")
        mode = dm.get("mask_mode") if isinstance(dm, dict) else None
    mode = mode or "full"
    if mode not in MASK_MODES:
        raise ConfigError(f"checkpoint records an unknown mask_mode {mode!r}; expected one of {', '.join(MASK_MODES)}")
    return mode


def load_generator(
    path: str | Path,
    device: str | torch.device | None = "cpu",
    spec: AVSpec = DEFAULT_SPEC,
    channels_last: bool | None = None,
) -> LoadedGenerator:
    """Load, check and place a generator for inference (eval mode, no gradients).

    Args:
        channels_last: NHWC convolutions (on CPU with oneDNN, width 1.0: 128 CPU ms per frame against 161 for
            NCHW; docs/inference.md); None: on for CPU, off for CUDA.
    """
    from emotalk.models import weights
    from emotalk.models.stages import read_ours

    p = Path(path)
    if not p.is_file():
        raise MissingWeightsError(p, "generator checkpoint", GENERATOR_WHERE)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    ckpt = read_ours(p)
    if ckpt is not None:
        record = ckpt["emotalk"]
        stage = record.get("stage")
        if stage != "generator":
            raise MissingWeightsError(
                p,
                "generator checkpoint",
                f"It is an emotalk {stage} checkpoint, not a generator one. {GENERATOR_WHERE}",
            )
        diffs = spec_differences(dict(record.get("spec") or {}), spec)
        if diffs:
            raise SpecMismatchError(
                f"{p} was trained with other audio/video settings than this version uses ({'; '.join(diffs)}); "
                "retrain it, or run the emotalk version it was made with"
            )
        config = dict(record.get("net") or {})
        sd = {k.removeprefix("generator."): v for k, v in ckpt["state_dict"].items() if k.startswith("generator.")}
        if not sd:
            raise MissingWeightsError(p, "generator checkpoint", f"It holds no generator weights. {GENERATOR_WHERE}")
        try:
            net = weights._empty(lambda: Generator(**config))
        except (TypeError, ValueError) as exc:
            msg = f"Its network record {config} is unusable: {exc}"
            raise MissingWeightsError(p, "generator checkpoint", msg) from None
        weights.load_matching(net, sd, p, "generator checkpoint", GENERATOR_WHERE, "emogen_generator")
        source, mask_mode = "emotalk", _mask_from_ours(ckpt)
    else:
        net = weights.load_generator(p)  # published file; raises naming what the file looks like otherwise
        if not net.use_emotion:
            source, mask_mode = "wav2lip", "lower_half"
        else:
            source, mask_mode = ("generator_end" if net.fusion == "end" else "emogen"), "full"
        config = dict(net.config)
    net.eval().requires_grad_(False)
    if channels_last is None:
        channels_last = dev.type == "cpu"
    net = net.to(dev)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    log.debug(
        "generator %s (%s, width %s, mask %s) loaded on %s in %.1f s",
        p.name, source, config.get("width", 1.0), mask_mode, dev, time.perf_counter() - t0,
    )  # fmt: skip
    return LoadedGenerator(net, p, source, mask_mode, dev, channels_last, config)
