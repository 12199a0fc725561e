"""Shared fixtures: the real clips in ../shared/media and tiny seeded media made in tmp_path.

Outside resources (../shared media, golden values and data sets, a browser) skip the tests that need them when
they are absent, except under `CI=true`, where `skip_or_fail` fails them: CI must not pass with part of the suite
silently skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
torch.set_num_threads(2)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMOTALK_SHARED", REPO.parent / "shared"))
MEDIA = SHARED / "media"
GOLDEN = SHARED / "golden"
DATASETS = SHARED / "datasets"
GOLDEN_FILES = ("README.md", "mel_1001_DFA_ANG_XX.npy", "mel_hdtf_RD_Radio31_000.npy", "reference_state_dicts.json")
STRICT = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> NoReturn:
    """Skip a test whose outside resource is missing; fail it under CI=true (the one place this is decided)."""
    if STRICT:
        pytest.fail(f"{reason} [CI=true: a missing resource is a failure, not a skip]", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def missing_resource() -> Callable[[str], NoReturn]:
    """`skip_or_fail` for test modules (which cannot import this conftest)."""
    return skip_or_fail


@pytest.fixture(scope="session")
def media() -> Path:
    if not (MEDIA / "SOURCES.md").is_file():
        skip_or_fail(f"real test media not found at {MEDIA} (set EMOTALK_SHARED to the shared/ folder)")
    return MEDIA


@pytest.fixture(scope="session")
def golden() -> Path:
    missing = [name for name in GOLDEN_FILES if not (GOLDEN / name).is_file()]
    if missing:
        skip_or_fail(f"golden reference files {missing} not found in {GOLDEN} (set EMOTALK_SHARED)")
    return GOLDEN


@pytest.fixture(scope="session")
def datasets() -> Path:
    """../shared/datasets: small real corpora (GRID)."""
    if not DATASETS.is_dir():
        skip_or_fail(f"shared data sets not found at {DATASETS} (set EMOTALK_SHARED to the shared/ folder)")
    return DATASETS


@pytest.fixture(scope="session")
def synthetic_pre(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small preprocessed synthetic CREMA-D: 5 actors (3 train, 1006 val, 1011 test) x 16 clips of 2 s."""
    from emotalk.data.preprocess import preprocess
    from emotalk.data.synthetic import synthesize

    raw = tmp_path_factory.mktemp("synthetic_raw")
    pre = tmp_path_factory.mktemp("synthetic_pre")
    synthesize(raw, actors=5, seed=0, sentences=1, duration=2.0, workers=2, progress=False)
    report = preprocess("crema_d", raw, pre, workers=2, progress=False)
    assert not report.failures, report.failures
    return pre
