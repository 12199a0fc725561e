"""Helpers to compose and run training configs in-process (Hydra compose API, no run folder magic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

CONF = str(Path(__file__).resolve().parents[2] / "src" / "emotalk" / "conf")


def make_cfg(overrides: list[str], out: Path, stages: Path, data_root: Path) -> DictConfig:
    base = [
        "logger=none",
        "scale=tiny",
        "print_config=false",
        f"paths.output_dir={out}",
        f"paths.stages_dir={stages}",
        f"data.root={data_root}",
        "data.num_workers=0",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
    ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=base + overrides)
    with open_dict(cfg):
        cfg.paths.root_dir = str(out)
    return cfg


@pytest.fixture(scope="session")
def compose_cfg():
    """make_cfg(overrides, out, stages, data_root) for module- and session-scoped fixtures."""
    return make_cfg


@pytest.fixture
def run_train(tmp_path: Path, synthetic_pre: Path):
    """run_train(overrides, stages=None, name="run") -> (metrics, output folder)."""
    from emotalk.train import train

    def _run(overrides: list[str], stages: Path | None = None, name: str = "run") -> tuple[dict[str, Any], Path]:
        out = tmp_path / name
        cfg = make_cfg(overrides, out, stages or tmp_path / "stages", synthetic_pre)
        return train(cfg), out

    return _run


@pytest.fixture(scope="session")
def tiny_stages(tmp_path_factory: pytest.TempPathFactory, synthetic_pre: Path) -> Path:
    """Published tiny expert, classifier and whole-face base model (a few steps each: wiring, not quality)."""
    from emotalk.train import train

    stages = tmp_path_factory.mktemp("stages")
    for exp in ("syncnet", "emotion_classifier", "base_lrs2_fullface"):
        out = tmp_path_factory.mktemp(exp)
        cfg = make_cfg(
            [
                f"experiment={exp}",
                "trainer.max_steps=2",
                "trainer.max_epochs=1",
                "data.batch_size=4",
                "data.samples_per_epoch=8",
                "data.val_samples=4",
                "test=false",
            ],
            out,
            stages,
            synthetic_pre,
        )
        train(cfg)
        assert (stages / f"{exp}.ckpt").is_file()
    return stages
