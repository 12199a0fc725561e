"""`emotalk export`: a small inference copy of a training checkpoint (the shipped model is made this way).

emotalk export --checkpoint outputs/train/base_grid/<time>/checkpoints/last.ckpt --out model.ckpt [--fp32]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from emotalk.errors import ConfigError
from emotalk.fsutil import write_atomic


def export_checkpoint(src: Path | str, dst: Path | str, half: bool = True) -> Path:
    """A small inference copy of one of our checkpoints: its network's weights (fp16 by default) and its record.

    Optimizer states, the frozen judges (expert, classifier) and Lightning's loop state are dropped, so a
    quarter-width generator takes a few MB. `load_generator` and `models.stages.load_net` read the result.
    """
    ckpt = torch.load(src, map_location="cpu", weights_only=False)
    record = ckpt.get("emotalk") if isinstance(ckpt, dict) else None
    if not record:
        raise ConfigError(f"{src} is not an emotalk checkpoint (no 'emotalk' record)")
    prefix = "generator." if record.get("stage") == "generator" else "net."
    sd = {
        k: (v.half() if half and v.is_floating_point() else v)
        for k, v in ckpt["state_dict"].items()
        if k.startswith(prefix)
    }
    if not sd:
        raise ConfigError(f"{src} holds no {prefix.rstrip('.')} weights")
    small = {"emotalk": record, "state_dict": sd}
    for key in ("datamodule_hyper_parameters", "hyper_parameters"):
        if key in ckpt:  # mask_mode and the training settings, for the record (plain types only)
            small[key] = {k: v for k, v in dict(ckpt[key]).items() if isinstance(v, str | int | float | bool | None)}
    return write_atomic(dst, lambda tmp: torch.save(small, tmp), mkdir=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", "-c", type=Path, required=True, help="our training checkpoint (.ckpt)")
    p.add_argument("--out", "-o", type=Path, required=True, help="the small inference checkpoint to write")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights (default: float16, half the size)")


def run(args: argparse.Namespace) -> int:
    if not args.checkpoint.is_file():
        raise ConfigError(f"checkpoint not found: {args.checkpoint}")
    out = export_checkpoint(args.checkpoint, args.out, half=not args.fp32)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0
