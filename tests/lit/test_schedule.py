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


def test_expert_continues_from_a_checkpoint_with_its_weights(tmp_path):
    """`model.init_checkpoint` starts a second expert phase from the first one's weights (fp16 exports too)."""
    from emotalk.lit.syncnet import SyncNetModule

    first = SyncNetModule(width=0.125)
    ckpt = {
        "emotalk": {"stage": "syncnet", "spec": first.spec.to_dict(), "net": first.net_config()},
        "state_dict": {f"net.{k}": v.half() for k, v in first.net.state_dict().items()},
    }
    torch.save(ckpt, tmp_path / "expert.ckpt")
    fresh = SyncNetModule(width=0.125)
    resumed = SyncNetModule(width=0.125, init_checkpoint=str(tmp_path / "expert.ckpt"), schedule="cosine")
    w0, w1, w2 = (m.net.state_dict() for m in (first, fresh, resumed))
    key = next(k for k in w0 if k.endswith("weight"))
    assert torch.allclose(w2[key], w0[key].half().float()) and not torch.allclose(w1[key], w0[key])
    assert all(v.dtype == torch.float32 for v in w2.values() if v.is_floating_point())


def test_expert_refuses_a_generator_checkpoint_to_continue_from(tmp_path):
    from emotalk.errors import ConfigError
    from emotalk.lit.syncnet import SyncNetModule

    torch.save({"emotalk": {"stage": "generator", "net": {}}, "state_dict": {}}, tmp_path / "g.ckpt")
    with pytest.raises(ConfigError, match="generator checkpoint"):
        SyncNetModule(width=0.125, init_checkpoint=str(tmp_path / "g.ckpt"))
