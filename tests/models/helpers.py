"""Helpers for the network tests: parameter counts and cheap fake checkpoints from the reference layouts."""

from __future__ import annotations

import torch
from torch import Tensor

#: Trainable parameters of each reference module (golden/README.md).
PARAM_COUNTS = {
    "wav2lip_generator": 36_298_035,
    "wav2lip_disc_qual": 14_113_793,
    "wav2lip_syncnet_color": 16_435_072,
    "emogen_generator": 36_826_419,
    "emogen_emotion_disc": 16_503_430,
    "syncnet_python_S": 13_631_616,
}


def fake_state_dict(layout: dict[str, list[int]], scale: float = 1e-3) -> dict[str, Tensor]:
    """A state_dict with exactly the reference keys and shapes; key i holds the constant (i + 1)·scale.

    Each tensor is a stride-0 view of one element, so a saved file stays tiny while every key keeps a value of its
    own: after loading, a parameter with the wrong key's value shows a mapping error.
    """
    sd: dict[str, Tensor] = {}
    for i, (key, shape) in enumerate(layout.items()):
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(i + 1)
        else:
            sd[key] = torch.tensor((i + 1) * scale).expand(shape)
    return sd


def generator_inputs(B: int, T: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Seeded generator clip inputs: mel windows [B, T, 1, 80, 16] and faces [B, 6, T, 96, 96]."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, 1, 80, 16, generator=g), torch.rand(B, 6, T, 96, 96, generator=g)


def shapes(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def calibrate_bn(module: torch.nn.Module, *inputs: object) -> torch.nn.Module:
    """Set every BatchNorm's running statistics from one batch, then switch to eval mode.

    Freshly initialised running statistics (mean 0, var 1) let activations drift through the deep U-Net in eval
    mode, so conditioning effects shrink to ~1e-6; calibrated statistics give a non-trivial, deterministic model.
    """
    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one batch sets the statistics exactly
    module.train()
    with torch.no_grad():
        module(*inputs)
    for m in bns:
        m.momentum = 0.1
    return module.eval()
