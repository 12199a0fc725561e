"""One clip planned before it is drawn (`clip_plan`): duration, voice, mouth track, head motion and blinks,
deterministic for (seed, clip name); `make_clip` renders it in memory (test fixtures).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from emotalk.cremad import format_name
from emotalk.data.synthetic.actors import (
    DEFAULT_DURATION,
    FPS,
    HEIGHT,
    WIDTH,
    ActorParams,
    Expression,
    Pose,
    _rng,
    actor_params,
    expression,
)
from emotalk.data.synthetic.face import face_box, mouth_box, render_face
from emotalk.data.synthetic.voice import frame_rms, mouth_track, synth_voice
from emotalk.spec import EMOTIONS

log = logging.getLogger(__name__)


def head_poses(r: np.random.Generator, n: int, fps: float = FPS) -> list[Pose]:
    """Smooth head motion: sums of slow sinusoids with random amplitudes, rates and phases."""
    t = np.arange(n) / fps

    def wave(amp: float) -> np.ndarray:
        f1, f2 = r.uniform(0.15, 0.45), r.uniform(0.5, 1.1)
        return amp * (
            np.sin(2 * np.pi * f1 * t + r.uniform(0, 6.3)) + 0.4 * np.sin(2 * np.pi * f2 * t + r.uniform(0, 6.3))
        )

    dx, dy = wave(r.uniform(4, 10)), wave(r.uniform(2, 5))
    ang, sc = wave(r.uniform(1.0, 3.5)), 1 + wave(r.uniform(0.01, 0.025))
    return [Pose(float(dx[i]), float(dy[i]), float(ang[i]), float(sc[i])) for i in range(n)]


def _blinks(r: np.random.Generator, n: int, fps: float) -> np.ndarray:
    out = np.zeros(n, np.float32)
    t = r.uniform(0.3, 2.0)
    shape = np.array([0.5, 1.0, 0.6, 0.2])
    while t * fps < n:
        i = int(t * fps)
        m = min(len(shape), n - i)
        out[i : i + m] = shape[:m]
        t += r.uniform(2.0, 4.5)
    return out


@dataclass
class ClipPlan:
    """Everything that defines one synthetic clip before it is drawn (audio included)."""

    name: str
    params: ActorParams
    expression: Expression
    wav: np.ndarray  # float32 [S] at 16 kHz
    fps: float
    rms: np.ndarray  # float32 [N]
    mouth: np.ndarray  # float32 [N] in [0, 1]
    poses: list[Pose]
    blinks: np.ndarray  # float32 [N]
    size: tuple[int, int] = (WIDTH, HEIGHT)
    label: dict[str, str] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.poses)

    def frame(self, i: int) -> np.ndarray:
        return render_face(
            self.params, self.expression, float(self.mouth[i]), self.poses[i], self.size, blink=float(self.blinks[i])
        )

    def frames(self) -> Iterator[np.ndarray]:
        for i in range(self.n_frames):
            yield self.frame(i)

    def face_boxes(self) -> np.ndarray:
        """[N, 4] where the face was drawn in each frame."""
        return np.stack([face_box(self.params, p, self.size) for p in self.poses])

    def mouth_boxes(self) -> np.ndarray:
        return np.stack([mouth_box(self.params, p, self.size) for p in self.poses])


def _duration(r: np.random.Generator, duration: float | tuple[float, float]) -> float:
    if isinstance(duration, int | float):
        return float(duration)
    lo, hi = duration
    return float(r.uniform(lo, hi))


def clip_plan(
    actor: str | int,
    sentence: str,
    emotion: str,
    level: str = "unspecified",
    seed: int = 0,
    duration: float | tuple[float, float] = DEFAULT_DURATION,
    fps: float = FPS,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> ClipPlan:
    """Plan the clip `<actor>_<sentence>_<emotion>_<level>`: its audio, mouth track, head motion and blinks."""
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; use one of {', '.join(EMOTIONS)}")
    name = format_name(actor, sentence, emotion, level)
    r = _rng(seed, "clip", name)
    dur = _duration(r, duration)
    n = max(1, round(dur * fps))
    wav = synth_voice(str(actor), emotion, level, n / fps, seed=seed, name=name)
    rms = frame_rms(wav, n, fps)
    return ClipPlan(
        name=name,
        params=actor_params(str(actor), seed),
        expression=expression(emotion, level),
        wav=wav,
        fps=float(fps),
        rms=rms,
        mouth=mouth_track(rms),
        poses=head_poses(r, n, fps),
        blinks=_blinks(r, n, fps),
        size=size,
        label={"actor": str(actor), "sentence": sentence, "emotion": emotion, "level": level},
    )


class SynthClip(NamedTuple):
    """An in-memory synthetic clip: unpacks as `frames, wav, fps`."""

    frames: np.ndarray  # uint8 [N, H, W, 3] BGR
    wav: np.ndarray  # float32 [S], 16 kHz mono
    fps: float


def make_clip(
    actor: str | int = "1001",
    sentence: str = "IEO",
    emotion: str = "neutral",
    level: str = "unspecified",
    seed: int = 0,
    duration: float | tuple[float, float] = DEFAULT_DURATION,
    fps: float = FPS,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> SynthClip:
    """A synthetic clip in memory, the same frames and audio `emotalk synth` would write (before compression).

    Fast enough for fixtures (~1 ms a frame): `make_clip(duration=0.5, size=(240, 180))` takes a few tens of ms.
    The label is in the arguments; `clip_plan` gives the per-frame truth (mouth opening, head pose, face boxes).

    >>> frames, wav, fps = make_clip("1011", "IEO", "happy", "high", duration=0.2, size=(160, 120))
    >>> frames.shape, wav.shape, fps
    ((6, 120, 160, 3), (3200,), 30.0)
    """
    plan = clip_plan(actor, sentence, emotion, level, seed, duration, fps, size)
    return SynthClip(np.stack(list(plan.frames())), plan.wav, plan.fps)
