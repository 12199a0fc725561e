"""The protocol's results table (evaluate/protocol.py): cells with bootstrap intervals, the FID cells, one row per
experiment, the settings record that goes with it, and the t-SNE figure.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emotalk.errors import EmotalkError
from emotalk.evaluate import report
from emotalk.evaluate.emotion_acc import GateResult
from emotalk.evaluate.records import PAPER_TSNE_ACTOR
from emotalk.spec import EMOTIONS

if TYPE_CHECKING:
    from emotalk.evaluate.records import EvalClip, EvalConfig, Judges, VideoRecord

log = logging.getLogger(__name__)


def mean_cell(values: Sequence[float], cfg: EvalConfig, seed: Sequence[int]) -> dict[str, Any]:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return report.na("n/a (no scored video)")
    point, lo, hi = report.bootstrap_mean(vals, cfg.n_boot, list(seed))
    return report.cell(point, lo, hi, len(vals))


def fid_cells(fid: Any, cfg: EvalConfig, seed: Sequence[int]) -> dict[str, Any]:
    """{"all": cell, emotion: cell}: torchmetrics point FIDs, normal bootstrap intervals from resampled videos."""
    from emotalk.evaluate.fid import fid_from_features

    per = fid.compute()
    emotions = [e for e in EMOTIONS if e in per]
    cells: dict[str, Any] = {}
    if not emotions:
        return {"all": report.na("n/a (no emotion with real and generated faces)")}
    real = {e: list(fid.real[e].values()) for e in emotions}
    fake = {e: list(fid.fake[e].values()) for e in emotions}
    draws: dict[str, list[float]] = defaultdict(list)
    rng = np.random.default_rng([*seed, 7])
    for _ in range(cfg.fid_boot if cfg.fid_boot > 1 else 0):
        vals = []
        for e in emotions:
            rc = np.bincount(rng.integers(0, len(real[e]), len(real[e])), minlength=len(real[e]))
            fc = np.bincount(rng.integers(0, len(fake[e]), len(fake[e])), minlength=len(fake[e]))
            v = fid_from_features(real[e], fake[e], rc, fc)
            draws[e].append(v)
            vals.append(v)
        draws["all"].append(float(np.mean(vals)))

    def normal(point: float, d: list[float], n: int) -> dict[str, Any]:
        lo, hi = report.normal_interval(point, d, floor=0.0)  # a FID is never negative
        return report.cell(point, lo, hi, n)

    for e in emotions:
        cells[e] = normal(per[e], draws[e], len(fake[e]))
    cells["all"] = normal(float(np.mean([per[e] for e in emotions])), draws["all"], sum(len(fake[e]) for e in emotions))
    if len(emotions) < len(EMOTIONS):
        cells["all"]["note"] = f"mean over {len(emotions)} of {len(EMOTIONS)} emotions (the others lack real clips)"
    return cells


def table_rows(
    name: str,
    records: Sequence[VideoRecord],
    fid_cells: Mapping[str, Any],
    judges: Judges,
    cfg: EvalConfig,
    seed: Sequence[int],
) -> list[dict[str, Any]]:
    swaps = [r for r in records if r.kind == "swap"]
    quality = [r for r in records if r.kind == "recon"] if cfg.reconstruction else swaps

    def metrics(sw: Sequence[VideoRecord], qu: Sequence[VideoRecord], fid_cell: Any, k: int) -> dict[str, Any]:
        s = [*seed, k]
        m: dict[str, Any] = {}
        for j, key in enumerate(("lse_d", "lse_c"), start=1):
            m[key] = (
                report.na(judges.notes[key])
                if key in judges.notes
                else mean_cell([getattr(r, key) for r in sw], cfg, [*s, j])
            )
        m["fid"] = (
            report.na(judges.notes["fid"])
            if "fid" in judges.notes
            else (fid_cell or report.na("n/a (no real clips of this emotion)"))
        )
        m["ssim"] = mean_cell([r.ssim for r in qu], cfg, [*s, 3])
        m["psnr"] = mean_cell([r.psnr for r in qu], cfg, [*s, 4])
        if "emo_acc" in judges.notes:
            m["emo_acc"] = report.na(judges.notes["emo_acc"])
        else:
            m["emo_acc"] = mean_cell(
                [100.0 * (r.emo_pred == r.emotion) for r in sw if r.emo_pred is not None], cfg, [*s, 5]
            )
        if cfg.reconstruction:  # identity preservation on the swapped dubs, beside reconstruction SSIM/PSNR
            m["ssim_id"] = mean_cell([r.ssim for r in sw], cfg, [*s, 6])
            m["psnr_id"] = mean_cell([r.psnr for r in sw], cfg, [*s, 7])
        return m

    rows = [
        {
            "experiment": name,
            "emotion": "all",
            "kind": "ours",
            "dataset": "CREMA-D test actors",
            "n_videos": len(swaps),
            "metrics": metrics(swaps, quality, fid_cells.get("all"), 0),
        }
    ]
    for k, e in enumerate(EMOTIONS, start=1):
        sw = [r for r in swaps if r.emotion == e]
        qu = [r for r in quality if r.emotion == e]
        rows.append(
            {
                "experiment": name,
                "emotion": e,
                "kind": "ours",
                "dataset": "CREMA-D test actors",
                "n_videos": len(sw),
                "metrics": metrics(sw, qu, fid_cells.get(e), k),
            }
        )
    return rows


def settings_record(
    data: Any,
    clips: Sequence[EvalClip],
    cfg: EvalConfig,
    judges: Judges,
    gate_result: GateResult | None,
    device: str,
    lse_eval: Any,
) -> dict[str, Any]:
    what_q = (
        "face crops of reconstruction dubs (own audio, own emotion) vs the source frames"
        if cfg.reconstruction
        else "face crops of the emotion-swapped dubs vs the source frames (identity preservation)"
    )
    return {
        "data": str(data),
        "actors": sorted({c.meta.actor for c in clips}),
        "n_clips": len(clips),
        "clips": [c.clip_id for c in clips],
        "emotions": list(EMOTIONS),
        "seed": cfg.seed,
        "max_clips": cfg.max_clips,
        "strength": cfg.strength,
        "device": device,
        "n_boot": cfg.n_boot,
        "fid_boot": cfg.fid_boot,
        "lse": {
            "mode": cfg.lse_mode,
            "min_track": cfg.min_track,
            "reference_min_track": 100,
            "min_face_size": cfg.min_face_size,
            "fps": 25,
            "vshift": 15,
            "available": lse_eval is not None,
        },
        "fid": {
            "feature": judges.feature_name,
            "averaged_over": "emotions",
            "crops": "96x96 preprocessing crops",
            "frame_stride": cfg.fid_stride,
            "real_set": "all clips of the test actors in --data",
        },
        "ssim_psnr": {
            "what": what_q,
            "space": "grayscale (as EmoGen's img_eval.py)" if cfg.gray else "RGB",
            "identity_columns": cfg.reconstruction,
        },
        "emo_acc": {
            "what": (
                "accuracy of the gated classifier on the emotion-swapped dubs, the requested emotion as the label; "
                f"per video the {'mean logits' if cfg.aggregate == 'mean' else 'majority vote'} over "
                "non-overlapping 5-frame windows."
            ),
            "gate": cfg.gate,
            "classifier_accuracy_real": None if gate_result is None else gate_result.accuracy,
            "forced": bool(gate_result and gate_result.forced),
        },
    }


def tsne_figure(
    name: str,
    ckpt: Path,
    records: Sequence[VideoRecord],
    clips: Sequence[EvalClip],
    real_feats: Mapping[str, tuple[np.ndarray, int]],
    cfg: EvalConfig,
    figures: Path,
) -> None:
    from emotalk.evaluate.tsne import encoder_embeddings, plot_tsne

    actors = sorted({c.meta.actor for c in clips})
    actor = cfg.tsne_actor if cfg.tsne_actor in actors else actors[0]
    gen = [r for r in records if r.kind == "swap" and r.actor == actor and r.feature is not None]
    if len(gen) < 3:
        log.info("t-SNE of %s skipped: %d generated videos of actor %s with classifier features", name, len(gen), actor)
        return
    real = [real_feats[c.clip_id] for c in clips if c.meta.actor == actor and c.clip_id in real_feats]
    encoder = None
    try:
        from emotalk.models.stages import load_net

        encoder = encoder_embeddings(load_net(ckpt, "generator", "generator", name))
    except (EmotalkError, RuntimeError, KeyError, TypeError) as exc:  # a checkpoint only the Dubber can read
        log.info("t-SNE of %s without the emotion-encoder panel: %s", name, exc)
    plot_tsne(
        figures / f"tsne_{name}.png",
        np.stack([np.asarray(r.feature) for r in gen]),
        [EMOTIONS.index(r.emotion) for r in gen],
        np.stack([f for f, _ in real]) if real else None,
        [lab for _, lab in real],
        encoder,
        title=f"{name}: actor {actor}" + ("" if actor == PAPER_TSNE_ACTOR else f" (paper: {PAPER_TSNE_ACTOR})"),
        seed=cfg.seed,
    )
