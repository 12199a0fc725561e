"""Face tracks within a shot and the speaking face among them (gating.py's ``--face auto``): faces linked by IoU,
each face's mouth opening set against the loudness of the video's own audio."""

from __future__ import annotations

import numpy as np

from emotalk.infer.face_plan import Face, GateSettings


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def link_tracks(faces: list[list[Face]], start: int, end: int, first_id: int, max_miss: int = 3) -> int:
    """Give the faces of frames [start, end) (one shot) track ids by greedy IoU matching (≥ 0.3) with each track's
    last box (a track survives `max_miss` frames without a match). Returns the next free id."""
    active: dict[int, tuple[np.ndarray, int]] = {}
    nxt = first_id
    for i in range(start, end):
        pairs = sorted(
            ((_iou(f.box, box), k, t) for k, f in enumerate(faces[i]) for t, (box, _) in active.items()),
            key=lambda p: -p[0],
        )
        used_f: set[int] = set()
        used_t: set[int] = set()
        for iou, k, t in pairs:
            if iou < 0.3 or k in used_f or t in used_t:
                continue
            faces[i][k].track = t
            used_f.add(k)
            used_t.add(t)
        for k, f in enumerate(faces[i]):
            if k not in used_f:
                f.track = nxt
                nxt += 1
            active[f.track] = (f.box, i)
        active = {t: v for t, v in active.items() if i - v[1] <= max_miss}
    return nxt


# ---------------------------------------------------------------------------------------------------- speaker


def frame_energy(wav: np.ndarray, fps: float, n: int, sample_rate: int = 16000) -> np.ndarray:
    """Loudness (dBFS, floored at -60) of the audio under each of `n` frames, smoothed over 3 frames."""
    wav = np.asarray(wav, np.float32)
    out = np.full(n, -60.0)
    for i in range(n):
        a, b = int(i / fps * sample_rate), int((i + 1) / fps * sample_rate)
        seg = wav[a:b].astype(np.float64)
        if seg.size:
            rms = float(np.sqrt(np.mean(seg * seg)))
            out[i] = max(-60.0, 20 * np.log10(rms)) if rms > 0 else -60.0
    padded = np.pad(out, 1, mode="edge")
    return np.convolve(padded, np.ones(3) / 3, mode="valid")


def _lag_corr(mouth: np.ndarray, energy: np.ndarray, max_lag: int = 3) -> float:
    """Best Pearson correlation of a mouth series (NaN where not measured) with the energy, over ±max_lag frames
    (recordings are often a frame or three out of sync)."""
    idx = np.arange(len(mouth))
    best = -1.0
    for lag in range(-max_lag, max_lag + 1):
        ok = ~np.isnan(mouth) & (idx + lag >= 0) & (idx + lag < len(energy))
        a, b = mouth[ok], energy[idx[ok] + lag]
        if len(a) < 6 or a.std() < 1e-9 or b.std() < 1e-9:
            continue
        best = max(best, float(np.corrcoef(a, b)[0, 1]))
    return best


def choose_speaker(
    faces: list[list[Face]], lo: int, hi: int, energy: np.ndarray, s: GateSettings
) -> tuple[int | None, str]:
    """The speaking face's track in frames [lo, hi), and the verdict.

    Verdicts: ``speaker`` (one face moves its mouth, or the one whose mouth follows the audio best among several
    that do), ``off_screen`` (the audio has speech, enough faces were measured, none moves its mouth),
    ``undecided`` (too little speech or too few measurements: the caller falls back).
    """
    e = energy[lo:hi]
    speech = len(e) > 0 and float(e.max()) > -45.0 and float(e.std()) > 3.0
    series: dict[int, np.ndarray] = {}
    for i in range(lo, hi):
        for f in faces[i]:
            if f.meshed and f.geom is not None and f.geom.plausible:
                series.setdefault(f.track, np.full(hi - lo, np.nan))[i - lo] = f.geom.mouth
    measured = {t: m for t, m in series.items() if np.count_nonzero(~np.isnan(m)) >= 6}
    if not speech or not measured:
        return None, "undecided"
    moving = {t: m for t, m in measured.items() if float(np.nanstd(m)) >= s.min_mouth_std}
    if not moving:
        return None, "off_screen"
    if len(moving) == 1:
        return next(iter(moving)), "speaker"
    scores = {t: _lag_corr(m, e) for t, m in moving.items()}
    return max(scores, key=lambda t: scores[t]), "speaker"


def largest_track(faces: list[list[Face]], lo: int, hi: int) -> int | None:
    """The track seen most in frames [lo, hi) (area x frames): the fallback when the speaker is undecided."""
    weight: dict[int, float] = {}
    for i in range(lo, hi):
        for f in faces[i]:
            weight[f.track] = weight.get(f.track, 0.0) + f.area
    return max(weight, key=lambda t: weight[t]) if weight else None
