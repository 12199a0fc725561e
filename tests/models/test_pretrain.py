"""Warm start (models.pretrain): an emotion/noise generator begins as exactly the base generator it starts from."""

from __future__ import annotations

import pytest
import torch

from emotalk.errors import ConfigError
from emotalk.models.generator import Generator
from emotalk.models.pretrain import warm_start

from .helpers import calibrate_bn, generator_inputs

W = 0.25


@pytest.fixture(scope="module")
def base() -> Generator:
    torch.manual_seed(0)
    audio, face = generator_inputs(4, 3, seed=9)
    return calibrate_bn(Generator(width=W, emotion=False), audio, face, None)


@pytest.mark.parametrize(("fusion", "noise"), [("seq", "off"), ("end", "off"), ("seq", "lstm")])
def test_warm_started_generator_is_the_base_at_step_zero(base, fusion, noise):
    torch.manual_seed(1)
    gen = Generator(width=W, emotion=True, fusion=fusion, noise=noise)
    audio, face = generator_inputs(2, 3, seed=4)
    with torch.no_grad():
        cold = gen.eval()(audio, face, torch.tensor([3, 3]))
    report = warm_start(gen, base.state_dict(), "base")
    assert report.widened and report.new and len(report.copied) > 100
    assert all(k.startswith(("emotion_", "noise_")) for k in report.new)
    with torch.no_grad():
        want = base.eval()(audio, face)
        outs = [gen.eval()(audio, face, torch.tensor([e, e])) for e in range(6)]
    assert not torch.allclose(cold, want, atol=1e-3)  # a fresh model draws something else...
    for out in outs:  # ...the warm-started one draws the base's face whatever the emotion, until it trains
        torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)


def test_the_new_inputs_are_trainable_after_a_warm_start(base):
    """Zero weights on the new channels still get gradients, so the emotion input can be learned."""
    gen = Generator(width=W, emotion=True)
    warm_start(gen, base.state_dict())
    audio, face = generator_inputs(2, 3, seed=5)
    gen.train()(audio, face, torch.tensor([0, 4])).mean().backward()
    first = gen.face_decoder_blocks[0][0].conv_block[0].weight  # reads [audio ; emotion]
    assert first.grad[:, first.shape[1] // 2 :].abs().sum() > 0
    assert gen.emotion_encoder[0].weight.grad is None or gen.emotion_encoder[0].weight.grad.abs().sum() == 0


def test_a_different_width_or_foreign_weights_are_refused(base):
    with pytest.raises(ConfigError, match="only extra input channels"):
        warm_start(Generator(width=0.5, emotion=True), base.state_dict())
    with pytest.raises(ConfigError, match="lacks"):
        warm_start(Generator(width=W, emotion=False), Generator(width=W, emotion=True).state_dict())
