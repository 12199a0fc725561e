"""Stage hand-off: load the networks an earlier stage made (our checkpoints or the published files).

A missing file is a `ConfigError` that names the experiment that makes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from emotalk.errors import ConfigError
from emotalk.models.emotion import EmotionClassifier
from emotalk.models.generator import Generator
from emotalk.models.syncnet import SyncNet

#: The default model that ships inside the package (docs/models/README.md, its model card beside the files).
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "assets" / "models"
SHIPPED_GENERATOR = SHIPPED_DIR / "realface_base_grid.ckpt"
SHIPPED_EXPERT = SHIPPED_DIR / "syncnet_grid.ckpt"

#: stage kind -> the `stage` our LightningModules record in checkpoint["emotalk"]
_STAGE_OF = {"syncnet": "syncnet", "emotion": "emotion_classifier", "generator": "generator"}
#: stage kind -> (network class, state_dict prefix inside our LightningModule checkpoints)
_OURS: dict[str, tuple[type, str]] = {
    "syncnet": (SyncNet, "net."),
    "emotion": (EmotionClassifier, "net."),
    "generator": (Generator, "generator."),
}


def require(path: str | Path | None, what: str, experiment: str) -> Path:
    """The path of an earlier stage's checkpoint, or a clear error saying how to make it."""
    if not path:
        raise ConfigError(
            f"no {what} checkpoint configured; train it with `python -m emotalk.train "
            f"experiment={experiment}` or point the config at a file"
        )
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"{what} checkpoint not found: {p}. Train it first with `python -m emotalk.train "
            f"experiment={experiment}` (it publishes {p.name} in the stages folder), or set the path "
            "to an existing checkpoint"
        )
    return p


def read_ours(path: Path) -> dict[str, Any] | None:
    """Our Lightning checkpoint (with its "emotalk" record), or None for any other file."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not ours (or not a torch file): the published loaders give the precise error
        return None
    return ckpt if isinstance(ckpt, dict) and "emotalk" in ckpt and "state_dict" in ckpt else None


def load_net(path: str | Path | None, kind: str, what: str, experiment: str) -> torch.nn.Module:
    """Network `kind` (syncnet | emotion | generator) from our checkpoint or a published file, in eval mode."""
    p = require(path, what, experiment)
    ckpt = read_ours(p)
    if ckpt is not None:
        stage = ckpt["emotalk"].get("stage")
        if stage != _STAGE_OF[kind]:
            raise ConfigError(
                f"{p} is an emotalk {stage} checkpoint, but a {what} checkpoint is needed "
                f"here (made by experiment={experiment})"
            )
        cls, prefix = _OURS[kind]
        net = cls(**ckpt["emotalk"]["net"])
        sd = {k.removeprefix(prefix): v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
        if not sd:
            raise ConfigError(
                f"{p} is an emotalk {ckpt['emotalk'].get('stage')} checkpoint, not a {what} one; "
                f"use the checkpoint of experiment={experiment}"
            )
        net.load_state_dict(sd)
        return net.eval()
    from emotalk.models import weights

    loader = {
        "syncnet": weights.load_lipsync_expert,
        "emotion": weights.load_emotion_classifier,
        "generator": weights.load_generator,
    }[kind]
    return loader(p)


def checkpoint_spec(path: str | Path) -> dict[str, Any] | None:
    ckpt = read_ours(Path(path))
    return None if ckpt is None else ckpt["emotalk"].get("spec")
