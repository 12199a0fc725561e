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
