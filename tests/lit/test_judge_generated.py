"""benchmarks.learning.judge_generated: issue 12's whole-clip judges, including the experts it never trained with."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import torch

from emotalk.benchmarks.learning import INDEPENDENT_SYNC, judge_generated


def _stages(tiny_stages: Path, tmp: Path, independent_expert: Path | None) -> Path:
    stages = tmp / "judges"
    stages.mkdir(parents=True)
    for name in ("syncnet.ckpt", "emotion_classifier.ckpt"):
        shutil.copy(tiny_stages / name, stages / name)
    if independent_expert is not None:
        shutil.copy(independent_expert, stages / f"{INDEPENDENT_SYNC}.ckpt")
    return stages


def _perturbed_expert(src: Path, dest: Path) -> Path:
    """Another expert: the same checkpoint with noise on every convolution of its face encoder."""
    ckpt = torch.load(src, map_location="cpu", weights_only=False)
    gen = torch.Generator().manual_seed(0)
    for key, value in ckpt["state_dict"].items():
        if "face_encoder" in key and value.dim() == 4:
            ckpt["state_dict"][key] = value + 0.5 * value.std() * torch.randn(value.shape, generator=gen)
    torch.save(ckpt, dest)
    return dest


def test_independent_expert_scores_the_same_clips_with_its_own_network(tiny_stages, synthetic_pre, tmp_path):
    generator = tiny_stages / "base_lrs2_fullface.ckpt"
    alone = judge_generated(generator, _stages(tiny_stages, tmp_path / "a", None), synthetic_pre, max_clips=1)
    assert "sync_conf_share_independent" not in alone
    assert alone["clips"] > 0 and 0.0 <= alone["requested_acc"] <= 1.0

    twin = judge_generated(
        generator, _stages(tiny_stages, tmp_path / "b", tiny_stages / "syncnet.ckpt"), synthetic_pre, max_clips=1
    )
    for key in ("sync_conf_real", "sync_conf_generated"):
        assert math.isclose(twin[f"{key}_independent"], twin[key], rel_tol=1e-5), key

    other = _perturbed_expert(tiny_stages / "syncnet.ckpt", tmp_path / "other.ckpt")
    both = judge_generated(generator, _stages(tiny_stages, tmp_path / "c", other), synthetic_pre, max_clips=1)
    assert math.isclose(both["sync_conf_real"], alone["sync_conf_real"], rel_tol=1e-5)
    assert not math.isclose(both["sync_conf_real_independent"], both["sync_conf_real"], rel_tol=1e-3)
