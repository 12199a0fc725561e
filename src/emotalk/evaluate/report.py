"""Results tables (Markdown, CSV, JSON) with 95 % bootstrap intervals and the published figures beside ours.

Intervals are bootstraps over **videos** (seeded): a video is drawn with replacement, the statistic recomputed.
For the means (LSE-D, LSE-C, SSIM, PSNR, EmoAcc) the interval is the 2.5–97.5 % percentile of the resampled means.
For FID it is the normal interval ± 1.96 × the bootstrap standard deviation around the point estimate: a resampled
FID is biased upwards (duplicated videos shrink the covariance's effective sample), so its percentile interval can
lie wholly above the estimate. FID resamples real and generated videos within each emotion, then averages the six.

A metric that could not be computed (weights not supplied) is written as ``n/a (no <file>)``, never a number.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotalk.fsutil import write_text

#: (key, column title, better) in table order.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("lse_d", "LSE-D", "lower"),
    ("lse_c", "LSE-C", "higher"),
    ("fid", "FID", "lower"),
    ("ssim", "SSIM", "higher"),
    ("psnr", "PSNR (dB)", "higher"),
    ("emo_acc", "EmoAcc (%)", "higher"),
)
METRIC_KEYS = tuple(k for k, _, _ in METRICS)
#: In results.json and results.csv, not in the Markdown table: SSIM / PSNR of the emotion-swapped dubs against
#: their source (identity preservation) when the main SSIM / PSNR columns are the reconstruction dubs'.
EXTRA_KEYS: tuple[str, ...] = ("ssim_id", "psnr_id")
DIGITS = {"lse_d": 3, "lse_c": 3, "fid": 2, "ssim": 3, "psnr": 2, "emo_acc": 1, "ssim_id": 3, "psnr_id": 2}

#: Published figures (reference-code.md §12.3, mission.md §7), shown beside ours and marked as published.
PUBLISHED: tuple[dict[str, Any], ...] = (
    {
        "experiment": "EmoGen (published)",
        "dataset": "CREMA-D",
        "metrics": {"emo_acc": 83.2, "fid": 5.29, "lse_c": 6.663},
        "source": "EmoGen paper (paperswithcode), not re-run",
    },
    {
        "experiment": "Wav2Lip (published)",
        "dataset": "LRS2",
        "metrics": {"lse_d": 6.386, "lse_c": 7.78},
        "source": "Wav2Lip paper, LRS2 test set, not re-run",
    },
)


# ---------------------------------------------------------------------------------------------------- bootstrap


def _quantiles(x: np.ndarray, level: float) -> tuple[float, float]:
    a = (1 - level) / 2
    # no interpolation: a PSNR of +inf (identical frames) must not become NaN through inf − inf
    lo, hi = np.quantile(x, [a, 1 - a], method="inverted_cdf")
    return float(lo), float(hi)


def bootstrap_mean(
    values: Sequence[float], n_boot: int = 1000, seed: int | Sequence[int] = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of `values` and its percentile bootstrap interval (NaN for no values)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    point = float(x.mean())
    if len(x) == 1 or n_boot <= 0:
        return point, point, point
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    with np.errstate(invalid="ignore"):
        means = x[idx].mean(1)
    lo, hi = _quantiles(means, level)
    return point, lo, hi


def normal_interval(
    point: float, draws: Sequence[float], level: float = 0.95, floor: float | None = None
) -> tuple[float, float]:
    """point ∓ z·sd(draws): the normal bootstrap interval (FID's, see the module docstring), cut at `floor`."""
    d = np.asarray([x for x in draws if math.isfinite(x)], dtype=np.float64)
    if not math.isfinite(point) or len(d) < 2:
        return point, point
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    sd = float(d.std(ddof=1))
    lo = point - z * sd
    return (lo if floor is None else max(floor, lo)), point + z * sd


# ---------------------------------------------------------------------------------------------------- cells


def cell(value: float, lo: float, hi: float, n: int, note: str = "") -> dict[str, Any]:
    """One metric value as stored in results.json."""

    def num(v: float) -> float | str | None:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, float) and math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return float(v)

    return {"value": num(value), "ci": [num(lo), num(hi)], "n": int(n), "note": note}


def na(note: str) -> dict[str, Any]:
    return {"value": None, "ci": [None, None], "n": 0, "note": note}


def _as_float(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, str):
        return float(v)  # "inf" / "-inf"
    return float(v)


def format_value(key: str, v: Any) -> str:
    f = _as_float(v)
    if f is None:
        return ""
    if math.isinf(f):
        return "∞" if f > 0 else "−∞"
    return f"{f:.{DIGITS.get(key, 3)}f}"


def format_cell(key: str, c: dict[str, Any] | None, with_ci: bool = True) -> str:
    """'6.213 [5.902, 6.511]', 'n/a (no syncnet_v2.model)' or '' for a metric a row does not have."""
    if c is None:
        return ""
    if c.get("value") is None:
        return c.get("note") or "n/a"
    text = format_value(key, c["value"])
    lo, hi = c.get("ci", [None, None])
    if with_ci and lo is not None and hi is not None and (lo != c["value"] or hi != c["value"]):
        text += f" [{format_value(key, lo)}, {format_value(key, hi)}]"
    return text


# ---------------------------------------------------------------------------------------------------- tables


def published_rows() -> list[dict[str, Any]]:
    rows = []
    for p in PUBLISHED:
        metrics = {k: cell(v, v, v, 0, "published") for k, v in p["metrics"].items()}
        rows.append(
            {
                "experiment": p["experiment"],
                "emotion": "all",
                "kind": "published",
                "dataset": p["dataset"],
                "source": p["source"],
                "metrics": metrics,
            }
        )
    return rows


def markdown(results: dict[str, Any]) -> str:
    """The results as Markdown: settings, the main table (ours + published), the per-emotion table."""
    s = results.get("settings", {})
    titles = [f"{t} ({'↓' if b == 'lower' else '↑'})" for _, t, b in METRICS]
    head = "| experiment | " + " | ".join(titles) + " | videos |"
    rule = "|---|" + "---|" * (len(METRICS) + 1)
    lines = ["# emotalk evaluation", ""]
    lines += [
        f"Data: {s.get('data', '?')} ({s.get('n_clips', '?')} source clips of actors "
        f"{', '.join(s.get('actors', []))} × {len(s.get('emotions', []))} emotions, seed {s.get('seed', '?')}).",
        f"LSE: syncnet_python protocol, {s.get('lse', {}).get('mode', '?')} front end at 25 fps, "
        f"min_track = {s.get('lse', {}).get('min_track', '?')} (reference 100), "
        f"min_face_size = {s.get('lse', {}).get('min_face_size', '?')} px.",
        f"FID: mean of the per-emotion FIDs over face crops ({s.get('fid', {}).get('feature', '?')}). "
        f"SSIM/PSNR: {s.get('ssim_psnr', {}).get('what', '?')} ({s.get('ssim_psnr', {}).get('space', '?')}).",
        f"EmoAcc: {s.get('emo_acc', {}).get('what', '?')}",
        f"Intervals: 95 % bootstrap over videos ({s.get('n_boot', '?')} resamples; FID {s.get('fid_boot', '?')}).",
        "",
    ]
    for note in results.get("notes", []):
        lines.append(f"- {note}")
    if results.get("notes"):
        lines.append("")
    lines += [head, rule]
    overall = [r for r in results["rows"] if r["emotion"] == "all"]
    for r in overall:
        name = r["experiment"] + (f" *({r.get('dataset')}, published)*" if r["kind"] == "published" else "")
        cells = [format_cell(k, r["metrics"].get(k)) for k in METRIC_KEYS]
        n = r.get("n_videos", "") if r["kind"] != "published" else "—"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {n} |")
    per = [r for r in results["rows"] if r["emotion"] != "all"]
    if per:
        lines += ["", "## Per emotion", "", head.replace("| experiment |", "| experiment | emotion |"), "|---" + rule]
        for r in per:
            cells = [format_cell(k, r["metrics"].get(k)) for k in METRIC_KEYS]
            n = r.get("n_videos", "")
            lines.append(f"| {r['experiment']} | {r['emotion']} | " + " | ".join(cells) + f" | {n} |")
    return "\n".join(lines) + "\n"


def csv_text(results: dict[str, Any]) -> str:
    """One line per (experiment, emotion): value, ci_lo, ci_hi per metric; n/a notes in the value column."""
    buf = io.StringIO()
    cols = ["experiment", "emotion", "kind", "dataset", "n_videos"]
    keys = METRIC_KEYS + tuple(k for k in EXTRA_KEYS if any(k in r["metrics"] for r in results["rows"]))
    for k in keys:
        cols += [k, f"{k}_lo", f"{k}_hi"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in results["rows"]:
        line = [r["experiment"], r["emotion"], r["kind"], r.get("dataset", ""), r.get("n_videos", "")]
        for k in keys:
            c = r["metrics"].get(k)
            if c is None:
                line += ["", "", ""]
            elif c.get("value") is None:
                line += [c.get("note") or "n/a", "", ""]
            else:
                lo, hi = c["ci"]
                line += [c["value"], "" if lo is None else lo, "" if hi is None else hi]
        w.writerow(line)
    return buf.getvalue()


def write_results(results: dict[str, Any], out: Path | str) -> dict[str, Path]:
    """results.json, results.csv and results.md under `out` (each written atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "json": write_text(out / "results.json", json.dumps(results, indent=2, default=_json_default)),
        "csv": write_text(out / "results.csv", csv_text(results)),
        "md": write_text(out / "results.md", markdown(results)),
    }


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        f = float(o)
        return None if math.isnan(f) else ("inf" if f == math.inf else "-inf" if f == -math.inf else f)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def load_results(path: Path | str) -> dict[str, Any]:
    """results.json (or the folder holding it)."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    return json.loads(p.read_text())
