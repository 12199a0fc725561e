"""The optional cosine learning-rate decay of the stage modules."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
import torch

from emotalk.lit.common import adam, with_schedule


def _module(steps: int) -> SimpleNamespace:
    return SimpleNamespace(trainer=SimpleNamespace(estimated_stepping_batches=steps))


def test_constant_is_the_bare_optimizer():
    opt = adam([torch.nn.Parameter(torch.zeros(2))], 1e-3, (0.5, 0.999))
    assert with_schedule(_module(10), opt) is opt


def test_cosine_decays_to_zero_over_the_run():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = adam([p], 1e-3, (0.5, 0.999))
    cfg = with_schedule(_module(10), opt, "cosine")
    assert cfg["lr_scheduler"]["interval"] == "step"
    sched, lrs = cfg["lr_scheduler"]["scheduler"], []
    for _ in range(10):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert all(a > b for a, b in itertools.pairwise(lrs))
    assert lrs[4] == pytest.approx(0.5e-3, rel=0.05) and lrs[-1] == pytest.approx(0.0, abs=1e-9)


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="cosine"):
        with_schedule(_module(10), adam([torch.nn.Parameter(torch.zeros(1))], 1e-3, (0.5, 0.999)), "step")
