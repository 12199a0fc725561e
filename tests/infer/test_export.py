"""`emotalk export` (small fp16 inference copies) and which generator runs when no --checkpoint is given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emotalk.cli import main as cli_main
from emotalk.errors import ConfigError
from emotalk.infer import model as model_mod
from emotalk.infer.export import export_checkpoint
from emotalk.infer.model import default_checkpoint, load_generator
from generator_ckpt import calibrated_generator, save_ours


def _training_like(path: Path) -> Path:
    """Our generator checkpoint plus what a Lightning run adds (optimizer state, a frozen expert's weights)."""
    save_ours(calibrated_generator(width=0.25), path, mask_mode="lower_half")
    ckpt = torch.load(path, weights_only=False)
    ckpt["state_dict"]["expert.w"] = torch.randn(256, 256)
    ckpt["optimizer_states"] = [{"state": {0: {"exp_avg": torch.randn(512, 512)}}}]
    torch.save(ckpt, path)
    return path


def test_export_keeps_the_generator_in_fp16_and_loads_the_same(tmp_path: Path) -> None:
    full = _training_like(tmp_path / "last.ckpt")
    small = tmp_path / "small.ckpt"
    assert cli_main(["export", "--checkpoint", str(full), "--out", str(small)]) == 0
    assert small.stat().st_size < 0.5 * full.stat().st_size  # fp16, no optimizer or judge weights
    sd = torch.load(small, weights_only=True)["state_dict"]
    assert all(k.startswith("generator.") for k in sd) and {v.dtype for v in sd.values() if v.is_floating_point()} == {
        torch.float16
    }
    a, b = load_generator(full), load_generator(small)
    assert b.mask_mode == "lower_half" and b.source == "emotalk"
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (4, 96, 96, 3), dtype=np.uint8)
    mels = rng.normal(size=(4, 80, 16)).astype(np.float32)
    emo = np.eye(6, dtype=np.float32)[[0, 1, 2, 3]]
    diff = np.abs(a(crops, mels, emo).astype(int) - b(crops, mels, emo).astype(int))
    assert diff.mean() < 1.0 and diff.max() <= 8  # fp16 weights: the same faces within a few grey levels


def test_export_refuses_a_foreign_file(tmp_path: Path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "x.pth")
    with pytest.raises(ConfigError, match="not an emotalk checkpoint"):
        export_checkpoint(tmp_path / "x.pth", tmp_path / "y.ckpt")


def test_default_checkpoint_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = tmp_path / "shipped.ckpt"
    monkeypatch.setattr(model_mod, "SHIPPED_GENERATOR", shipped)
    monkeypatch.delenv("EMOTALK_CHECKPOINT", raising=False)
    assert default_checkpoint() == (None, "")  # nothing shipped here
    shipped.write_bytes(b"x")
    path, source = default_checkpoint()
    assert path == shipped and "shipped default" in source
    monkeypatch.setenv("EMOTALK_CHECKPOINT", "env.ckpt")
    assert default_checkpoint() == (Path("env.ckpt"), "$EMOTALK_CHECKPOINT")
    assert default_checkpoint("flag.ckpt") == (Path("flag.ckpt"), "--checkpoint")
    monkeypatch.setenv("EMOTALK_CHECKPOINT", "none")
    assert default_checkpoint() == (None, "")
