"""A non-editable install carries its Hydra configs: `python -m emotalk.train` composes them from any folder.

The package is installed (no dependencies: they are the venv's) into a temporary target from a copy of the
source, so the test neither needs a checkout layout nor writes build folders into the working tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "src" / "emotalk" / "conf"


def _files(root: Path, pattern: str) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob(pattern) if "local" not in p.relative_to(root).parts}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install --no-deps --target`: the site folder holding a regular (non-editable) copy of emotalk."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "source"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "local")
    shutil.copytree(REPO / "src" / "emotalk", src / "src" / "emotalk", ignore=ignore)
    site = tmp / "site"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    cmd += ["--no-compile", "--disable-pip-version-check", "--target", str(site), str(src)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return site


def _run(site: Path, cwd: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(site), "EMOTALK_ROOT": str(cwd)}
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_the_install_ships_every_config_and_the_web_assets(installed: Path) -> None:
    pkg = installed / "emotalk"
    assert _files(CONF, "*.yaml") and _files(pkg / "conf", "*.yaml") == _files(CONF, "*.yaml")
    assert (pkg / "py.typed").is_file() and (pkg / "web" / "static" / "index.html").is_file()


def test_train_composes_an_experiment_from_an_unrelated_folder(installed: Path, tmp_path: Path) -> None:
    where = _run(installed, tmp_path, "-c", "import emotalk.train as t; print(t.__file__); print(t.CONF_DIR)")
    module, conf_dir = where.split()
    assert Path(module).is_relative_to(installed) and Path(conf_dir) == installed / "emotalk" / "conf"
    job = _run(installed, tmp_path, "-m", "emotalk.train", "experiment=smoke", "--cfg", "job")
    assert "stage_name: smoke" in job and "reference_other_clip: 0.5" in job and "seed: 42" in job
    assert not list(tmp_path.iterdir()), "--cfg job must not create run folders"


def test_local_overrides_come_from_a_config_dir(installed: Path, tmp_path: Path) -> None:
    """conf/local/ is git-ignored and absent from installs; `--config-dir DIR` supplies DIR/local/default.yaml."""
    local = tmp_path / "my_conf" / "local"
    local.mkdir(parents=True)
    (local / "default.yaml").write_text("# @package _global_\nseed: 7\ndata:\n  num_workers: 5\n")
    job = _run(installed, tmp_path, "-m", "emotalk.train", "--config-dir", str(local.parent), "--cfg", "job")
    assert "seed: 7" in job and "num_workers: 5" in job
