"""The real-face protocol's record (`RealFaceResult`) and what is written from it: results.json, results.md and
the source/dubbed sample grid."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotalk.evaluate.realface_measures import EMOTION_SWEEP, IN_SYNC_TOLERANCE, sweep_key


@dataclass
class RealFaceResult:
    """Every figure of one protocol run, as written to results.json (part by part, then per clip)."""

    checkpoint: str
    expert: str
    n_test_clips: int
    reenactment: dict[str, float] = field(default_factory=dict)
    dubbing: dict[str, float] = field(default_factory=dict)
    real: dict[str, float] = field(default_factory=dict)
    leakage: dict[str, float] = field(default_factory=dict)
    others: dict[str, dict[str, float]] = field(default_factory=dict)
    video: dict[str, float] = field(default_factory=dict)
    per_clip: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)


def write_results(res: RealFaceResult, out: Path, grid_rows: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _atomic(out / "results.json", json.dumps(asdict(res), indent=2, default=float))
    _atomic(out / "results.md", render_markdown(res))
    save_dub_grid(out / "samples.png", grid_rows)


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def render_markdown(res: RealFaceResult) -> str:
    r, d, real, lk = res.reenactment, res.dubbing, res.real, res.leakage
    lines = [
        f"# Real-face protocol: {Path(res.checkpoint).name} (expert {Path(res.expert).name})",
        "",
        f"{res.n_test_clips} held-out test clips, {res.wall_seconds:.0f} s wall.",
        "",
        "| measure | model | baseline |",
        "|---|---|---|",
    ]
    rows = [
        ("self-reenactment lower-face SSIM", f"{r['lower_ssim']:.3f}", f"copy {r['copy_reference_lower_ssim']:.3f}"),
        (
            "self-reenactment lower-face PSNR (dB)",
            f"{r['lower_psnr']:.2f}",
            f"copy {r['copy_reference_lower_psnr']:.2f}",
        ),
        (
            f"dubs in sync (expert offset 0 ± {IN_SYNC_TOLERANCE})",
            f"{d['in_sync_fraction']:.0%} of {d['n']}",
            f"real clips, own audio: {real['in_sync_fraction']:.0%}",
        ),
        (
            "expert confidence (max − median cosine)",
            f"{d['conf_mean']:.3f} ({d['conf_vs_real']:.0%} of real)",
            f"real clips, own audio: {real['conf_mean']:.3f}",
        ),
        (
            "mouth opening, silence / speech",
            f"{lk['dub_silent_over_speech']:.2f}",
            f"real clips (alignments): {lk['real_silent_over_speech']:.2f}",
        ),
    ]
    rows += _context_rows(d, real, lk)
    if res.video:
        v = res.video
        rows += [
            (f"eye-region SSIM vs source ({v['n_videos']} whole dubs)", f"{v['eye_ssim']:.3f}", "source: 1"),
            ("lower-face sharpness / source's (Laplacian variance)", f"{v['lower_sharpness_ratio']:.2f}", "source: 1"),
        ]
        rows += [
            (f"eye-region SSIM, dubbed {e} at strength {st:g}", f"{v[sweep_key(e, st)]:.3f}", "neutral: above")
            for e, st in EMOTION_SWEEP
            if sweep_key(e, st) in v
        ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    if res.others:
        lines += [
            "",
            "Other real people (never trained on), dubbed with the same speech:",
            "",
            "| person | dubs in sync | confidence | own audio: offset, confidence | silence / speech opening |",
            "|---|---|---|---|---|",
        ]
        for name, o in res.others.items():
            lines.append(
                f"| {name} | {o['in_sync_fraction']:.0%} of {o['n']} | {o['conf_mean']:.3f} | "
                f"{o['own_audio_offset']:+d}, {o['own_audio_conf']:.3f} | {o['leakage']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def _context_rows(d: dict[str, Any], real: dict[str, Any], lk: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The readings that put the dub's confidence in context (older result records lack some or all of them)."""
    if "floor_conf_mean" not in d:
        return []
    rows = [
        (
            "judge's floor: the real frames against that speech (not said by them)",
            f"{d['floor_conf_mean']:.3f} ({d['floor_vs_real']:.0%} of real)",
            "a dub at this level shows no sync",
        )
    ]
    if "voiced_real_conf_mean" in d:
        rows.append(
            (
                "judge's ceiling for other voices: the real frames against their own words, ±3 semitones",
                f"{d['voiced_real_in_sync_fraction']:.0%} in sync, {d['voiced_real_conf_mean']:.3f} "
                f"({d['voiced_real_vs_real']:.0%} of real)",
                "a perfect dub in another voice reads about this",
            )
        )
    rows += [
        (
            "dubs with held-out GRID speech (the voice the models learned; one shared layout)",
            f"{d['grid_speech_in_sync_fraction']:.0%} in sync, {d['grid_speech_conf_mean']:.3f} "
            f"({d['grid_speech_conf_vs_real']:.0%} of real)",
            f"real clips, own audio: {real['conf_mean']:.3f}",
        ),
        (
            "mouth follows the speech's loudness (Pearson r, no judge): other voices / GRID speech",
            f"{lk['dub_follow_r']:.2f} / {lk['grid_dub_follow_r']:.2f}",
            f"real clips, own audio: {lk['real_follow_r']:.2f}",
        ),
    ]
    return rows


def save_dub_grid(path: Path, rows: Sequence[tuple[str, np.ndarray, np.ndarray]], n: int = 6) -> Path:
    """One row per person: `n` source crops over `n` dubbed crops (the same frames), labelled."""
    import cv2

    tiles = []
    for name, src, dubbed in rows:
        idx = np.linspace(0, min(len(src), len(dubbed)) - 1, n).astype(int)
        top = np.concatenate(list(src[idx]), axis=1)
        bottom = np.concatenate(list(dubbed[idx]), axis=1)
        label = np.full((18, top.shape[1], 3), 255, np.uint8)
        cv2.putText(label, f"{name}: source / dubbed", (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        tiles.append(np.concatenate([label, top, bottom], axis=0))
    from emotalk.video.image_io import write_image

    return write_image(path, np.concatenate(tiles, axis=0))
