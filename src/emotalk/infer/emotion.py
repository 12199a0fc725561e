"""The generator's emotion input over time: strength (a blend with neutral) and timelines with crossfades.

The generator takes a soft [6] vector per frame (models/generator.py). Strength s gives
s·onehot(emotion) + (1 − s)·onehot(neutral). A timeline such as ``"0-2.5:happy,2.5-6:sad@0.6"`` sets the
emotion (and optionally its strength after ``@``) over time ranges in seconds; frames outside every range take
the default emotion. Changes are crossfaded: the vector of a frame at time t is the mean of the piecewise-constant
target over [t − c/2, t + c/2] ∩ [0, ∞) (c = crossfade seconds), i.e. a linear ramp of length c centred on each
boundary.

>>> emotion_vector("happy", 0.5).round(2).tolist()
[0.0, 0.0, 0.0, 0.5, 0.5, 0.0]
>>> [(s.start, s.end, s.emotion, s.strength) for s in parse_timeline("0-2.5:happy, 2.5-6:sad@0.6")]
[(0.0, 2.5, 'happy', None), (2.5, 6.0, 'sad', 0.6)]
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import numpy as np

from emotalk.cremad import emotion_index
from emotalk.errors import ConfigError
from emotalk.spec import EMOTIONS, NEUTRAL

DEFAULT_CROSSFADE_S = 0.3


class TimelineError(ConfigError):
    """An emotion timeline that cannot be read (syntax, order, overlap) or a strength outside 0..1."""


def check_strength(strength: float, where: str = "--strength") -> float:
    s = float(strength)
    if not (0.0 <= s <= 1.0) or math.isnan(s):
        raise TimelineError(f"{where} must be between 0 and 1, got {strength!r}")
    return s


def upper_face_weight(emotion: np.ndarray | None) -> float:
    """How much of the generated eyes and brows to paste: the frame's non-neutral weight (1 without a vector)."""
    return 1.0 if emotion is None else float(np.clip(1.0 - emotion[NEUTRAL], 0.0, 1.0))


def emotion_vector(emotion: str | int, strength: float = 1.0) -> np.ndarray:
    """The soft generator input [6] float32: strength·onehot(emotion) + (1 − strength)·onehot(neutral)."""
    idx = emotion if isinstance(emotion, int) else emotion_index(emotion)
    if not 0 <= idx < len(EMOTIONS):
        raise TimelineError(f"emotion index {idx} is outside 0..{len(EMOTIONS) - 1}")
    s = check_strength(strength)
    v = np.zeros(len(EMOTIONS), np.float32)
    v[idx] += s
    v[NEUTRAL] += 1.0 - s
    return v


@dataclass(frozen=True)
class TimelineRange:
    """One range of a timeline: [start, end) seconds (end None: to the end of the video)."""

    start: float
    end: float | None
    emotion: str
    strength: float | None = None  # None: the run's --strength


_RANGE = re.compile(
    r"^\s*(?P<start>\d+(?:\.\d*)?|\.\d+)\s*-\s*(?P<end>\d+(?:\.\d*)?|\.\d+|end)?\s*:\s*(?P<emo>[A-Za-z]+)"
    r"\s*(?:@\s*(?P<s>[0-9.]+))?\s*$"
)


def parse_timeline(text: str) -> list[TimelineRange]:
    """Parse ``"START-END:EMOTION[@STRENGTH],..."`` (seconds; END may be empty or "end" for the last range).

    Ranges must not overlap; they are returned sorted by start.
    """
    if text is None or not str(text).strip():
        return []
    out = []
    for item in str(text).split(","):
        if not item.strip():
            continue
        m = _RANGE.match(item)
        if not m:
            raise TimelineError(
                f"cannot read timeline item {item.strip()!r}: use START-END:EMOTION[@STRENGTH] in seconds, "
                "e.g. '0-2.5:happy,2.5-6:sad@0.6'"
            )
        start = float(m.group("start"))
        end = None if m.group("end") in (None, "end") else float(m.group("end"))
        if end is not None and end <= start:
            raise TimelineError(f"timeline item {item.strip()!r} ends before it starts")
        emotion = EMOTIONS[emotion_index(m.group("emo"))]
        strength = check_strength(m.group("s"), f"strength in timeline item {item.strip()!r}") if m.group("s") else None
        out.append(TimelineRange(start, end, emotion, strength))
    out.sort(key=lambda r: r.start)
    for a, b in itertools.pairwise(out):
        if a.end is None or a.end > b.start:
            raise TimelineError(
                f"timeline ranges overlap: {a.start:g}-{'end' if a.end is None else f'{a.end:g}'} and "
                f"{b.start:g}-{'end' if b.end is None else f'{b.end:g}'}"
            )
    return out


class EmotionSchedule:
    """Per-frame soft emotion vectors: `schedule(frame_indices)` → [n, 6] float32, cheap for any chunk.

    Args:
        default: emotion outside the timeline's ranges (name, CREMA-D code or index).
        strength: strength of the default and of ranges without their own ``@``.
        timeline: a timeline string or parsed ranges.
        crossfade: seconds over which a change ramps linearly (centred on the boundary); 0: hard cuts.
    """

    def __init__(
        self,
        fps: float,
        default: str | int = "neutral",
        strength: float = 1.0,
        timeline: str | list[TimelineRange] | None = None,
        crossfade: float = DEFAULT_CROSSFADE_S,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self.strength = check_strength(strength)
        self.default = emotion_vector(default, self.strength)
        self.ranges = parse_timeline(timeline) if isinstance(timeline, str | None) else list(timeline)
        if crossfade < 0 or math.isnan(crossfade):
            raise TimelineError(f"crossfade must be >= 0 seconds, got {crossfade}")
        self.crossfade = float(crossfade)
        # piecewise-constant target: breakpoints t_0 < t_1 < … and the vector on each piece
        points: list[tuple[float, float, np.ndarray]] = []
        for r in self.ranges:
            vec = emotion_vector(r.emotion, self.strength if r.strength is None else r.strength)
            points.append((r.start, math.inf if r.end is None else r.end, vec))
        self._pieces = points

    def target(self, t: np.ndarray) -> np.ndarray:
        """The un-faded vector at times `t` (seconds) → [n, 6]."""
        out = np.broadcast_to(self.default, (len(t), len(EMOTIONS))).copy()
        for start, end, vec in self._pieces:
            out[(t >= start) & (t < end)] = vec
        return out

    def _integral(self, t: np.ndarray) -> np.ndarray:
        """∫_0^t target(τ) dτ for t ≥ 0."""
        out = self.default[None, :] * t[:, None]
        for start, end, vec in self._pieces:
            overlap = np.clip(np.minimum(t, end) - start, 0.0, None)[:, None]
            out = out + overlap * (vec - self.default)[None, :]
        return out

    def at_times(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        if self.crossfade <= 0 or not self._pieces:
            return self.target(t).astype(np.float32)
        h = self.crossfade / 2
        lo, hi = np.maximum(t - h, 0.0), np.maximum(t + h, 0.0)  # nothing fades in from before the start
        width = np.maximum(hi - lo, 1e-12)[:, None]
        vec = (self._integral(hi) - self._integral(lo)) / width
        return vec.astype(np.float32)

    def __call__(self, frames: np.ndarray | list[int] | range) -> np.ndarray:
        """Vectors of video frames (frame i shows time i / fps) → [n, 6] float32, rows summing to 1."""
        return self.at_times(np.asarray(frames, dtype=np.float64) / self.fps)

    def describe(self) -> str:
        """A short human-readable form for metadata tags and summaries, e.g. "happy@0.6" or a timeline."""

        def one(vec: np.ndarray) -> str:
            idx = int(np.argmax(np.where(np.arange(len(EMOTIONS)) == NEUTRAL, -1, vec)))
            s = float(vec[idx])
            return EMOTIONS[NEUTRAL] if s <= 0 else f"{EMOTIONS[idx]}@{s:g}" if s < 1 else EMOTIONS[idx]

        base = one(self.default)
        if not self.ranges:
            return base
        items = ", ".join(
            f"{r.start:g}-{'end' if r.end is None else f'{r.end:g}'}s {r.emotion}"
            + (
                ""
                if (r.strength if r.strength is not None else self.strength) >= 1
                else f"@{r.strength if r.strength is not None else self.strength:g}"
            )
            for r in self.ranges
        )
        return f"{base}; timeline {items}"


def emotion_schedule(
    n_frames: int,
    fps: float,
    default: str | int = "neutral",
    strength: float = 1.0,
    timeline: str | list[TimelineRange] | None = None,
    crossfade: float = DEFAULT_CROSSFADE_S,
) -> np.ndarray:
    """All frames' vectors at once, [n_frames, 6] float32 (see `EmotionSchedule`)."""
    return EmotionSchedule(fps, default, strength, timeline, crossfade)(np.arange(n_frames))
