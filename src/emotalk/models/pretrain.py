"""How a generator starts (PRE and warm starts): from scratch, with a base model's face encoder (``init``,
``frozen``: the paper's PRE ablation), from every weight of an earlier run (``whole``), or warm-started from a
generator with fewer inputs (``warm``).

Why warm: a generator trained from scratch for a few minutes on a CPU draws a washed-out ghost of the face (issue #12);
the shipped real-face model already draws a face and moves a mouth. An EmoGen generator (emotion input, SEQ or
END fusion, LSTM noise) has the same U-Net plus extra *inputs*: the emotion embedding joins the audio embedding
([audio ; emotion]), the noise joins the face embedding, the END map joins the last decoder features, always
after the channels the base model has. So every weight the source has is copied, the weights that read the new
input channels start at zero, and the new encoders keep their fresh init: at step 0 the warm-started model is
exactly the source model (whatever the emotion), and training adds the emotion from there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from emotalk.errors import ConfigError
from emotalk.models.generator import Generator
from emotalk.models.stages import SHIPPED_GENERATOR, load_net, require

log = logging.getLogger(__name__)


@dataclass
class WarmStart:
    """What a warm start copied: tensors copied whole, tensors widened (new input channels at zero), left new."""

    source: str
    copied: list[str] = field(default_factory=list)
    widened: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"warm start from {self.source}: {len(self.copied)} tensors copied, {len(self.widened)} widened "
            f"(new input channels at zero), {len(self.new)} new (fresh init)"
        )


def resolve_source(checkpoint: str | Path | None) -> Path:
    """``shipped`` (or empty) means the package's real-face generator; anything else is a path."""
    if checkpoint in (None, "", "shipped"):
        return SHIPPED_GENERATOR
    return Path(checkpoint)


def _widen(own: Tensor, src: Tensor, key: str) -> Tensor:
    """`src` into the leading slice of the one dimension where `own` is larger; the rest zero."""
    diff = [d for d, (a, b) in enumerate(zip(own.shape, src.shape, strict=True)) if a != b]
    if len(diff) != 1 or own.shape[diff[0]] < src.shape[diff[0]]:
        raise ConfigError(
            f"warm start: {key} has shape {tuple(src.shape)} in the source and {tuple(own.shape)} here; only extra "
            "input channels can be added (same width, emotion/noise inputs on top of the source's)"
        )
    out = torch.zeros_like(own)
    out.narrow(diff[0], 0, src.shape[diff[0]]).copy_(src.to(own.dtype))
    return out


def warm_start(module: nn.Module, source: Mapping[str, Tensor], name: str = "source") -> WarmStart:
    """Load `source` (a generator state_dict) into `module` as far as it goes; see the module docstring.

    Raises ConfigError when a tensor differs other than by extra input channels (e.g. another width), or when the
    source has tensors the module lacks (the module must be the source plus inputs, not something else).
    """
    own = module.state_dict()
    unexpected = sorted(set(source) - set(own))
    if unexpected:
        raise ConfigError(f"warm start: {name} has weights this generator lacks: {unexpected[:5]}")
    report = WarmStart(name)
    merged: dict[str, Tensor] = {}
    for key, mine in own.items():
        if key not in source:
            report.new.append(key)
            merged[key] = mine
        elif source[key].shape == mine.shape:
            report.copied.append(key)
            merged[key] = source[key].to(mine.dtype)
        else:
            report.widened.append(key)
            merged[key] = _widen(mine, source[key], key)
    module.load_state_dict(merged)
    return report


def apply_pretrain(generator: Generator, pre: dict[str, Any]) -> WarmStart | None:
    """Start `generator` as ``pre = {mode, checkpoint}`` says; the `WarmStart` record for ``warm``, else None."""
    mode = pre["mode"]
    if mode in ("init", "frozen"):
        from emotalk.models.weights import load_face_encoder

        path = require(pre["checkpoint"], "base model", "base_lrs2_fullface")
        load_face_encoder(generator, path, freeze=mode == "frozen")
    elif mode == "whole":  # every generator weight from an earlier run (e.g. an L1-only warm-up)
        generator.load_state_dict(
            load_net(pre["checkpoint"], "generator", "warm-up generator", "base_grid").state_dict()
        )
    elif mode == "warm":  # every weight of a generator with fewer inputs (e.g. the shipped base model)
        src = resolve_source(pre["checkpoint"])
        base = load_net(src, "generator", "generator to warm-start from", "base_grid")
        report = warm_start(generator, base.state_dict(), str(src))
        log.info(report.summary())
        return report
    elif mode != "none":
        raise ValueError(f"pretrain.mode must be none, init, frozen, whole or warm, got {mode!r}")
    return None
