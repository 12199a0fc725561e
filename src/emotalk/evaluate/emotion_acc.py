"""EmoAcc: a held-out video emotion classifier's accuracy on generated videos, the requested emotion as the label.

The judge is an ``emotion_classifier`` experiment checkpoint (ours, via `models.stages.load_net`) or EmoGen's DISCEMO
state_dict (loaded with the reference's channel/time layout, Q1). It is only trusted after it classifies the test
actors' **real** clips correctly more than 90 % of the time (mission.md §7); `check_classifier` computes that
accuracy, and refuses a weaker judge with `ClassifierRejectedError` unless forced.

Per video (real or generated): the 96x96 face crops are cut into non-overlapping T = 5 frame windows (frames
5k … 5k+4; windows holding a frame without a face are skipped), the classifier gives logits per window, and the
video's prediction is the argmax of the **mean logits** over its windows (``how="vote"``: majority of the window
argmaxes, ties broken by the mean logits). The same rule serves the gate and EmoAcc, so both numbers mean the same.
Crops are BGR in [0, 1], the classifier's training convention.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from emotalk.errors import EmotalkError
from emotalk.models.emotion import Aggregate, accuracy, video_prediction
from emotalk.spec import EMOTIONS

GATE = 0.90


class ClassifierRejectedError(EmotalkError):
    """The EmoAcc classifier does not reach the accuracy gate on real test clips."""


def windows(faces: np.ndarray, has_face: np.ndarray | None = None, T: int = 5, stride: int | None = None) -> Tensor:
    """BGR uint8 crops [N, H, W, 3] → windows [W, 3, T, H, W] float in [0, 1] (starts 0, stride, 2·stride, …).

    Windows that contain a frame without a face are dropped; fewer than T frames → no window.
    """
    stride = stride or T
    n = len(faces)
    ok = np.ones(n, bool) if has_face is None else np.asarray(has_face, bool)
    starts = [s for s in range(0, n - T + 1, stride) if ok[s : s + T].all()]
    if not starts:
        h, w = faces.shape[1:3] if faces.ndim == 4 else (96, 96)
        return torch.zeros(0, 3, T, h, w)
    x = torch.from_numpy(np.stack([faces[s : s + T] for s in starts])).float() / 255.0  # (W, T, H, W, 3)
    return x.permute(0, 4, 1, 2, 3).contiguous()  # (W, 3, T, H, W)


@torch.no_grad()
def window_outputs(
    classifier: nn.Module, clips: Tensor, device: str | torch.device = "cpu", batch_size: int = 64
) -> tuple[Tensor, Tensor | None]:
    """Logits [W, 6] and, when the classifier has ``features``, clip features [W, D] of windows [W, 3, T, H, W]."""
    logits, feats = [], []
    has_features = hasattr(classifier, "features") and hasattr(classifier, "cls")
    for i in range(0, len(clips), batch_size):
        x = clips[i : i + batch_size].to(device)
        if has_features:
            f = classifier.features(x)
            feats.append(f.float().cpu())
            logits.append(classifier.cls(f).float().cpu())
        else:
            logits.append(classifier(x).float().cpu())
    n = len(EMOTIONS)
    lg = torch.cat(logits) if logits else torch.zeros(0, n)
    return lg, (torch.cat(feats) if feats else None)


@dataclass
class VideoEmotion:
    """The classifier's verdict on one video."""

    prediction: int | None  # None: no complete window (too short, or faces missing)
    n_windows: int
    feature: np.ndarray | None = None  # mean clip feature over windows (t-SNE), when the classifier has one


def classify_video(
    classifier: nn.Module,
    faces: np.ndarray,
    has_face: np.ndarray | None = None,
    how: Aggregate = "mean",
    device: str | torch.device = "cpu",
    T: int = 5,
) -> VideoEmotion:
    """Predict one video's emotion from its face crops (BGR uint8 [N, 96, 96, 3])."""
    w = windows(faces, has_face, T)
    if len(w) == 0:
        return VideoEmotion(None, 0)
    logits, feats = window_outputs(classifier, w, device)
    feat = None if feats is None else feats.mean(0).numpy()
    return VideoEmotion(video_prediction(logits, how), len(w), feat)


def confusion(labels: Sequence[int], preds: Sequence[int], n: int = len(EMOTIONS)) -> np.ndarray:
    """Counts [n, n]: rows true class, columns predicted."""
    cm = np.zeros((n, n), np.int64)
    for t, p in zip(labels, preds, strict=True):
        cm[int(t), int(p)] += 1
    return cm


@dataclass
class GateResult:
    """The judge's accuracy on real test clips and whether it may be used."""

    accuracy: float
    n_clips: int
    n_skipped: int
    passed: bool
    forced: bool
    threshold: float
    aggregate: str
    confusion: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        verdict = "passes" if self.passed else ("is below the gate but forced" if self.forced else "is below the gate")
        return (
            f"emotion classifier accuracy on {self.n_clips} real test clips: {self.accuracy:.1%} "
            f"({verdict}: > {self.threshold:.0%} required)"
        )


def check_classifier(
    classifier: nn.Module,
    clips: Iterable[tuple[np.ndarray, np.ndarray | None, int]],
    threshold: float = GATE,
    force: bool = False,
    how: Aggregate = "mean",
    device: str | torch.device = "cpu",
) -> GateResult:
    """Accuracy on real clips `(faces, has_face, label)`; refuse (`ClassifierRejectedError`) at or below `threshold`.

    Raises:
        ClassifierRejectedError: accuracy ≤ threshold and not `force`; the message prints the accuracy.
    """
    labels, preds, skipped = [], [], 0
    for faces, has_face, label in clips:
        v = classify_video(classifier, faces, has_face, how, device)
        if v.prediction is None:
            skipped += 1
            continue
        labels.append(int(label))
        preds.append(v.prediction)
    return gate(labels, preds, skipped, threshold, force, how)


def gate(
    labels: Sequence[int],
    preds: Sequence[int],
    skipped: int = 0,
    threshold: float = GATE,
    force: bool = False,
    how: str = "mean",
) -> GateResult:
    """The gate's verdict on per-clip predictions of real clips (see `check_classifier`)."""
    acc = accuracy(labels, preds)
    passed = bool(len(labels) > 0 and acc > threshold)
    result = GateResult(
        accuracy=acc,
        n_clips=len(labels),
        n_skipped=skipped,
        passed=passed,
        forced=force and not passed,
        threshold=threshold,
        aggregate=how,
        confusion=confusion(labels, preds).tolist(),
    )
    if not passed and not force:
        raise ClassifierRejectedError(
            f"{result.describe()}. Train it longer (experiment=emotion_classifier) or pass --force to use it anyway "
            "(the results then say so)"
        )
    return result


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Our ``emotion_classifier`` checkpoint or EmoGen's DISCEMO state_dict, in eval mode."""
    from emotalk.models.stages import load_net

    return load_net(path, "emotion", "emotion classifier (EmoAcc judge)", "emotion_classifier").to(device).eval()
