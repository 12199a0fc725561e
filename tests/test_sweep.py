"""Multirun job folders: one level deep, named by the swept values, with every override kept in `.hydra/`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from emotalk.sweep import MAX_NAME, sweep_subdir, swept_keys


def test_swept_keys_come_from_sweep_syntax_and_the_sweeper_params() -> None:
    keys = swept_keys(["experiment=smoke", "data.root=/a/b", "loss.beta=0.0,0.02", "seed=range(2)"], {"loss.gamma": 1})
    assert keys == {"loss.beta", "seed", "loss.gamma"}


def test_subdir_names_only_the_swept_values_in_one_folder() -> None:
    overrides = ["experiment=smoke", "data.root=/abs/data/synthetic_pre", "loss.beta=0.02", "seed=3"]
    assert sweep_subdir(4, overrides, frozenset({"loss.beta", "seed"})) == "4_loss.beta=0.02,seed=3"
    assert sweep_subdir(0, overrides, frozenset()) == "0"
    swept_path = sweep_subdir(1, ["data.root=/x/y"], frozenset({"data.root"}))
    assert "/" not in swept_path and swept_path == "1_data.root=_x_y"
    long = sweep_subdir(2, [f"a.b={'v' * 400}"], frozenset({"a.b"}))
    assert len(long.encode()) <= MAX_NAME + 2 and long != sweep_subdir(2, [f"a.b={'v' * 401}"], frozenset({"a.b"}))


def test_two_job_multirun_with_an_absolute_data_root(tmp_path: Path, synthetic_pre: Path) -> None:
    """The README's sweep (fast_dev_run, tiny): folders `0_model.lr=...` and `1_model.lr=...`, not a path tree."""
    assert synthetic_pre.is_absolute()
    root = tmp_path / "root"
    cmd = [
        sys.executable, "-m", "emotalk.train", "-m", "experiment=syncnet", "debug=fdr", "scale=tiny",
        "logger=none", "print_config=false", f"data.root={synthetic_pre}", "data.batch_size=2",
        "data.val_samples=2", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
        "model.lr=0.001,0.002",
    ]  # fmt: skip
    env = {**os.environ, "EMOTALK_ROOT": str(root), "WANDB_MODE": "offline"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (root / "outputs" / "train" / "syncnet").glob("multirun_*")
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0_model.lr=0.001", "1_model.lr=0.002"]
    for job, lr in zip(jobs, (0.001, 0.002), strict=True):
        assert (job / "metrics.json").is_file() and (job / "config.yaml").is_file()
        assert yaml.safe_load((job / "config.yaml").read_text())["model"]["lr"] == lr
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        assert f"data.root={synthetic_pre}" in overrides and "experiment=syncnet" in overrides


def test_optuna_search_space_keys_name_the_trial_folders() -> None:
    """hparams_search=optuna sweeps hydra.sweeper.params: SweptKeys records them, the folder shows their values."""
    from hydra import compose, initialize_config_dir

    import emotalk.sweep as sweep
    from emotalk.train import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", ["hparams_search=optuna", "data.root=/abs/data"], return_hydra_config=True)
    before = sweep._swept
    try:
        sweep.SweptKeys().on_multirun_start(config=cfg)
        assert sweep._swept == {"loss.beta", "loss.gamma"}
        trial = ["hparams_search=optuna", "data.root=/abs/data", "loss.beta=0.01", "loss.gamma=0.002"]
        assert sweep_subdir(3, trial) == "3_loss.beta=0.01,loss.gamma=0.002"
    finally:
        sweep._swept = before
