"""Visual-quality discriminator: reference layout, per-frame time-major scores, BCE wrapper."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from emotalk.models.blocks import param_count
from emotalk.models.discriminator import AdversarialLoss, QualityDiscriminator

from .helpers import PARAM_COUNTS, shapes


def test_reference_layout_and_param_count(layouts):
    disc = QualityDiscriminator()
    assert shapes(disc) == layouts["wav2lip_disc_qual"]
    assert list(disc.state_dict()) == list(layouts["wav2lip_disc_qual"])
    assert param_count(disc) == PARAM_COUNTS["wav2lip_disc_qual"]


def test_per_frame_scores_time_major():
    torch.manual_seed(0)
    disc = QualityDiscriminator(width=0.125)
    clip = torch.rand(2, 3, 3, 96, 96)
    with torch.no_grad():
        p = disc(clip)
        frame = disc(clip[1:2, :, 2])  # item b=1, frame t=2 → row t·B + b = 5
        top_changed = clip.clone()
        top_changed[:, :, :, :48] = 0  # only the lower half is judged
    assert p.shape == (6, 1) and p.min() > 0 and p.max() < 1
    torch.testing.assert_close(frame[0], p[5])
    with torch.no_grad():
        torch.testing.assert_close(disc(top_changed), p)


def test_adversarial_loss_is_reference_bce():
    torch.manual_seed(0)
    disc = QualityDiscriminator(width=0.125)
    adv = AdversarialLoss(disc)
    real = torch.rand(1, 3, 2, 96, 96)
    fake = torch.rand(1, 3, 2, 96, 96, requires_grad=True)
    with torch.no_grad():
        pr, pf = disc(real), disc(fake)
    expected_d = F.binary_cross_entropy(pr, torch.ones_like(pr)) + F.binary_cross_entropy(pf, torch.zeros_like(pf))
    torch.testing.assert_close(adv.d_loss(real, fake), expected_d)
    torch.testing.assert_close(adv.g_loss(fake), F.binary_cross_entropy(pf, torch.ones_like(pf)))
    adv.d_loss(real, fake).backward()
    assert fake.grad is None  # the D step does not reach the generator
    adv.g_loss(fake).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
