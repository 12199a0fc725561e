"""`emotalk data-summary --root PRE --out DIR`: what a preprocessed folder holds, and what the generator sees.

Prints a table (clips, frames, frames without a face, actors and valid generator windows per split × emotion),
writes ``summary.json`` with the same numbers and ``sample_grid.png``: one generator sample per row,
[reference | masked input | target] (5 frames each), labelled with the emotion, clip and split.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emotalk.data.clips import ClipMeta
from emotalk.data.datamodule import load_clips, resolve_root
from emotalk.data.splits import SPLITS, SplitConfig, split_of
from emotalk.data.windows import MASK_MODES, ClipWindows, WindowDataset, apply_mask, build_index, video_tensor
from emotalk.fsutil import write_bytes
from emotalk.spec import DEFAULT_SPEC, EMOTIONS, AVSpec

UNLABELLED = "unlabelled"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, required=True, help="a preprocessed folder (emotalk preprocess --out)")
    parser.add_argument("--out", type=Path, required=True, help="folder for summary.json and sample_grid.png")
    parser.add_argument("--rows", type=int, default=6, help="samples in the grid (one per emotion when labelled)")
    parser.add_argument("--mask-mode", choices=MASK_MODES, default="full", help="mask of the input column")
    parser.add_argument("--seed", type=int, default=0, help="seed of the reference windows in the grid")


def _counts() -> dict[str, Any]:
    return {"clips": 0, "frames": 0, "frames_without_face": 0, "windows": 0, "actors": set()}


def summarise(metas: list[ClipMeta], index: list[ClipWindows], split_cfg: SplitConfig | None = None) -> dict[str, Any]:
    """Counts per split and emotion (from the manifest, plus valid generator windows from the index)."""
    split_cfg = split_cfg or SplitConfig()
    total = _counts()
    per_split: dict[str, dict[str, Any]] = {s: _counts() | {"emotions": defaultdict(_counts)} for s in SPLITS}
    datasets: dict[str, int] = defaultdict(int)
    for meta, clip in zip(metas, index, strict=True):
        split = split_of(meta, split_cfg)
        emo = meta.emotion or UNLABELLED
        n_windows = len(clip.starts) if len(clip.face_starts) >= 2 else 0
        for c in (total, per_split[split], per_split[split]["emotions"][emo]):
            c["clips"] += 1
            c["frames"] += meta.n_frames
            c["frames_without_face"] += meta.n_noface
            c["windows"] += n_windows
            c["actors"].add(meta.actor)
        datasets[meta.dataset] += 1

    def plain(c: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in c.items() if k not in ("actors", "emotions")}
        out["actors"] = sorted(c["actors"])
        if "emotions" in c:
            order = [e for e in (*EMOTIONS, UNLABELLED) if e in c["emotions"]]
            out["emotions"] = {e: plain(c["emotions"][e]) for e in order}
        return out

    return {
        "datasets": dict(datasets),
        **plain(total),
        "splits": {s: plain(per_split[s]) for s in SPLITS},
        "split_config": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(split_cfg).items()},
    }


def pick_grid_clips(metas: list[ClipMeta], index: list[ClipWindows], rows: int) -> list[int]:
    """Clips for the grid: one per emotion (cycling through actors), or evenly spaced unlabelled clips."""
    usable = [i for i, c in enumerate(index) if len(c.starts) and len(c.face_starts) >= 2]
    by_emotion: dict[str, list[int]] = defaultdict(list)
    for i in usable:
        by_emotion[metas[i].emotion or UNLABELLED].append(i)
    picks: list[int] = []
    emotions = [e for e in EMOTIONS if by_emotion.get(e)]
    round_ = 0
    while emotions and len(picks) < rows and round_ < rows:
        for e_i, e in enumerate(emotions):
            if len(picks) >= rows:
                break
            cands = by_emotion[e]
            pick = cands[(e_i * 7 + round_ * 3) % len(cands)]  # spread rows over actors, deterministically
            if pick not in picks:
                picks.append(pick)
        round_ += 1
    rest = [i for i in by_emotion.get(UNLABELLED, []) if i not in picks]
    n = min(rows - len(picks), len(rest))
    if n > 0:
        picks += [rest[int((k + 0.5) * len(rest) / n)] for k in range(n)]
    return picks


def _strip(video: np.ndarray) -> np.ndarray:
    """float [3, T, H, W] in [0, 1] -> uint8 [H, T*W, 3] BGR, frames side by side."""
    x = (np.clip(video, 0, 1) * 255 + 0.5).astype(np.uint8)
    c, t, h, w = x.shape
    return np.ascontiguousarray(x.transpose(2, 1, 3, 0).reshape(h, t * w, c))  # (H, T, W, C) -> (H, T*W, C)


def sample_grid(
    metas: list[ClipMeta],
    index: list[ClipWindows],
    picks: list[int],
    split_cfg: SplitConfig | None = None,
    mask_mode: str = "full",
    seed: int = 0,
    spec: AVSpec = DEFAULT_SPEC,
) -> np.ndarray:
    """A BGR uint8 image: a header, then per picked clip [label | reference | masked input | target]."""
    split_cfg = split_cfg or SplitConfig()
    ds = WindowDataset([index[i] for i in picks], "generator", spec=spec, train=False, windows_per_clip=1, seed=seed)
    S, T, gap, label_w, head_h = spec.img_size, spec.T, 8, 190, 30
    width = label_w + 3 * T * S + 2 * gap
    font = cv2.FONT_HERSHEY_SIMPLEX
    header = np.full((head_h, width, 3), 255, np.uint8)
    titles = ["reference (another start)", f"masked input ({mask_mode})", "target (frames f..f+4)"]
    for k, title in enumerate(titles):
        cv2.putText(header, title, (label_w + k * (T * S + gap) + 6, 21), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    rows = [header]
    for r in range(len(ds)):
        c, f, ref = ds.row(r)
        item = ds.load(c, f, ref)
        target = video_tensor([item["target"]])
        masked = apply_mask(target, mask_mode)[0].numpy()
        row = np.full((S, width, 3), 255, np.uint8)
        for k, video in enumerate((video_tensor([item["reference"]])[0].numpy(), masked, target[0].numpy())):
            x0 = label_w + k * (T * S + gap)
            row[:, x0 : x0 + T * S] = _strip(video)
        meta = ds.clips[c].meta
        lines = [
            ((meta.emotion or UNLABELLED).upper(), 0.75, 2),
            (f"{meta.clip_id}"[:24], 0.42, 1),
            (f"actor {meta.actor}, {split_of(meta, split_cfg)}", 0.42, 1),
            (f"f={f} ref={ref}", 0.42, 1),
        ]
        y = 26
        for text, scale, thick in lines:
            cv2.putText(row, text, (6, y), font, scale, (0, 0, 0), thick, cv2.LINE_AA)
            y += 22
        rows.append(row)
        rows.append(np.full((4, width, 3), 255, np.uint8))
    return np.concatenate(rows)


def print_table(summary: dict[str, Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("split", "emotion", "clips", "frames", "no-face frames", "actors", "generator windows"):
        table.add_column(col, justify="left" if col in ("split", "emotion") else "right")
    for s in SPLITS:
        sp = summary["splits"][s]
        for e, c in sp["emotions"].items():
            row = [c["clips"], c["frames"], c["frames_without_face"], len(c["actors"]), c["windows"]]
            table.add_row(s, e, *(str(v) for v in row))
        row = [sp["clips"], sp["frames"], sp["frames_without_face"], len(sp["actors"]), sp["windows"]]
        table.add_row(f"[bold]{s}[/]", "[bold]all[/]", *(f"[bold]{v}[/]" for v in row), end_section=True)
    row = [summary["clips"], summary["frames"], summary["frames_without_face"], len(summary["actors"])]
    table.add_row("[bold]total[/]", "", *(f"[bold]{v}[/]" for v in row), f"[bold]{summary['windows']}[/]")
    Console().print(table)


def run(args: argparse.Namespace) -> int:
    root = resolve_root(args.root)
    metas = load_clips(root)
    index = build_index(root, metas)
    split_cfg = SplitConfig()
    summary = {"root": str(root), **summarise(metas, index, split_cfg)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_bytes(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    picks = pick_grid_clips(metas, index, args.rows)
    if picks:
        grid = sample_grid(metas, index, picks, split_cfg, args.mask_mode, args.seed)
        ok, png = cv2.imencode(".png", grid)
        if not ok:  # pragma: no cover - OpenCV's PNG encoder does not fail on a uint8 BGR image
            raise RuntimeError("could not encode sample_grid.png")
        write_bytes(out / "sample_grid.png", png.tobytes())
    print_table(summary, f"{root} ({', '.join(f'{k}: {v}' for k, v in summary['datasets'].items())})")
    print(f"wrote {out / 'summary.json'}" + (f" and {out / 'sample_grid.png'}" if picks else " (no usable clip)"))
    return 0
