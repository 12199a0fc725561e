"""The evaluation protocol's records: its settings, a source clip, the judges, and what one generated video scored.

Kept apart from protocol.py (the run) and protocol_table.py (the table) so both can name them without importing
each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emotalk.cremad import TEST_ACTORS
from emotalk.data.clips import ClipMeta
from emotalk.evaluate.emotion_acc import GATE

PAPER_TSNE_ACTOR = "1011"  # the paper's t-SNE subject (a test actor)


@dataclass
class EvalConfig:
    """Settings of one evaluation run (all of them are recorded in results.json)."""

    actors: tuple[str, ...] = TEST_ACTORS
    seed: int = 0
    max_clips: int | None = None
    min_track: int = 25
    min_face_size: float = 50.0
    lse_mode: str = "track"
    n_boot: int = 1000
    fid_boot: int = 50
    gate: float = GATE
    force: bool = False
    aggregate: str = "mean"
    gray: bool = False
    reconstruction: bool = True
    strength: float = 1.0
    tsne_actor: str = PAPER_TSNE_ACTOR
    device: str = "auto"
    fid_batch: int = 32
    fid_stride: int = 1  # FID on every k-th face frame (real and generated alike); 1 = all frames, as EmoGen

    def resolved_device(self) -> str:
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device


@dataclass
class EvalClip:
    """One source clip: its preprocessed folder and its raw video."""

    meta: ClipMeta
    folder: Path
    video: Path

    @property
    def clip_id(self) -> str:
        return self.meta.clip_id

    @property
    def emotion(self) -> str:
        assert self.meta.emotion is not None
        return self.meta.emotion

    @property
    def audio(self) -> Path:
        return self.folder / "audio.wav"

    def faces(self) -> tuple[np.ndarray, np.ndarray]:
        return np.load(self.folder / "faces.npy"), np.load(self.folder / "has_face.npy")


@dataclass
class VideoRecord:
    """Everything measured on one generated video (results.json "videos")."""

    experiment: str
    clip_id: str
    actor: str
    source_emotion: str
    emotion: str
    audio_clip: str
    kind: str  # "swap" (other audio, each emotion) | "recon" (own audio, own emotion)
    path: str
    n_frames: int = 0
    n_face_frames: int = 0
    lse_d: float | None = None
    lse_c: float | None = None
    offset: int | None = None
    lse_reason: str = ""
    emo_pred: str | None = None
    emo_windows: int = 0
    ssim: float | None = None
    psnr: float | None = None
    error: str = ""
    feature: list[float] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("feature")
        return d


@dataclass
class Judges:
    """The scoring networks, or why each is missing."""

    syncnet: nn.Module | None = None
    inception: nn.Module | None = None
    classifier: nn.Module | None = None
    notes: dict[str, str] = field(default_factory=dict)  # metric -> "n/a (no …)"
    feature_name: str = ""
