"""Fixtures for the evaluation tests: the real CREMA-D sample preprocessed once, the golden layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def cremad_pre(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The six real clips of actor 1001 (../shared/media/crema-d), preprocessed once per session."""
    from emotalk.data.preprocess import preprocess

    out = tmp_path_factory.mktemp("cremad_pre")
    report = preprocess("crema_d", media / "crema-d", out, workers=1, progress=False)
    assert report.n_done == 6, report.failures
    return out


@pytest.fixture(scope="session")
def layouts(golden: Path) -> dict[str, dict[str, list[int]]]:
    """{module name: {state_dict key: shape}} of the reference modules (golden JSON)."""
    return json.loads((golden / "reference_state_dicts.json").read_text())["modules"]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
