"""EmoAcc with classifiers whose outputs we set by hand, the 90 % gate, windows, checkpoints, bootstrap helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emotalk.evaluate import emotion_acc as ea
from emotalk.evaluate import report
from emotalk.spec import EMOTIONS

from .helpers import StubClassifier


def _faces(n: int, value: int = 100) -> np.ndarray:
    return np.full((n, 96, 96, 3), value, np.uint8)


def test_windows_are_non_overlapping_and_skip_missing_faces() -> None:
    faces = np.stack([np.full((8, 8, 3), i, np.uint8) for i in range(23)])
    w = ea.windows(faces)
    assert w.shape == (4, 3, 5, 8, 8)  # frames 0-4, 5-9, 10-14, 15-19; 20-22 incomplete
    assert (w[:, 0, :, 0, 0] * 255).round().tolist() == [[float(i) for i in range(s, s + 5)] for s in (0, 5, 10, 15)]
    has = np.ones(23, bool)
    has[7] = False
    assert len(ea.windows(faces, has)) == 3
    assert len(ea.windows(faces[:4])) == 0
    assert len(ea.windows(faces, stride=1)) == 19


def test_video_prediction_mean_and_vote() -> None:
    logits = torch.tensor([[5.0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0]])
    assert ea.video_prediction(logits, "mean") == 0  # one confident window outweighs two weak ones
    assert ea.video_prediction(logits, "vote") == 1
    tie = torch.tensor([[0, 0, 3.0, 0, 0, 0], [0, 0, 0, 2.0, 0, 0]])
    assert ea.video_prediction(tie, "vote") == 2  # tie broken by the mean logits
    with pytest.raises(ValueError):
        ea.video_prediction(torch.zeros(0, 6))


def test_emo_acc_with_a_fixed_output_classifier_is_exact() -> None:
    """A stub that always says 'happy': accuracy = the share of 'happy' labels, exactly."""
    clf = StubClassifier("fixed", fixed=EMOTIONS.index("happy"))
    labels = [EMOTIONS.index(e) for e in ("happy", "happy", "sad", "angry", "happy", "neutral", "fearful", "happy")]
    preds = [ea.classify_video(clf, _faces(12)).prediction for _ in labels]
    assert ea.accuracy(labels, preds) == 0.5
    cm = ea.confusion(labels, preds)
    assert cm.sum() == 8 and cm[EMOTIONS.index("happy"), EMOTIONS.index("happy")] == 4
    assert cm[:, EMOTIONS.index("happy")].sum() == 8
    v = ea.classify_video(clf, _faces(12))
    assert v.n_windows == 2 and v.feature is not None and v.feature.shape == (6,)
    assert ea.classify_video(clf, _faces(3)).prediction is None


def test_gate_refuses_below_90_percent_and_force_marks_it() -> None:
    clf = StubClassifier("fixed", fixed=0)
    clips = [(_faces(10), None, 0)] * 9 + [(_faces(10), None, 1)]  # 9 of 10 right: 90 % is not > 90 %
    with pytest.raises(ea.ClassifierRejectedError, match=r"90\.0%.*--force"):
        ea.check_classifier(clf, clips)
    forced = ea.check_classifier(clf, clips, force=True)
    assert forced.forced and not forced.passed and forced.accuracy == pytest.approx(0.9)
    ok = ea.check_classifier(clf, [*clips, (_faces(10), None, 0)] * 2)
    assert ok.passed and not ok.forced and ok.accuracy == pytest.approx(10 / 11)
    assert ok.n_clips == 22 and "passes" in ok.describe()
    skipped = ea.check_classifier(clf, [(_faces(3), None, 0), *clips], force=True)
    assert skipped.n_skipped == 1 and skipped.n_clips == 10


def test_load_classifier_from_our_checkpoint(tmp_path: Path) -> None:
    from emotalk.models.emotion import EmotionClassifier
    from emotalk.spec import DEFAULT_SPEC

    net = EmotionClassifier(width=0.25)
    torch.save(
        {
            "emotalk": {"stage": "emotion_classifier", "spec": DEFAULT_SPEC.to_dict(), "net": dict(net.config)},
            "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
        },
        tmp_path / "emotion_classifier.ckpt",
    )
    clf = ea.load_classifier(tmp_path / "emotion_classifier.ckpt")
    assert not clf.training
    v = ea.classify_video(clf, _faces(10))
    assert v.prediction in range(6) and v.feature.shape == (128,)


# ---------------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_mean_is_seeded_and_contains_the_mean() -> None:
    x = np.random.default_rng(0).normal(5, 1, 50)
    m, lo, hi = report.bootstrap_mean(x, 500, seed=3)
    assert lo < m < hi and m == pytest.approx(x.mean())
    assert report.bootstrap_mean(x, 500, seed=3) == (m, lo, hi)
    assert report.bootstrap_mean(x, 500, seed=4) != (m, lo, hi)
    assert report.bootstrap_mean([2.0], 500) == (2.0, 2.0, 2.0)
    assert np.isnan(report.bootstrap_mean([], 500)[0])
    m, lo, hi = report.bootstrap_mean([np.inf, np.inf, 30.0], 200)
    assert m == np.inf and not np.isnan(lo) and hi == np.inf
    lo, hi = report.normal_interval(1.0, [0.5, 1.0, 1.5, 2.5], floor=0.0)
    assert lo == 0.0 and hi > 1.0
