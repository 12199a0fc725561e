"""ClipAccuracy scores clips by their mean window logits, as EmoAcc and its gate do."""

from __future__ import annotations

import pytest
import torch

from emotalk.lit.metrics import ClipAccuracy


def test_clip_accuracy_uses_mean_logits_per_clip_not_window_majority():
    m = ClipAccuracy()
    # Clip 0 (label 2): two weak wrong windows, one confident right one -> the mean says 2 (right), the
    # window majority says 0 (wrong). Clip 1 (label 1): both windows say 3 (wrong).
    weak_wrong, sure_right, wrong = [1.0, 0, 0.9, 0, 0, 0], [0, 0, 5.0, 0, 0, 0], [0, 0, 0, 2.0, 0, 0]
    logits = torch.tensor([weak_wrong, weak_wrong, sure_right, wrong, wrong])
    labels = torch.tensor([2, 2, 2, 1, 1])
    clips = torch.tensor([0, 0, 0, 1, 1])
    m.update(logits[:2], labels[:2], clips[:2])  # a clip may span batches
    m.update(logits[2:], labels[2:], clips[2:])
    assert m.compute().item() == pytest.approx(0.5)
    window_acc = (logits.argmax(1) == labels).float().mean().item()
    assert window_acc == pytest.approx(0.2)  # the window metric disagrees: this is a different number
    m.reset()
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert torch.isnan(m.compute())


def test_clip_accuracy_refuses_a_clip_with_two_labels():
    m = ClipAccuracy()
    m.update(torch.zeros(2, 6), torch.tensor([0, 1]), torch.tensor([7, 7]))
    with pytest.raises(ValueError, match="clip 7"):
        m.compute()
