"""Batches are dataclasses with named fields (not tuples). Video tensors are [B, 3, T, H, W], BGR in [0, 1].

Lightning moves dataclass batches between devices field by field (apply_to_collection).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class GeneratorBatch:
    """One generator training window (mission.md §3)."""

    target: Tensor  # [B, 3, T, H, W] frames f..f+T-1
    masked: Tensor  # [B, 3, T, H, W] target with the mask applied (full: zeros; lower_half: rows H/2: zeroed)
    reference: Tensor  # [B, 3, T, H, W] T frames from another start of the same clip
    indiv_mels: Tensor  # [B, T, 1, M, S] per-frame audio windows
    mel: Tensor  # [B, 1, M, S] the window of frames f..f+T-1, for the sync loss
    emotion: Tensor  # [B] long, index into spec.EMOTIONS (-1: unlabelled)
    level: Tensor  # [B] long, index into spec.LEVELS (-1: unlabelled)

    @property
    def gen_input(self) -> Tensor:
        """[B, 6, T, H, W]: masked target then reference on channels (the generator's face input)."""
        return torch.cat([self.masked, self.reference], dim=1)

    def __len__(self) -> int:
        return self.target.shape[0]


@dataclass
class SyncBatch:
    """Expert SyncNet pair: in-sync (label 1) or off-sync (label 0) face window against one audio window."""

    face: Tensor  # [B, 3, T, H, W] full frames; the expert takes the lower half itself
    mel: Tensor  # [B, 1, M, S]
    label: Tensor  # [B] float

    def __len__(self) -> int:
        return self.face.shape[0]


@dataclass
class ClipBatch:
    """Emotion-classifier clip: T consecutive full-face frames and the clip's label."""

    frames: Tensor  # [B, 3, T, H, W]
    emotion: Tensor  # [B] long
    level: Tensor  # [B] long
    clip: Tensor | None = None  # [B] long, the window's clip within its split (clip-level accuracy)

    def __len__(self) -> int:
        return self.frames.shape[0]
