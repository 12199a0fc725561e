"""FID between generated and real face crops: torchmetrics' `FrechetInceptionDistance` with our Inception.

The feature extractor is `inception.FIDInceptionV3` loaded from pytorch-fid's published weights
(``pt_inception-2015-12-05-6726825d.pth``), passed to torchmetrics as ``feature=<nn.Module>``. Input handling is
pytorch-fid's: our BGR uint8 crops become RGB floats in [0, 1]; the network resizes to 299x299 (bilinear) and scales
to [-1, 1].

The paper's figure is averaged over the six emotions: one FID per emotion e between the real frames of clips whose
true emotion is e and the generated frames whose requested emotion is e, then the mean of the six (`EmotionFID`).
Every update also records the per-video features, so the bootstrap (report.py) can resample videos without running
the network again; it uses `frechet_distance`, which computes the same quantity as torchmetrics' formula through
two symmetric eigendecompositions (the tests check that both agree).

Without the weights file: `MissingWeightsError` naming the file and its URL (the protocol reports "n/a").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

from emotalk.spec import EMOTIONS


def crops_to_rgb01(crops_bgr: np.ndarray | Tensor) -> Tensor:
    """BGR uint8 crops [N, H, W, 3] → RGB float [N, 3, H, W] in [0, 1] (pytorch-fid's input convention)."""
    x = torch.as_tensor(np.ascontiguousarray(crops_bgr))
    if x.dim() != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected BGR crops [N, H, W, 3], got {tuple(x.shape)}")
    return x.flip(-1).permute(0, 3, 1, 2).float() / 255.0


class FeatureTap(nn.Module):
    """Wraps a feature network for torchmetrics and keeps the features of the last call (for the bootstrap)."""

    def __init__(self, net: nn.Module, num_features: int | None = None) -> None:
        super().__init__()
        self.net = net
        n = num_features or getattr(net, "num_features", None)
        if n:  # otherwise torchmetrics probes the output size with a dummy image
            self.num_features = int(n)
        self.last: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            out = self.net(x).flatten(1)
        self.last = out.detach()
        return out


def make_fid(feature: nn.Module, device: str | torch.device = "cpu") -> FrechetInceptionDistance:
    """A torchmetrics FID over RGB float [0, 1] images with `feature` as the extractor (real stats kept on reset)."""
    return FrechetInceptionDistance(feature=feature, normalize=True, reset_real_features=False).to(device)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½), with tr (Σ1 Σ2)^½ = tr (Σ1^½ Σ2 Σ1^½)^½ (symmetric, stable)."""
    s1 = torch.as_tensor(sigma1, dtype=torch.float64)
    s2 = torch.as_tensor(sigma2, dtype=torch.float64)
    w, v = torch.linalg.eigh(s1)
    root1 = (v * w.clamp(min=0).sqrt()) @ v.T
    inner = torch.linalg.eigvalsh(root1 @ s2 @ root1)
    tr_sqrt = inner.clamp(min=0).sqrt().sum()
    diff = torch.as_tensor(mu1, dtype=torch.float64) - torch.as_tensor(mu2, dtype=torch.float64)
    return float(diff @ diff + s1.trace() + s2.trace() - 2 * tr_sqrt)


def gaussian_stats(features: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of rows [N, D] (row weights = bootstrap repeat counts)."""
    x = torch.as_tensor(features, dtype=torch.float64)
    w = torch.ones(len(x), dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    n = w.sum()
    mu = (w[:, None] * x).sum(0) / n
    xc = x - mu
    cov = (xc * w[:, None]).T @ xc / (n - 1)
    return mu.numpy(), cov.numpy()


def fid_from_features(
    real: Sequence[np.ndarray],
    fake: Sequence[np.ndarray],
    real_counts: Sequence[int] | None = None,
    fake_counts: Sequence[int] | None = None,
) -> float:
    """FID of per-video feature blocks [n_i, D]; `*_counts` repeat whole videos (bootstrap resamples)."""

    def stack(blocks: Sequence[np.ndarray], counts: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray | None]:
        x = np.concatenate(blocks)
        if counts is None:
            return x, None
        return x, np.concatenate([np.full(len(b), c, np.float64) for b, c in zip(blocks, counts, strict=True)])

    xr, wr = stack(real, real_counts)
    xf, wf = stack(fake, fake_counts)
    return frechet_distance(*gaussian_stats(xr, wr), *gaussian_stats(xf, wf))


class EmotionFID:
    """Per-emotion FID (real clips of emotion e vs videos generated with emotion e), averaged over emotions.

    One torchmetrics metric per emotion, all sharing `feature`; the real statistics survive `reset_fake`, so one
    object serves several experiments. ``update`` batches the crops through the metric and records per-video
    features for the bootstrap.

    Args:
        feature: the extractor, RGB float [N, 3, H, W] in [0, 1] → [N, D] (`FIDInceptionV3`; tests pass a small
            random network and say so).
    """

    def __init__(self, feature: nn.Module, device: str | torch.device = "cpu", batch_size: int = 32) -> None:
        self.tap = FeatureTap(feature)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.metrics = {e: make_fid(self.tap, self.device) for e in EMOTIONS}
        self.real: dict[str, dict[str, np.ndarray]] = defaultdict(dict)  # emotion -> video id -> [n, D]
        self.fake: dict[str, dict[str, np.ndarray]] = defaultdict(dict)

    def update(self, crops_bgr: np.ndarray, emotion: str, real: bool, video_id: str) -> None:
        """Add one video's face crops [N, H, W, 3] (BGR uint8) to the real or generated set of `emotion`."""
        if emotion not in self.metrics:
            raise ValueError(f"unknown emotion {emotion!r}; expected one of {EMOTIONS}")
        feats = []
        x = crops_to_rgb01(crops_bgr)
        for i in range(0, len(x), self.batch_size):
            self.metrics[emotion].update(x[i : i + self.batch_size].to(self.device), real=real)
            assert self.tap.last is not None
            feats.append(self.tap.last.double().cpu().numpy())
        if feats:
            (self.real if real else self.fake)[emotion][video_id] = np.concatenate(feats)

    def has_real(self, emotion: str) -> bool:
        return bool(self.real.get(emotion))

    def reset_fake(self) -> None:
        """Forget the generated sets (before the next experiment); the real sets stay."""
        for m in self.metrics.values():
            m.reset()
        self.fake.clear()

    def compute(self) -> dict[str, float]:
        """{emotion: FID} for every emotion with at least 2 real and 2 generated frames (torchmetrics' math)."""
        out = {}
        for e, m in self.metrics.items():
            if int(m.real_features_num_samples) >= 2 and int(m.fake_features_num_samples) >= 2:
                out[e] = float(m.compute())
        return out

    @staticmethod
    def mean(per_emotion: dict[str, float]) -> float:
        """The paper's figure: the mean of the per-emotion FIDs (NaN when none could be computed)."""
        return float(np.mean(list(per_emotion.values()))) if per_emotion else float("nan")


def load_fid_feature(path: str | Path | None) -> nn.Module:
    """The published FID Inception as a feature extractor (`MissingWeightsError` naming the file and URL)."""
    from emotalk.evaluate.inception import load_fid_inception

    return load_fid_inception(path)


def extract_features(feature: nn.Module, crops_bgr: Iterable[np.ndarray], batch_size: int = 32) -> np.ndarray:
    """Features [N, D] of BGR uint8 crops, in batches (for benchmarks and ad-hoc use)."""
    x = crops_to_rgb01(np.stack(list(crops_bgr)))
    with torch.no_grad():
        return torch.cat([feature(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()
