"""Emotion classifier (DISCEMO): reference layout, any T, the Q1 compatibility switch, Xavier init."""

from __future__ import annotations

import math

import pytest
import torch

from emotalk.models.blocks import param_count
from emotalk.models.emotion import EmotionClassifier

from .helpers import PARAM_COUNTS, shapes


def test_reference_layout_and_param_count(layouts):
    clf = EmotionClassifier()
    assert shapes(clf) == layouts["emogen_emotion_disc"]
    assert list(clf.state_dict()) == list(layouts["emogen_emotion_disc"])
    assert param_count(clf) == PARAM_COUNTS["emogen_emotion_disc"]


@pytest.fixture(scope="module")
def small() -> EmotionClassifier:
    torch.manual_seed(0)
    return EmotionClassifier(width=0.25).eval()


@pytest.mark.parametrize(("B", "T"), [(1, 1), (2, 5), (3, 7)])
def test_shapes_any_T(small, B, T):
    video = torch.rand(B, 3, T, 96, 96)
    with torch.no_grad():
        assert small(video).shape == (B, 6)
        assert small.features(video).shape == (B, 128)
        assert small.frame_features(video).shape == (B, T, 128)


def test_default_layout_sees_real_colour_frames(small):
    """Each folded image is one colour frame: a frame's features do not depend on the other frames, and
    reordering time reorders the per-frame features the same way."""
    video = torch.rand(2, 3, 5, 96, 96)
    perm = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        feats = small.frame_features(video)
        alone = torch.stack([small.frame_features(video[:, :, t : t + 1])[:, 0] for t in range(5)], dim=1)
        shuffled = small.frame_features(video[:, :, perm])
    torch.testing.assert_close(feats, alone, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(shuffled, feats[:, perm], atol=1e-5, rtol=1e-4)


def test_reference_layout_reproduces_the_view_quirk(small):
    """reference_layout=True = the reference's `.view(t·n, c, w, h)` without permute (Q1), on the same weights."""
    ref = EmotionClassifier(width=0.25, reference_layout=True).eval()
    ref.load_state_dict(small.state_dict())
    video = torch.rand(2, 3, 5, 96, 96)
    with torch.no_grad():
        ours, theirs = small(video), ref(video)
        # the reference's forward, written out by hand
        x = video.contiguous().view(5 * 2, 3, 96, 96)
        for i in range(1, 6):
            x = getattr(ref, f"conv_{i}")(x)
        h, _ = ref.rnn_1(ref.projector(x.view(2, 5, -1)))
        by_hand = ref.cls(h[:, -1, :])
        # and with the scrambled layout a frame's features do depend on the other frames
        alone = ref.frame_features(video[:, :, :1])[:, 0]
    torch.testing.assert_close(theirs, by_hand)
    assert (ours - theirs).abs().max() > 1e-4
    assert not torch.allclose(ref.frame_features(video)[:, 0], alone, atol=1e-4)


def test_xavier_uniform_init():
    clf = EmotionClassifier()
    for name, w in [("conv_1.0", clf.conv_1[0].weight), ("projector.0", clf.projector[0].weight)]:
        fan_in = w.shape[1] * w[0, 0].numel()
        fan_out = w.shape[0] * w[0, 0].numel()
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert w.abs().max() <= bound, name
        assert w.abs().max() > 0.95 * bound, name
        # PyTorch's default bound 1/√fan_in differs by ≥ 2x for both layers, so the default init would fail here
        assert abs(math.log(bound * math.sqrt(fan_in))) > math.log(1.9), name


def test_bad_input(small):
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"):
        small(torch.rand(2, 6, 5, 96, 96))
