"""Missing outside resources skip locally but fail under CI=true (tests/conftest.py: skip_or_fail)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NEEDS_GOLDEN_AND_MEDIA = "tests/audio/test_mel.py::test_matches_reference_golden"


def _pytest(shared: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"EMOTALK_SHARED": str(shared)}
    if ci is not None:
        env["CI"] = ci
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", NEEDS_GOLDEN_AND_MEDIA]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_missing_shared_folder_skips_locally_and_fails_under_ci(tmp_path: Path) -> None:
    local = _pytest(tmp_path / "no_shared", ci=None)
    assert local.returncode == 0 and "2 skipped" in local.stdout, local.stdout[-2000:]
    ci = _pytest(tmp_path / "no_shared", ci="true")
    assert ci.returncode == 1 and "2 error" in ci.stdout, ci.stdout[-2000:]
    assert "CI=true: a missing resource is a failure" in ci.stdout and "golden reference files" in ci.stdout
