"""Which frames may be dubbed, and with which face: per-frame gating, shot cuts and the speaking face (issue #14).

A dub used to paint a mouth on whatever mediapipe boxed: a hand for a frame, a profile's cheek, the largest face
of a listening audience. Before generating anything, one analysis pass (`analyze`) decodes the video at ≤ 640 px,
detects every face, notes shot cuts (`video.shots`) and runs the face mesh on each plausible face's crop every
`mesh_every` frames; `build_plan` then decides, for every output frame, the box to dub or why the frame passes
through untouched:

* ``no_face``: no face (or not the chosen one) in the frame;
* ``low_confidence``: the detector's score is under `min_confidence`;
* ``small_face``: the box's shorter side is under `min_face` pixels (the 96 px model would only blur it);
* ``landmarks``: the face mesh finds no face in the box, or an implausible one (a hand, a cartoon, a mask);
* ``pose``: yaw, pitch or roll beyond `max_yaw`/`max_pitch`/`max_roll` (the model saw upright, near-frontal
  faces only);
* ``transient``: a face that appears for fewer than `min_run` frames (a flickering false detection);
* ``off_screen_speaker``: ``--face auto`` found faces, but none of them moves its mouth while the video's own
  audio has speech (an audience listening to someone off screen);
* ``silence``: ``--silence keep`` and the new audio is silent there.

Boxes are gap-filled and smoothed only within a shot and within one face's run, so no box is carried or averaged
across a cut; the face is chosen again after each cut. A dubbed stretch fades in and out over `fade` seconds
where it borders passed-through frames of the same shot (the generated face's alpha ramps), instead of popping.
The vocabulary (reasons, `GateSettings`, the records) lives in face_plan.py, face tracks and the speaker in
speaker.py; this module re-exports both.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from emotalk.infer.face_plan import (
    FACE_REASONS,
    LANDMARKS,
    LOW_CONFIDENCE,
    NO_FACE,
    OFF_SCREEN,
    POSE,
    SILENCE,
    SMALL_FACE,
    TRANSIENT,
    Analysis,
    Face,
    FacePlan,
    GateSettings,
)
from emotalk.infer.speaker import choose_speaker, frame_energy, largest_track, link_tracks
from emotalk.video.faces import Box, MeshGeometry, smooth_boxes
from emotalk.video.track import fill_gaps

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------- analysis


def analyze(
    frames: Iterable[tuple[np.ndarray, bool]],
    n_out: int,
    detector: Any,
    mesh: Any | None,
    shots: Any,
    settings: GateSettings,
    scale: tuple[float, float] = (1.0, 1.0),
    frame_hw: tuple[int, int] = (0, 0),
    hook: Callable[[int, list[Box]], list[Box]] | None = None,
    timer: Any | None = None,
    progress: Callable[[int], None] | None = None,
) -> Analysis:
    """Detect, cut and mesh every output frame. `frames` yields (frame, is a new input frame) per output frame
    (a repeated last frame keeps its faces); `scale` maps the decoded frame's pixels to the input's.

    `hook(index, boxes)` may change a frame's detections (tests inject false detections through it).
    """
    import contextlib

    def stage(name: str) -> Any:
        return timer.stage(name) if timer is not None else contextlib.nullcontext()

    sx, sy = scale
    faces: list[list[Face]] = []
    cuts: list[bool] = []
    shot_start = 0
    last: list[Face] = []
    for i, (frame, new) in enumerate(frames):
        if i >= n_out:
            break
        if progress is not None and i % 25 == 0:
            progress(i)
        if not new:
            faces.append(last)
            cuts.append(False)
            continue
        with stage("cut"):
            cut = bool(shots.push(frame))
        if cut:
            shot_start = i
        with stage("detect"):
            found = detector.detect(frame)
        found = [Box(b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy, b.score) for b in found]
        if hook is not None:
            found = sorted(hook(i, found), key=lambda b: b.area, reverse=True)
        here = [Face(b.as_array().astype(np.float64), float(b.score)) for b in found]
        if mesh is not None and (i - shot_start) % max(1, settings.mesh_every) == 0:
            with stage("mesh"):
                for f in here[: settings.max_faces]:
                    if _cheap_reason(f, settings) is None:
                        box = f.box / np.array([sx, sy, sx, sy])
                        g = mesh.geometry(frame, box)
                        f.geom = g  # ratios and angles: the same at any scale
                        f.meshed = True
        faces.append(here)
        cuts.append(cut)
        last = here
    return Analysis(faces, cuts, frame_hw)


def _cheap_reason(f: Face, s: GateSettings) -> str | None:
    if f.score < s.min_confidence:
        return LOW_CONFIDENCE
    if min(f.box[2] - f.box[0], f.box[3] - f.box[1]) < s.min_face:
        return SMALL_FACE
    return None


# ---------------------------------------------------------------------------------------------------- the plan


def build_plan(
    analysis: Analysis,
    selector: Any,
    settings: GateSettings,
    fps: float,
    energy: np.ndarray | None = None,
    silent: np.ndarray | None = None,
    box_smoothing: int = 5,
) -> FacePlan:
    """Decide every frame (see the module's docstring).

    Args:
        selector: `infer.stream.FaceSelector`; its ``auto`` mode picks the speaker by `energy` (the video's own
            audio, `frame_energy`), or the largest face when `energy` is None.
        silent: [N] bool, frames to pass through for ``--silence keep``.
    """
    s = settings
    faces, n = analysis.faces, len(analysis.faces)
    starts = analysis.shot_starts or ([0] if n else [])
    bounds = list(itertools.pairwise([*starts, n]))
    next_id = 0
    for a, b in bounds:
        next_id = link_tracks(faces, a, b, next_id)
    auto = getattr(selector, "auto", False)
    mode = "auto" if auto else selector.describe()
    chosen, reasons, speakers, notes = _choose_faces(analysis, bounds, selector, s, fps, energy)
    accepted, doubts = _check_chosen(faces, chosen, reasons, bounds, s)
    boxes = _run_boxes(chosen, accepted, reasons, bounds, s, box_smoothing)
    if silent is not None:
        for i in range(n):
            if reasons[i] is None and silent[i]:
                reasons[i] = SILENCE
                boxes[i] = np.nan
    weights = _fade_weights(reasons, starts, n, max(0, round(s.fade * fps)))
    return FacePlan(boxes, reasons, weights, starts, mode, notes, speakers, doubts, next_id, [len(f) for f in faces])


def _choose_faces(
    analysis: Analysis,
    bounds: list[tuple[int, int]],
    selector: Any,
    s: GateSettings,
    fps: float,
    energy: np.ndarray | None,
) -> tuple[list[Face | None], list[str | None], list[list[Any]], list[str]]:
    """The face to dub in each frame: the speaker (``--face auto`` with the video's own speech and the mesh), else
    the selector's pick. Returns (chosen face or None, reason where already decided, speaker verdicts, notes)."""
    faces, n = analysis.faces, len(analysis.faces)
    auto = getattr(selector, "auto", False)
    notes: list[str] = []
    chosen: list[Face | None] = [None] * n
    reasons: list[str | None] = [None] * n
    speakers: list[list[Any]] = []
    use_speech = auto and energy is not None and s.landmarks
    if auto and not use_speech and any(len(f) > 1 for f in faces):
        if energy is None:
            notes.append("the video has no speech of its own to find the speaker by: the largest face is dubbed")
        else:
            notes.append("face mesh off: --face auto dubs the largest face")
    h, w = analysis.frame_hw
    for a, b in bounds:
        if use_speech:
            assert energy is not None
            speakers += _speaker_windows(faces, a, b, energy, s, fps, chosen, reasons)
        else:
            for i in range(a, b):
                k = selector.pick_index([f.as_box() for f in faces[i]], (h, w)) if faces[i] else None
                chosen[i] = faces[i][k] if k is not None else None
    if any(v == "off_screen" for *_, v in speakers):
        notes.append("some shots show faces while someone off screen speaks: passed through (off_screen_speaker)")
    return chosen, reasons, speakers, notes


def _speaker_windows(
    faces: list[list[Face]],
    a: int,
    b: int,
    energy: np.ndarray,
    s: GateSettings,
    fps: float,
    chosen: list[Face | None],
    reasons: list[str | None],
) -> list[list[Any]]:
    """The speaker of shot [a, b), decided per `speaker_window` seconds (falling back to the shot's verdict, then
    to the face seen most); fills `chosen` (or `reasons` where someone off screen speaks) and returns
    [first, last, track, verdict] per window."""
    shot_pick, shot_verdict = choose_speaker(faces, a, b, energy, s)
    win = max(1, round(s.speaker_window * fps))
    n_win = max(1, round((b - a) / win))
    edges = np.linspace(a, b, n_win + 1).round().astype(int)
    speakers: list[list[Any]] = []
    for lo, hi in itertools.pairwise(edges.tolist()):
        pick, verdict = choose_speaker(faces, lo, hi, energy, s) if n_win > 1 else (shot_pick, shot_verdict)
        if verdict == "undecided":
            pick, verdict = shot_pick, shot_verdict
        if verdict == "undecided":  # no evidence either way: the face seen most (area x frames)
            pick, verdict = largest_track(faces, lo, hi), "largest"
        speakers.append([int(lo), int(hi) - 1, pick, verdict])
        for i in range(lo, hi):
            if verdict == "off_screen":
                reasons[i] = OFF_SCREEN if faces[i] else NO_FACE
                continue
            chosen[i] = next((f for f in faces[i] if f.track == pick), None)
    return speakers


def _check_chosen(
    faces: list[list[Face]],
    chosen: list[Face | None],
    reasons: list[str | None],
    bounds: list[tuple[int, int]],
    s: GateSettings,
) -> tuple[np.ndarray, int]:
    """The per-frame verdict of each chosen face (confidence, size, landmarks, pose), written into `reasons`.
    Returns which frames are accepted and how many failed the landmark check."""
    n = len(chosen)
    accepted = np.zeros(n, bool)
    doubts = 0
    for i in range(n):
        f = chosen[i]
        if reasons[i] is not None:
            continue
        if f is None:
            reasons[i] = NO_FACE
            continue
        why = _cheap_reason(f, s)
        if why is None and s.landmarks:
            g = _geometry(faces, i, f, bounds, 4 * max(1, s.mesh_every))
            if g is None or not g.plausible:
                why = LANDMARKS
                doubts += 1
            elif g.yaw > s.max_yaw or g.pitch > s.max_pitch or abs(g.roll) > s.max_roll:
                why = POSE
        reasons[i] = why
        accepted[i] = why is None
    return accepted, doubts


def _run_boxes(
    chosen: list[Face | None],
    accepted: np.ndarray,
    reasons: list[str | None],
    bounds: list[tuple[int, int]],
    s: GateSettings,
    box_smoothing: int,
) -> np.ndarray:
    """[N, 4] boxes of the accepted frames, run by run of one face within one shot: short gaps filled, transients
    dropped, boxes smoothed (never across a cut or a change of face); NaN elsewhere."""
    boxes = np.full((len(chosen), 4), np.nan)
    for a, b in bounds:
        seg_start, current = a, None
        for i in range(a, b):
            if accepted[i]:
                track = chosen[i].track  # type: ignore[union-attr]
                if current is not None and track != current:
                    _finish_run(seg_start, i, chosen, accepted, reasons, boxes, s, box_smoothing)
                    seg_start = i
                current = track
        _finish_run(seg_start, b, chosen, accepted, reasons, boxes, s, box_smoothing)
    return boxes


def _finish_run(
    a: int,
    b: int,
    chosen: list[Face | None],
    accepted: np.ndarray,
    reasons: list[str | None],
    boxes: np.ndarray,
    s: GateSettings,
    window: int,
) -> None:
    """Frames [a, b) of one shot with one accepted face: interpolate gaps of ≤ max_gap between accepted frames,
    reject runs without min_run consecutive accepted frames and with fewer than 2·min_run in all (reason
    transient: flickering false detections) and smooth the boxes of the rest."""
    if b <= a:
        return
    raw = np.full((b - a, 4), np.nan)
    for i in range(a, b):
        if accepted[i]:
            raw[i - a] = chosen[i].box  # type: ignore[union-attr]
    filled, was_filled = fill_gaps(raw, s.max_gap)
    ok = ~np.isnan(filled).any(axis=1)
    n_total = len(reasons)
    k = 0
    while k < len(ok):
        if not ok[k]:
            k += 1
            continue
        e = k
        while e < len(ok) and ok[e]:
            e += 1
        seen = ok[k:e] & ~was_filled[k:e]
        real, longest, cur = int(seen.sum()), 0, 0
        for v in seen:
            cur = cur + 1 if v else 0
            longest = max(longest, cur)
        # a flicker: no min_run consecutive detections and few in all (a real face missed now and then has many)
        if longest < s.min_run and real < 2 * s.min_run and n_total >= s.min_run:
            for j in range(k, e):
                if not was_filled[j]:
                    reasons[a + j] = TRANSIENT
                accepted[a + j] = False
            filled[k:e] = np.nan
        else:
            for j in range(k, e):
                if was_filled[j]:
                    reasons[a + j] = None  # a short miss inside a run: interpolated, as preprocessing
            filled[k:e] = smooth_boxes(filled[k:e], window)
        k = e
    boxes[a:b] = filled


def _geometry(
    faces: list[list[Face]], i: int, f: Face, bounds: list[tuple[int, int]], max_distance: int
) -> MeshGeometry | None:
    """The mesh verdict of face `f` in frame i: its own, or that of the nearest meshed frame of its track in the
    same shot (the mesh runs every `mesh_every` frames)."""
    if f.meshed:
        return f.geom
    a, b = next((lo, hi) for lo, hi in bounds if lo <= i < hi)
    for d in range(1, min(b - a, max_distance + 1)):
        for j in (i - d, i + d):
            if a <= j < b:
                g = next((x for x in faces[j] if x.track == f.track and x.meshed), None)
                if g is not None:
                    return g.geom
    return None


def _fade_weights(reasons: list[str | None], starts: list[int], n: int, fade: int) -> np.ndarray:
    """Alpha 1 on dubbed frames, ramping (k+1)/(fade+1) over the first/last `fade` frames of a dubbed stretch
    where it borders passed-through frames of the same shot (a cut hides the change anyway)."""
    w = np.ones(n)
    if fade <= 0:
        return w
    start_set = set(starts)
    i = 0
    while i < n:
        if reasons[i] is not None:
            i += 1
            continue
        e = i
        while e < n and reasons[e] is None:
            e += 1
        ramp_in = i > 0 and i not in start_set
        ramp_out = e < n and e not in start_set
        for k in range(min(fade, e - i)):
            r = (k + 1) / (fade + 1)
            if ramp_in:
                w[i + k] = min(w[i + k], r)
            if ramp_out:
                w[e - 1 - k] = min(w[e - 1 - k], r)
        i = e
    return w


def summarize(plan: FacePlan, settings: GateSettings) -> list[str]:
    """One-line warnings about the plan: a large share of frames passed through, a doubted only face."""
    n = len(plan.reasons)
    out: list[str] = []
    if not n:
        return out
    counts: dict[str, int] = {}
    for r in plan.reasons:
        if r in FACE_REASONS:
            counts[r] = counts.get(r, 0) + 1
    total = sum(counts.values())
    if total > settings.warn_share * n:
        why = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        hint = "; pass --face 1 to dub the largest face anyway" if OFF_SCREEN in counts else ""
        out.append(f"{total} of {n} frames ({100 * total / n:.0f} %) were passed through unchanged ({why}){hint}")
    if plan.tracks == 1 and plan.landmark_doubts > 0.5 * n:
        out.append(
            "the only face failed the landmark check on most frames (a drawing, painting, mask or profile?): "
            "it was left as it is"
        )
    return out


__all__ = [
    "FACE_REASONS",
    "LANDMARKS",
    "LOW_CONFIDENCE",
    "NO_FACE",
    "OFF_SCREEN",
    "POSE",
    "SILENCE",
    "SMALL_FACE",
    "TRANSIENT",
    "Analysis",
    "Face",
    "FacePlan",
    "GateSettings",
    "analyze",
    "build_plan",
    "choose_speaker",
    "frame_energy",
    "link_tracks",
    "summarize",
]
