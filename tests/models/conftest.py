"""Fixtures for the network tests: the reference state_dict layouts (golden JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def layouts(golden: Path) -> dict[str, dict[str, list[int]]]:
    """{module name: {state_dict key: shape}} of every reference module, in the reference's key order."""
    return json.loads((golden / "reference_state_dicts.json").read_text())["modules"]


@pytest.fixture
def one_thread():
    """Tiny nets run faster on one thread, and do not stall when other jobs share the two cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
