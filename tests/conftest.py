"""Shared fixtures: the real clips in ../shared/media and tiny seeded media made in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
torch.set_num_threads(2)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMOTALK_SHARED", REPO.parent / "shared"))
MEDIA = SHARED / "media"
GOLDEN = SHARED / "golden"


@pytest.fixture(scope="session")
def media() -> Path:
    if not (MEDIA / "SOURCES.md").is_file():
        pytest.skip(f"real test media not found at {MEDIA} (set EMOTALK_SHARED to the shared/ folder)")
    return MEDIA


@pytest.fixture(scope="session")
def golden() -> Path:
    if not (GOLDEN / "README.md").is_file():
        pytest.skip(f"golden reference values not found at {GOLDEN} (set EMOTALK_SHARED)")
    return GOLDEN


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
