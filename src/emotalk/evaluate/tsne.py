"""The t-SNE figure of one test actor (1011 on CREMA-D, as the paper), and what goes into it.

The paper plots "the emotion encoder's embeddings per video". Taken literally that is uninformative: the
generator's emotion encoder is a deterministic MLP of the one-hot input, so every video generated with emotion e
has the same embedding, six points in all. The figure therefore has two panels:

* **left (t-SNE)**: per video, the EmoAcc classifier's clip feature (its LSTM output, averaged over the video's
  5-frame windows) of every generated video of the actor, coloured by the **requested** emotion (filled dots), with
  the actor's real clips coloured by their true emotion (hollow circles). Tight, separated clusters that sit on the
  real clips of the same colour mean the generator's emotions are recognisable and realistic; a cloud shaped by the
  source clip instead of the requested emotion means the emotion input is ignored.
* **right (PCA)**: the generator's emotion-encoder embeddings of the vectors it is actually fed: for each emotion,
  the blend strength·one-hot(e) + (1 − strength)·one-hot(neutral), strength 0 … 1 (our strength control). PCA, not
  t-SNE: with a few dozen points on six paths a linear projection keeps the geometry (distances along and between
  paths) that t-SNE would distort. Generators without emotion input (Wav2Lip base models) have no right panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from emotalk.plots import save_figure
from emotalk.spec import EMOTIONS, NEUTRAL

#: one colour per emotion (matplotlib's tab10 order), the same in every figure
COLORS = ("#d62728", "#8c564b", "#9467bd", "#ff7f0e", "#7f7f7f", "#1f77b4")


def tsne_2d(features: np.ndarray, seed: int = 0, perplexity: float | None = None) -> np.ndarray:
    """scikit-learn t-SNE of [N, D] → [N, 2] (perplexity min(30, (N − 1) / 3), PCA init, seeded).

    The exact gradient up to 1000 points: one actor's videos are a few hundred, where it is faster than
    Barnes-Hut (and exact)."""
    from sklearn.manifold import TSNE

    x = np.asarray(features, np.float64)
    n = len(x)
    if n < 3:
        return np.zeros((n, 2)) if n == 0 else np.c_[np.arange(n, dtype=float), np.zeros(n)]
    perp = perplexity if perplexity is not None else max(1.0, min(30.0, (n - 1) / 3))
    method = "exact" if n <= 1000 else "barnes_hut"
    return TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed, method=method).fit_transform(x)


def strength_vectors(
    strengths: Sequence[float] = tuple(np.linspace(0, 1, 11)),
) -> tuple[torch.Tensor, list[int], list[float]]:
    """[K, 6] blends of each emotion with neutral (neutral itself once), with their emotion index and strength."""
    vecs, emos, strs = [], [], []
    for e in range(len(EMOTIONS)):
        for s in strengths if e != NEUTRAL else (1.0,):
            v = torch.zeros(len(EMOTIONS))
            v[e] += s
            v[NEUTRAL] += 1 - s
            vecs.append(v)
            emos.append(e)
            strs.append(float(s))
    return torch.stack(vecs), emos, strs


@torch.no_grad()
def encoder_embeddings(generator: torch.nn.Module) -> tuple[np.ndarray, list[int], list[float]] | None:
    """The generator's emotion-encoder embeddings of `strength_vectors` (None without an emotion encoder)."""
    if not getattr(generator, "use_emotion", False):
        return None
    vecs, emos, strs = strength_vectors()
    param = next(generator.parameters())
    emb = generator.embed_emotion(vecs.to(param.device, param.dtype)).float().cpu().numpy()
    return emb, emos, strs


def plot_tsne(
    path: Path | str,
    generated: np.ndarray,
    generated_labels: Sequence[int],
    real: np.ndarray | None = None,
    real_labels: Sequence[int] | None = None,
    encoder: tuple[np.ndarray, list[int], list[float]] | None = None,
    title: str = "",
    seed: int = 0,
) -> Path:
    """Write the two-panel PNG (see the module docstring); returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    n_gen = len(generated)
    feats = generated if real is None or len(real) == 0 else np.concatenate([generated, real])
    pts = tsne_2d(feats, seed=seed)
    ncols = 2 if encoder is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6.2 * ncols, 5.4), dpi=120, squeeze=False)
    ax = axes[0, 0]
    gl = np.asarray(generated_labels)
    for e, name in enumerate(EMOTIONS):
        m = gl == e
        if m.any():
            ax.scatter(pts[:n_gen][m, 0], pts[:n_gen][m, 1], s=28, c=COLORS[e], label=name, alpha=0.85)
    if real is not None and len(real):
        rl = np.asarray(real_labels)
        for e in range(len(EMOTIONS)):
            m = rl == e
            if m.any():
                ax.scatter(pts[n_gen:][m, 0], pts[n_gen:][m, 1], s=70, facecolors="none", edgecolors=COLORS[e], lw=1.6)
    handles = [Line2D([], [], marker="o", ls="", color=COLORS[e], label=name) for e, name in enumerate(EMOTIONS)]
    handles += [
        Line2D([], [], marker="o", ls="", color="k", label="generated (requested emotion)"),
        Line2D([], [], marker="o", ls="", mfc="none", color="k", label="real clip (true emotion)"),
    ]
    ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.8)
    ax.set_title("t-SNE of classifier clip features per video", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if encoder is not None:
        emb, emos, strs = encoder
        xy = _pca_2d(emb)
        ax2 = axes[0, 1]
        emos_a, strs_a = np.asarray(emos), np.asarray(strs)
        for e, name in enumerate(EMOTIONS):
            m = emos_a == e
            order = np.argsort(strs_a[m])
            ax2.plot(xy[m][order, 0], xy[m][order, 1], "-", c=COLORS[e], lw=1, alpha=0.6)
            ax2.scatter(xy[m][:, 0], xy[m][:, 1], s=10 + 50 * strs_a[m], c=COLORS[e], label=name)
        ax2.legend(fontsize=7, loc="best", framealpha=0.8, title="emotion (size = strength)", title_fontsize=7)
        ax2.set_title("generator emotion-encoder embeddings (PCA)", fontsize=10)
        ax2.set_xticks([])
        ax2.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


def _pca_2d(x: np.ndarray) -> np.ndarray:
    xc = np.asarray(x, np.float64) - np.mean(x, 0)
    if len(xc) < 2:
        return np.zeros((len(xc), 2))
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    out = xc @ vt[:2].T
    return out if out.shape[1] == 2 else np.c_[out, np.zeros(len(out))]
