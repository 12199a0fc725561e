"""Loss-term accounting, the download-free perceptual kinds and the relative sync threshold (issue 12), no data."""

from __future__ import annotations

import pytest
import torch

from emotalk.data.batch import GeneratorBatch
from emotalk.lit.gan import TERMS, GANModule
from emotalk.models.discriminator import QualityDiscriminator
from emotalk.models.losses import expert_face_features, feature_matching_loss
from emotalk.models.syncnet import SyncNet

W = 0.25


def _batch(b: int = 2, seed: int = 0) -> GeneratorBatch:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(b, 3, 5, 96, 96, generator=g)
    return GeneratorBatch(
        target=target,
        masked=torch.zeros_like(target),
        reference=torch.rand(b, 3, 5, 96, 96, generator=g),
        indiv_mels=torch.randn(b, 5, 1, 80, 16, generator=g),
        mel=torch.randn(b, 1, 80, 16, generator=g),
        emotion=torch.tensor([0, 3])[:b],
        level=torch.zeros(b, dtype=torch.long),
    )


def test_feature_matching_is_zero_for_equal_features_and_scale_free():
    torch.manual_seed(0)
    a, b = [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)], [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]
    assert float(feature_matching_loss(a, a)) == 0.0
    loss = feature_matching_loss(a, b)
    assert float(loss) > 0.5  # independent draws: relative error of order 1
    # Normalised per layer: the same relative error whatever the features' magnitude (VGG vs a small disc).
    torch.testing.assert_close(feature_matching_loss([x * 100 for x in a], [x * 100 for x in b]), loss)
    with pytest.raises(ValueError):
        feature_matching_loss(a, b[:1])


def test_feature_taps_have_the_documented_sizes():
    clip = torch.rand(2, 3, 5, 96, 96)
    feats = QualityDiscriminator(width=W).features(clip)
    assert [tuple(f.shape[-2:]) for f in feats] == [(48, 96), (48, 48), (24, 24), (12, 12)]
    assert feats[0].shape[0] == 10  # one row per frame (B*T)
    ex = expert_face_features(SyncNet(width=W).eval(), clip)
    assert [tuple(f.shape[-2:]) for f in ex] == [(46, 47), (23, 24), (12, 12), (6, 6)]


def test_disc_features_trains_the_generator_only_and_is_named():
    torch.manual_seed(0)
    m = GANModule(generator={"width": W}, loss={"beta": 0.5}, perceptual={"kind": "disc_features"})
    assert m.perceptual_kind == "disc_features" and m.adversarial is not None  # the discriminator comes along
    assert m.active_terms["perceptual"] and not m.active_terms["adversarial"]  # its adversarial weight stays 0
    b = _batch()
    fake = m.generator(b.indiv_mels, b.gen_input, b.emotion)
    losses, weights = m.generator_losses(fake, b, train=True)
    assert weights == pytest.approx({"l1": 0.5, "perceptual": 0.5}) and float(losses["perceptual"]) > 0
    losses["loss"].backward()
    assert all(p.grad is None for p in m.adversarial.parameters())  # features ran with detached weights
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.generator.parameters())
    # The same fake and target give zero: the term compares the generated clip with its own target.
    same, _ = m.generator_losses(b.target.clone(), b, train=True)
    assert float(same["perceptual"]) == 0.0


def test_without_vgg_weights_or_expert_the_term_is_off_and_never_live():
    for kind in ("vgg19", "expert_features"):
        m = GANModule(generator={"width": W}, loss={"beta": 0.01}, perceptual={"kind": kind})
        assert m.perceptual_kind is None and not m.active_terms["perceptual"]
        acc = m.term_accounting()
        assert acc["perceptual"] == {"weight": 0.01, "armed": False, "live": False, "from_step": "never", "kind": "off"}
    with pytest.raises(ValueError, match="disc_features"):
        GANModule(generator={"width": W}, perceptual={"kind": "vgg16"})


def test_accounting_reads_the_buffers_and_they_are_checkpoint_state():
    m = GANModule(generator={"width": W})
    acc = m.term_accounting()
    assert all(acc[t]["live"] is False and acc[t]["from_step"] == "never" for t in TERMS)
    assert acc["sync"]["switch_step"] == "never"
    m.term_from_step[TERMS.index("l1")] = 0
    m.sync_switch_step.fill_(12)
    m.sync_switched.fill_(True)
    sd = m.state_dict()
    assert {"sync_switch_step", "term_from_step", "sync_switched"} <= set(sd)
    m2 = GANModule(generator={"width": W})
    m2.load_state_dict(sd)
    acc2 = m2.term_accounting()
    assert acc2["l1"]["live"] and acc2["l1"]["from_step"] == 0 and acc2["sync"]["switch_step"] == 12
    assert acc2["sync"]["live"] is False  # switched at the last validation, but no training step used it yet
    # A checkpoint from before term accounting loads, with "never" filled in.
    old = {"state_dict": {k: v for k, v in sd.items() if k not in ("sync_switch_step", "term_from_step")}}
    m2.on_load_checkpoint(old)
    assert int(old["state_dict"]["sync_switch_step"]) == -1 and (old["state_dict"]["term_from_step"] == -1).all()


def test_sync_threshold_absolute_or_relative_to_the_real_windows():
    assert GANModule(generator={"width": W}).sync_threshold(0.2) == 0.75  # the paper's rule stays the default
    rel = GANModule(generator={"width": W}, loss={"sync_threshold_mode": "relative", "sync_threshold_rel": 1.5})
    assert rel.sync_threshold(0.4) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="absolute or relative"):
        GANModule(generator={"width": W}, loss={"sync_threshold_mode": "ratio"})
