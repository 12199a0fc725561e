"""Synthetic CREMA-D: drawn talking faces in the exact CREMA-D layout, so every experiment runs on a fresh machine.

`emotalk synth --out DIR --actors 24` writes

    DIR/VideoFlash/<Actor>_<Sentence>_<Emotion>_<Level>.flv   480x360, 30 fps, FLV1 video + MP3 audio (like the
                                                             real VP6 + MP3 files), ~2-3 s
    DIR/AudioWAV/<same>.wav                                  16 kHz mono PCM16

Everything is deterministic for (seed, clip name). What a model can learn from it:

- identity: each actor has its own face shape, skin tone, hair colour and style, eye spacing, nose, voice pitch,
  background and shirt;
- emotion: the six emotions move the whole face (brows, lids, mouth corners and shape, cheeks, wrinkles, skin tint)
  and the voice (pitch, loudness, syllable rate); CREMA-D's levels LO < MD < HI scale the deformation, XX = MD;
- lip sync: the mouth opening of frame k follows the RMS loudness of the audio of frame k ([k/fps, (k+1)/fps),
  the window `AVSpec.mel_start` points at), so silence gives a closed mouth;
- a moving head: smooth translation, rotation and scale, and an occasional blink.

Actor ids (`actor_ids`): 1001, then the first validation actor (1006), then the first test actor (1011), then
1002, 1003, ... skipping those two. One actor is a training actor, two add a validation actor, three or more give
the default actor split (cremad.py) a train, a validation and a test actor.

Clips per actor (`clip_names`): CREMA-D's scheme for the first `sentences` sentences of `SENTENCES` (IEO first):
IEO has NEU at XX and the five other emotions at LO, MD and HI (16 clips); every other sentence has the six emotions
at XX (6 clips). `clips_per_actor` keeps a subset that still covers the emotions evenly.

Other code uses `make_clip` (frames + wav in memory, for test fixtures), `render_face` (one frame, a pure function)
and `emotion_grid` (a PNG of the six emotions across actors and levels).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import logging
import math
import multiprocessing
import os
import subprocess
import time
import wave
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from emotalk.cremad import ACTORS, SENTENCES, TEST_ACTORS, VAL_ACTORS, format_name, parse_name
from emotalk.errors import EmotalkError, MediaDecodeError
from emotalk.ffmpeg import ffmpeg_exe, last_error_line
from emotalk.spec import DEFAULT_SPEC, EMOTIONS

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 480, 360  # CREMA-D's frame size
FPS = 30  # CREMA-D is 29.97; an integer rate keeps frame k's audio window exact
SAMPLE_RATE = DEFAULT_SPEC.sample_rate
MUX_AUDIO_RATE = 44100  # the MP3 track inside the FLV, as in the real files (FLV allows 11/22/44.1 kHz only)
# LAME's encoder delay (576 + 529 samples): FLV has no header to tell the decoder to drop it, so the track's audio
# would lag the video by 25 ms; the encoder is fed the audio without its first MP3_DELAY samples instead.
MP3_DELAY = 1105
DEFAULT_DURATION = (2.0, 3.0)  # seconds, drawn per clip
# The default set: 24 actors = 21 train, validation 1006 and 1024, test 1011. With 10 train actors (12 in all) the
# tiny classifier reached only 0.875 on the unseen test actor; 21 train faces bring it above the 90 % EmoAcc gate.
DEFAULT_ACTORS = 24
VIDEO_DIR, AUDIO_DIR = "VideoFlash", "AudioWAV"

#: How strongly each CREMA-D level shows (XX, "unspecified", is drawn as medium).
INTENSITY: dict[str, float] = {"low": 0.35, "medium": 0.65, "unspecified": 0.65, "high": 1.0}

# ----------------------------------------------------------------------------------------------------------------
# Identities


@dataclass(frozen=True)
class ActorParams:
    """One synthetic identity. Lengths are pixels of a 360-pixel-high frame; colours are BGR 0-255."""

    actor: str
    face_a: float  # half-width of the head
    face_b: float  # half-height of the head (crown to chin)
    jaw: float  # taper of the lower face: 0 oval, 0.3 narrow chin
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_style: int  # 0 short, 1 side fringe, 2 long, 3 receding (sides only), 4 curly
    eye_spacing: float  # eye centres at +-eye_spacing*face_a
    eye_size: float
    iris: tuple[int, int, int]
    brow_thickness: float
    nose_length: float
    nose_width: float
    mouth_width: float
    lips: tuple[int, int, int]
    background: int  # 0 vertical gradient, 1 horizontal gradient, 2 vignette, 3 stripes, 4 soft checks, 5 wall+floor
    bg_colors: tuple[tuple[int, int, int], tuple[int, int, int]]
    shirt: tuple[int, int, int]
    f0: float  # voice fundamental, Hz


# RGB, light to dark; stored BGR below
_SKINS = (
    (250, 220, 195),
    (238, 192, 160),
    (222, 170, 130),
    (196, 140, 102),
    (163, 112, 78),
    (128, 86, 60),
    (96, 64, 45),
)
_HAIRS = ((28, 24, 24), (72, 46, 30), (118, 80, 48), (206, 172, 108), (150, 64, 32), (150, 150, 152))
_IRISES = ((70, 45, 30), (60, 110, 160), (80, 120, 70), (110, 80, 50))


def _bgr(rgb: Sequence[float]) -> tuple[int, int, int]:
    return int(np.clip(rgb[2], 0, 255)), int(np.clip(rgb[1], 0, 255)), int(np.clip(rgb[0], 0, 255))


def _rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator fixed by (seed, keys), the same in every process (Python's hash() is salted per process)."""
    digest = hashlib.sha256("\x1f".join(str(k) for k in (seed, *keys)).encode()).digest()
    return np.random.default_rng(np.frombuffer(digest[:16], dtype=np.uint32))


def _hsv_to_bgr(h: float, s: float, v: float) -> tuple[int, int, int]:
    px = cv2.cvtColor(np.uint8([[[round(h * 180) % 180, round(s * 255), round(v * 255)]]]), cv2.COLOR_HSV2BGR)
    b, g, r = (int(c) for c in px[0, 0])
    return b, g, r


@functools.cache
def actor_params(actor: str | int, seed: int = 0) -> ActorParams:
    """The identity of `actor` for `seed`.

    Discrete traits (skin tone, hair colour and style, background kind and hue) step through their palettes with
    the actor number, so neighbouring actors never share them; the continuous ones are drawn from (seed, actor).

    >>> actor_params("1001").actor
    '1001'
    """
    actor = str(actor)
    i = int(actor) + int(_rng(seed, "offset").integers(0, 1000))
    r = _rng(seed, "actor", actor)
    jitter = r.uniform(-10, 10, 3)
    skin = _bgr(np.array(_SKINS[(i * 3) % len(_SKINS)]) + jitter)
    hair = _bgr(np.array(_HAIRS[(i * 5) % len(_HAIRS)]) + r.uniform(-8, 8, 3))
    hue = (i * 0.618034) % 1.0
    if 0.02 < hue < 0.13:  # keep backgrounds out of skin hues
        hue = (hue + 0.33) % 1.0
    sat, val = r.uniform(0.25, 0.55), r.uniform(0.55, 0.85)
    bg1 = _hsv_to_bgr(hue, sat, val)
    bg2 = _hsv_to_bgr((hue + r.uniform(-0.06, 0.06)) % 1.0, min(1.0, sat + 0.1), val * r.uniform(0.6, 0.8))
    shirt = _hsv_to_bgr((hue + 0.5 + r.uniform(-0.1, 0.1)) % 1.0, r.uniform(0.2, 0.7), r.uniform(0.25, 0.7))
    b = float(r.uniform(84, 94))
    lip_rgb = np.array(_SKINS[(i * 3) % len(_SKINS)], dtype=float) * 0.55 + np.array([170.0, 80.0, 90.0]) * 0.45
    return ActorParams(
        actor=actor,
        face_a=b * float(r.uniform(0.64, 0.74)),
        face_b=b,
        jaw=float(r.uniform(0.08, 0.28)),
        skin=skin,
        hair=hair,
        hair_style=(2 * i + i // 5) % 5,  # actors 5 apart (1001, 1006, 1011) differ too
        eye_spacing=float(r.uniform(0.37, 0.43)),
        eye_size=float(r.uniform(0.92, 1.1)),
        iris=_bgr(np.array(_IRISES[int(r.integers(len(_IRISES)))]) + r.uniform(-10, 10, 3)),
        brow_thickness=float(r.uniform(0.26, 0.4)),
        nose_length=float(r.uniform(0.9, 1.12)),
        nose_width=float(r.uniform(0.85, 1.2)),
        mouth_width=float(r.uniform(0.92, 1.1)),
        lips=_bgr(lip_rgb + r.uniform(-8, 8, 3)),
        background=(i * 7) % 6,
        bg_colors=(bg1, bg2),
        shirt=shirt,
        f0=float(r.uniform(100, 230)),
    )


# ----------------------------------------------------------------------------------------------------------------
# Expressions


@dataclass(frozen=True)
class Expression:
    """Deviations from the neutral face; 0 everywhere is neutral. Roughly in [-1, 1] (eye_open: -0.4 .. 0.7)."""

    brow_raise: float = 0.0  # + raised, - lowered
    brow_inner: float = 0.0  # + inner ends raised (sad, fear), - pulled down and together (anger)
    eye_open: float = 0.0  # + wide (upper lid up), - narrowed
    lower_lid: float = 0.0  # + lower lid raised (squint)
    mouth_corner: float = 0.0  # + corners up (smile), - down
    mouth_width: float = 0.0  # + stretched, - narrow
    upper_lip: float = 0.0  # + upper lip raised (sneer)
    lip_press: float = 0.0  # + thin pressed lips
    cheek: float = 0.0  # + raised, flushed cheeks and deep smile folds
    wrinkle: float = 0.0  # + nose wrinkles and folds (disgust), frown lines (anger)
    tint: float = 0.0  # + flushed red, - pale

    def scaled(self, k: float) -> Expression:
        return Expression(**{f: getattr(self, f) * k for f in self.__dataclass_fields__})


#: Full-intensity (HI) expression of each emotion, after the facial action units of FACS.
EXPRESSIONS: dict[str, Expression] = {
    "angry": Expression(
        brow_raise=-0.8, brow_inner=-1.0, eye_open=-0.2, lower_lid=0.4, mouth_corner=-0.5, mouth_width=-0.12,
        lip_press=1.0, wrinkle=0.8, tint=0.9,
    ),
    "disgusted": Expression(
        brow_raise=-0.5, brow_inner=-0.45, eye_open=-0.35, lower_lid=0.7, mouth_corner=-0.75, upper_lip=1.0,
        wrinkle=1.0, tint=0.2,
    ),
    "fearful": Expression(
        brow_raise=1.0, brow_inner=0.9, eye_open=0.7, lower_lid=-0.2, mouth_corner=-0.45, mouth_width=0.3,
        lip_press=0.3, tint=-0.9,
    ),
    "happy": Expression(
        brow_raise=0.25, eye_open=-0.2, lower_lid=1.0, mouth_corner=1.0, mouth_width=0.25, cheek=1.0, tint=0.3,
    ),
    "neutral": Expression(),
    "sad": Expression(
        brow_raise=-0.2, brow_inner=1.3, eye_open=-0.4, mouth_corner=-1.0, mouth_width=-0.12, lip_press=0.3,
        tint=-0.4,
    ),
}  # fmt: skip


def expression(emotion: str, level: str = "unspecified") -> Expression:
    """The face of `emotion` (one of EMOTIONS) at a CREMA-D level (one of LEVELS)."""
    return EXPRESSIONS[emotion].scaled(INTENSITY[level])


@dataclass(frozen=True)
class Pose:
    """Head motion: translation in pixels (of a 360-pixel-high frame), roll in degrees, scale."""

    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0
    scale: float = 1.0


# ----------------------------------------------------------------------------------------------------------------
# Drawing

_SHIFT = 4  # fixed-point bits for sub-pixel anti-aliased drawing
_ONE = 1 << _SHIFT
MOUTH_INSIDE = (24, 16, 44)  # BGR of the open mouth: darker than any lips, skin or nostril the actors have
HEAD_CENTER = (0.5, 0.44)  # head centre as fractions of the frame (the real clips frame the face like this)


class _Canvas:
    """Draws in head coordinates (origin at the head centre, y down, 360-pixel frame units) through the pose."""

    def __init__(self, img: np.ndarray, pose: Pose) -> None:
        self.img = img
        h, w = img.shape[:2]
        k = h / 360.0
        self.scale = pose.scale
        self.k = k * pose.scale
        t = math.radians(pose.angle)
        c, s = math.cos(t) * self.k, math.sin(t) * self.k
        self.m = np.array([[c, -s], [s, c]])
        self.o = np.array([w * HEAD_CENTER[0] + pose.dx * k, h * HEAD_CENTER[1] + pose.dy * k])

    @classmethod
    def at(cls, img: np.ndarray, m: np.ndarray, o: Sequence[float], scale: float = 1.0) -> _Canvas:
        """A canvas with an explicit transform: frame = m @ head + o."""
        cv = cls.__new__(cls)
        cv.img, cv.m, cv.o, cv.scale = img, np.asarray(m, np.float64), np.asarray(o, np.float64), scale
        cv.k = float(math.sqrt(abs(np.linalg.det(cv.m))))
        return cv

    def tf(self, pts: np.ndarray) -> np.ndarray:
        return np.asarray(pts, dtype=np.float64) @ self.m.T + self.o

    def _fix(self, pts: np.ndarray) -> np.ndarray:
        return np.round(self.tf(pts) * _ONE).astype(np.int32).reshape(-1, 1, 2)

    def poly(self, pts: np.ndarray, color: Sequence[int]) -> None:
        cv2.fillPoly(self.img, [self._fix(pts)], color, cv2.LINE_AA, _SHIFT)

    def line(self, pts: np.ndarray, color: Sequence[int], width: float, closed: bool = False) -> None:
        th = max(1, round(width * self.k))
        cv2.polylines(self.img, [self._fix(pts)], closed, color, th, cv2.LINE_AA, _SHIFT)

    def circle(self, c: Sequence[float], r: float, color: Sequence[int]) -> None:
        ctr = np.round(self.tf(np.array([c]))[0] * _ONE).astype(int)
        cv2.circle(
            self.img, (int(ctr[0]), int(ctr[1])), max(1, round(r * self.k * _ONE)), color, -1, cv2.LINE_AA, _SHIFT
        )

    def ellipse(self, c: Sequence[float], ax: Sequence[float], color: Sequence[int], angle: float = 0.0) -> None:
        self.poly(_ellipse(c, ax, angle), color)


@functools.cache
def _unit_circle(n: int) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], 1)


@functools.cache
def _span(lo: float, hi: float, n: int) -> np.ndarray:
    """np.linspace, cached: the drawing code asks for the same few spans thousands of times."""
    out = np.linspace(lo, hi, n)
    out.setflags(write=False)
    return out


def _ellipse(c: Sequence[float], ax: Sequence[float], angle: float = 0.0, n: int = 48) -> np.ndarray:
    p = _unit_circle(n) * (ax[0], ax[1])
    if angle:
        a = math.radians(angle)
        ca, sa = math.cos(a), math.sin(a)
        p = p @ np.array([[ca, sa], [-sa, ca]])
    return p + np.array([c[0], c[1]], np.float64)


def _shade(color: Sequence[int], f: float) -> tuple[int, int, int]:
    b, g, r = (min(255, max(0, int(c * f))) for c in color)
    return b, g, r


def _mix(c1: Sequence[int], c2: Sequence[int], t: float) -> tuple[int, int, int]:
    b, g, r = (round(x * (1 - t) + y * t) for x, y in zip(c1, c2, strict=True))
    return b, g, r


@functools.lru_cache(maxsize=8)
def _background(p: ActorParams, size: tuple[int, int]) -> np.ndarray:
    """The static backdrop and shirt-less scene of an actor, [H, W, 3] BGR (read-only: copy before drawing)."""
    w, h = size
    c1, c2 = (np.array(c, dtype=np.float32) for c in p.bg_colors)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = xx / w, yy / h
    kind = p.background
    if kind == 0:
        t = v
    elif kind == 1:
        t = u
    elif kind == 2:
        t = np.clip(np.hypot(u - 0.5, (v - 0.4) * h / w) * 1.6, 0, 1)
    elif kind == 3:
        t = 0.5 + 0.5 * np.sin((u * w + v * h) / h * 2 * np.pi * 3.0)
        t = 0.3 * t + 0.5 * v
    elif kind == 4:
        sq = h / 5
        t = ((np.floor(xx / sq) + np.floor(yy / sq)) % 2).astype(np.float32)
        t = cv2.GaussianBlur(t, (0, 0), sq / 6) * 0.45 + 0.3 * v
    else:
        t = np.where(v < 0.72, 0.15 * v, 0.85 + 0.1 * v)
    img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    noise = _rng(0, "bg", p.actor, kind).normal(0, 2.0, (h, w, 1)).astype(np.float32)  # a little sensor grain
    out = np.clip(img + noise, 0, 255).astype(np.uint8)
    out.setflags(write=False)
    return out


def _head_outline(p: ActorParams, n: int = 72) -> np.ndarray:
    a, b = p.face_a, p.face_b
    circle = _unit_circle(n)
    c, s = circle[:, 0], circle[:, 1]
    lower = np.maximum(s, 0)
    x = a * c * (1 - p.jaw * lower**2) * (1 + 0.06 * (1 - np.abs(s)))
    y = b * s
    return np.stack([x, y], 1)


def _hair_cap(p: ActorParams, hairline: np.ndarray, volume: float) -> np.ndarray:
    """Hair over the crown: the head top grown by `volume`, closed along `hairline` (points left to right)."""
    a, b = p.face_a, p.face_b
    ang = _span(np.pi * 1.02, np.pi * 1.98, 40)
    top = np.stack([a * volume * np.cos(ang), b * (volume - 0.02) * np.sin(ang) - 0.02 * b], 1)
    return np.concatenate([top, hairline[::-1]])


def _draw_hair_back(cv: _Canvas, p: ActorParams) -> None:
    a, b, dark = p.face_a, p.face_b, _shade(p.hair, 0.8)
    if p.hair_style == 2:  # long hair falls behind the head to the shoulders
        pts = np.concatenate(
            [
                _ellipse((0, -0.1 * b), (1.22 * a, 1.08 * b), n=64)[32:][::-1] * 1.0,
                np.array([[-1.25 * a, 0.2 * b], [-1.2 * a, 1.35 * b], [1.2 * a, 1.35 * b], [1.25 * a, 0.2 * b]]),
            ]
        )
        cv.poly(pts, dark)
    elif p.hair_style == 3:  # receding: a fringe of hair round the back of the head, above the ears
        cv.ellipse((0, -0.1 * b), (1.15 * a, 0.66 * b), p.hair)
    elif p.hair_style == 4:  # curly volume: a cloud of curls
        r = _rng(0, "curls", p.actor)
        for _ in range(28):
            ang = r.uniform(np.pi * 0.95, np.pi * 2.05)
            rad = r.uniform(0.95, 1.2)
            cv.circle((a * rad * 1.1 * math.cos(ang), b * rad * math.sin(ang) * 0.95 - 0.05 * b), 0.3 * a, dark)


def _draw_hair_front(cv: _Canvas, p: ActorParams) -> None:
    a, b = p.face_a, p.face_b
    u = _span(-1.0, 1.0, 25)
    style = p.hair_style
    if style == 3:  # receding: hair above the ears only, a bare crown
        return
    if style == 1:  # side fringe, low on the left
        line = np.stack([u * a * 1.02, (-0.46 + 0.14 * (1 - (u + 1) / 2) ** 1.5 + 0.16 * u**4) * b], 1)
    elif style == 4:
        line = np.stack([u * a * 1.02, (-0.55 + 0.04 * np.cos(u * 9) + 0.22 * u**4) * b], 1)
    else:  # short and long: a rounded hairline with temples
        line = np.stack([u * a * 1.02, (-0.56 + 0.08 * u**2 + 0.28 * u**6) * b], 1)
    volume = {0: 1.06, 1: 1.08, 2: 1.07, 4: 1.12}[style]
    cv.poly(_hair_cap(p, line, volume), p.hair)
    hi = _shade(p.hair, 1.35) if sum(p.hair) < 300 else _shade(p.hair, 1.12)
    cv.line(np.stack([_span(-0.5, 0.3, 12) * a, (-0.9 + 0.05 * _span(-1, 1, 12) ** 2) * b], 1), hi, 2)


def _light_face(img: np.ndarray, cv: _Canvas, p: ActorParams, outline: np.ndarray, tint: float) -> None:
    """Round the flat face: darker towards the rim, light from the upper left, and the emotion's skin tint."""
    pts = cv.tf(outline)
    h, w = img.shape[:2]
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 3, [w, h])
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((pts - [x0, y0]) * _ONE).astype(np.int32)], 255, cv2.LINE_AA, _SHIFT)
    # head coordinates of every pixel: the inverse of the similarity transform m is m.T / det(m)
    det = float(np.linalg.det(cv.m))
    xs = (np.arange(x0, x1, dtype=np.float32) - cv.o[0])[None, :]
    ys = (np.arange(y0, y1, dtype=np.float32) - cv.o[1])[:, None]
    un = (cv.m[0, 0] * xs + cv.m[1, 0] * ys) / (det * p.face_a)
    vn = (cv.m[0, 1] * xs + cv.m[1, 1] * ys) / (det * p.face_b)
    r2 = un * un + vn * vn
    light = (1.08 - 0.45 * np.maximum(r2 - 0.4, 0) - 0.07 * un + 0.03 * vn).astype(np.float32)
    m = mask.astype(np.float32) * np.float32(1 / 255)
    region = img[y0:y1, x0:x1].astype(np.float32)
    # tint: + flushed (more red, less blue/green), - pale (towards grey-white)
    if tint >= 0:
        gain = np.array([1 - 0.16 * tint, 1 - 0.16 * tint, 1 + 0.06 * tint], np.float32)
        factor = 1 + m[..., None] * (light[..., None] * gain - 1)
        out = region * factor
    else:
        lit = light * np.float32(1 + 0.25 * tint)
        out = region * (1 + m * (lit - 1))[..., None] + (m * np.float32(-0.25 * tint * 215.0))[..., None]
    np.clip(out, 0, 255, out=out)
    img[y0:y1, x0:x1] = out.astype(np.uint8)


def _eye_geometry(p: ActorParams, side: int, e: Expression) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """(cx, cy, half-width, upper lid [17, 2], lower lid [17, 2]) of one eye in head coordinates."""
    a, b = p.face_a, p.face_b
    ew = 0.2 * a * p.eye_size
    cx, cy = side * p.eye_spacing * a, -0.03 * b
    up = 0.36 * ew * (1 + e.eye_open)
    lo = max(0.26 * ew * (1 - 0.55 * max(e.lower_lid, 0) - 0.3 * min(e.lower_lid, 0)), 0.02 * ew)
    t = _span(-1, 1, 17)
    skew = 1 - 0.18 * t * side  # the upper lid peaks towards the inner corner, the lower towards the outer
    upper = np.stack([cx + t * ew, cy - up * (1 - t**2) ** 0.8 * skew], 1)
    lower = np.stack([cx + t * ew, cy + lo * (1 - t**2) ** 0.9 * (2 - skew)], 1)
    return cx, cy, ew, upper, lower


def _draw_eye(cv: _Canvas, p: ActorParams, side: int, e: Expression, skin: tuple[int, int, int]) -> None:
    cx, cy, ew, upper, lower = _eye_geometry(p, side, e)
    up = cy - upper[8, 1]
    t = _span(-1, 1, 17)
    shape = np.concatenate([upper, lower[::-1]])
    cv.ellipse((cx, cy - 0.15 * ew), (1.25 * ew, 0.75 * ew + 0.3 * up), _shade(skin, 0.9))  # the socket
    pts = cv.tf(shape)
    h, w = cv.img.shape[:2]
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 3, [w, h])
    if x1 > x0 and y1 > y0:  # white, iris, pupil and glint, clipped to the almond of the lids
        patch = cv.img[y0:y1, x0:x1].copy()
        sub = _Canvas.at(patch, cv.m, cv.o - [x0, y0], cv.scale)
        sub.poly(shape, (232, 236, 240))
        ir, icy = 0.44 * ew, cy - 0.08 * ew
        sub.circle((cx, icy), ir, p.iris)
        sub.circle((cx, icy), ir * 0.78, _shade(p.iris, 0.8))
        sub.circle((cx, icy), ir * 0.45, (18, 14, 14))
        sub.circle((cx - 0.3 * ir, icy - 0.35 * ir), ir * 0.2, (245, 245, 245))
        mask = np.zeros(patch.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round((pts - [x0, y0]) * _ONE).astype(np.int32)], 255, cv2.LINE_AA, _SHIFT)
        m = mask[..., None].astype(np.float32) / 255.0
        region = cv.img[y0:y1, x0:x1]
        region[:] = (region * (1 - m) + patch * m + 0.5).astype(np.uint8)
    # lids: a dark upper lash line, a soft lower lid, the crease above
    cv.line(upper, (35, 30, 35), 1.8)
    cv.line(lower, _shade(skin, 0.7), 1.0)
    crease = np.stack([cx + t * ew * 1.05, cy - up - 0.28 * ew - 0.25 * ew * (1 - t**2)], 1)
    cv.line(crease[3:-3], _shade(skin, 0.78), 1.0)
    if e.lower_lid > 0.2:  # a squint bunches the lower lid
        lo = lower[8, 1] - cy
        bag = np.stack([cx + t[3:-3] * ew, cy + lo + (0.18 + 0.1 * e.lower_lid) * ew * (1 - t[3:-3] ** 2)], 1)
        cv.line(bag, _shade(skin, 0.8), 1.0)


def _draw_lid(cv: _Canvas, p: ActorParams, side: int, e: Expression, blink: float) -> None:
    """Close the upper lid over the (already drawn) eye by `blink` (0 open .. 1 shut)."""
    _, _, ew, upper, lower = _eye_geometry(p, side, e)
    lid = upper + (lower - upper) * min(blink, 1.0)
    above = upper.copy()
    above[:, 1] -= 0.06 * ew
    cv.poly(np.concatenate([above, lid[::-1]]), _shade(p.skin, 0.86))
    cv.line(lid, (35, 30, 35), 1.8)


def _draw_folds(cv: _Canvas, p: ActorParams, e: Expression) -> None:
    """Nasolabial folds from the nose wings past the mouth corners: faint at rest, deep in a smile or sneer."""
    a = p.face_a
    g = _mouth_geometry(p, e, 0.0)
    mw = float(g["mw"])
    depth = min(1.0, 0.12 + 0.6 * max(e.cheek, 0) + 0.5 * max(e.wrinkle, 0) + 0.2 * max(-e.mouth_corner, 0))
    col = _mix(p.skin, _shade(p.skin, 0.6), depth)
    t = _span(0, 1, 10)
    for s in (-1, 1):
        nose = np.array([s * 0.24 * a * p.nose_width, 0.36 * p.face_b * p.nose_length])
        corner = np.array([s * (mw + 0.1 * a), g["centre"][0 if s < 0 else -1] + 0.05 * a])
        pts = nose[None] * (1 - t[:, None]) + corner[None] * t[:, None]
        pts[:, 0] += s * 0.08 * a * np.sin(np.pi * t) * (1 + 0.5 * e.cheek)
        cv.line(pts[1:] if depth > 0.3 else pts[2:-2], col, 1.2)


def _draw_brow(cv: _Canvas, p: ActorParams, side: int, e: Expression) -> None:
    a, b = p.face_a, p.face_b
    ew = 0.2 * a * p.eye_size
    cx, base = side * p.eye_spacing * a, -0.03 * b - 1.3 * ew
    t = _span(0, 1, 14)  # 0 inner end, 1 outer end
    x = cx + side * (-1.05 + 2.2 * t) * ew + side * 0.25 * ew * min(e.brow_inner, 0) * (1 - t)
    arch = 0.35 * ew * np.sin(np.pi * np.clip(t * 0.85 + 0.05, 0, 1)) ** 1.2 * (1 - 0.5 * min(abs(e.brow_inner), 1))
    inner = e.brow_inner * 0.75 * ew * (1 - t) ** 1.3
    y = base - arch - e.brow_raise * 0.6 * ew - inner
    thick = p.brow_thickness * ew * (1.15 - 0.6 * t) * (1 + 0.25 * max(-e.brow_inner, 0))
    top = np.stack([x, y - thick * 0.6], 1)
    bot = np.stack([x, y + thick * 0.4], 1)
    color = _shade(p.hair, 0.55) if sum(p.hair) > 300 else _shade(p.hair, 0.85)
    cv.poly(np.concatenate([top, bot[::-1]]), color)


def _draw_nose(cv: _Canvas, p: ActorParams, e: Expression, skin: tuple[int, int, int]) -> None:
    a, b = p.face_a, p.face_b
    nw = 0.17 * a * p.nose_width
    tip = 0.33 * b * p.nose_length - 0.05 * e.wrinkle * b * 0.3
    dark, darker = _shade(skin, 0.8), _shade(skin, 0.62)
    # the shaded side of the bridge
    v = 0.1 * b + _span(0, 1, 8) * (tip - 0.12 * b)
    cv.line(np.stack([-0.5 * nw - 0.1 * nw * (v / tip), v], 1), _shade(skin, 0.9), 1.2)
    # tip, wings and nostrils
    cv.ellipse((0, tip + 0.005 * b), (0.55 * nw, 0.42 * nw), _shade(skin, 1.04))
    for s in (-1, 1):
        wing = _ellipse((s * 0.78 * nw, tip + 0.04 * b), (0.38 * nw, 0.3 * nw), -s * 20, n=24)[12:]
        cv.line(wing, dark, 1.3)
        cv.ellipse((s * 0.42 * nw, tip + 0.075 * b), (0.22 * nw, 0.11 * nw), darker, s * 15)
    cv.ellipse((0, tip + 0.13 * b), (0.6 * nw, 0.08 * nw), _shade(skin, 0.9))
    if e.wrinkle > 0.15:  # nose wrinkles of disgust (and a little in anger)
        for k in range(3):
            y = -0.005 * b + k * 0.035 * b
            xs = _span(-0.5, 0.5, 7) * nw * (1.1 - 0.15 * k)
            col = _mix(skin, darker, min(1.0, 0.3 + 0.7 * e.wrinkle))
            cv.line(np.stack([xs, y - 0.012 * b * (1 - (xs / nw) ** 2)], 1), col, 1.2)


def _mouth_geometry(p: ActorParams, e: Expression, mouth_open: float) -> dict[str, np.ndarray]:
    a, b = p.face_a, p.face_b
    mw = 0.36 * a * p.mouth_width * (1 + 0.35 * e.mouth_width)
    my = 0.58 * b
    u = _span(-1, 1, 25)
    x = u * mw
    centre = my - e.mouth_corner * 0.15 * a * u**2 + max(-e.mouth_corner, 0) * 0.02 * a
    gap = mouth_open * 0.3 * a * (1 - u**2) ** 0.7
    sneer = e.upper_lip * 0.09 * a * (1 - u**2) ** 0.5 * (1 + 0.5 * u)  # raised more on one side
    inner_top = centre - 0.22 * gap - sneer
    inner_bot = centre + 0.78 * gap
    press = 1 - 0.6 * e.lip_press
    bow = 1 - 0.35 * np.exp(-((u / 0.14) ** 2)) + 0.12 * np.exp(-(((np.abs(u) - 0.3) / 0.2) ** 2))
    outer_top = inner_top - 0.1 * a * press * (1 - u**2) ** 0.5 * bow
    outer_bot = inner_bot + 0.13 * a * press * (1 - u**2) ** 0.6
    return {
        "x": x, "u": u, "centre": centre, "inner_top": inner_top, "inner_bot": inner_bot,
        "outer_top": outer_top, "outer_bot": outer_bot, "gap": gap, "mw": np.array(mw), "my": np.array(my),
    }  # fmt: skip


def _draw_mouth(cv: _Canvas, p: ActorParams, e: Expression, mouth_open: float) -> None:
    a = p.face_a
    g = _mouth_geometry(p, e, mouth_open)
    x, u = g["x"], g["u"]
    mw = float(g["mw"])
    lips = np.concatenate([np.stack([x, g["outer_top"]], 1), np.stack([x, g["outer_bot"]], 1)[::-1]])
    cv.poly(lips, p.lips)
    # the lower lip catches the light
    cv.line(np.stack([x[8:17], g["outer_bot"][8:17] - 0.04 * a], 1), _shade(p.lips, 1.18), 1.5)
    if mouth_open > 0.02 or e.upper_lip > 0.2:
        inner = np.concatenate([np.stack([x, g["inner_top"]], 1), np.stack([x, g["inner_bot"]], 1)[::-1]])
        cv.poly(inner, MOUTH_INSIDE)
        teeth_h = np.minimum(0.08 * a, (g["inner_bot"] - g["inner_top"]) * 0.45) * (1 - u**2) ** 0.5
        sel = slice(4, 21)
        teeth = np.concatenate(
            [
                np.stack([x[sel] * 0.92, g["inner_top"][sel]], 1),
                np.stack([x[sel] * 0.92, (g["inner_top"] + teeth_h)[sel]], 1)[::-1],
            ]
        )
        cv.poly(teeth, (214, 222, 228))
        if mouth_open > 0.3:
            tongue = _ellipse((0, float(g["inner_bot"][12]) - 0.02 * a), (0.5 * mw, 0.06 * a), n=24)[12:]
            cv.poly(tongue, (90, 90, 170))
    cv.line(np.stack([x, g["inner_top"]], 1), _shade(p.lips, 0.45), 1.3)


def _shoulders(p: ActorParams, k: float) -> np.ndarray:
    a, b = p.face_a, p.face_b
    sy = 1.25 * b
    return np.array(
        [[-2.6 * a, 400 / k], [-2.5 * a, sy + 0.5 * b], [-1.6 * a, sy + 0.05 * b], [-0.55 * a, sy - 0.05 * b],
         [0, sy + 0.22 * b], [0.55 * a, sy - 0.05 * b], [1.6 * a, sy + 0.05 * b], [2.5 * a, sy + 0.5 * b],
         [2.6 * a, 400 / k]]
    )  # fmt: skip


def _draw_head(cv: _Canvas, p: ActorParams, e: Expression) -> None:
    """Everything of the head that stays put during a clip: hair, neck, ears, shaded skin, nose, eyes, brows."""
    a, b = p.face_a, p.face_b
    skin = p.skin
    _draw_hair_back(cv, p)
    neck = np.array([[-0.48 * a, 0.3 * b], [0.48 * a, 0.3 * b], [0.55 * a, 1.5 * b], [-0.55 * a, 1.5 * b]])
    cv.poly(neck, _shade(skin, 0.8))
    cv.ellipse((0, 0.96 * b), (0.5 * a, 0.1 * b), _shade(skin, 0.74))  # shadow under the chin
    for s in (-1, 1):  # ears
        cv.ellipse((s * 0.98 * a, 0.06 * b), (0.14 * a, 0.2 * b), _shade(skin, 0.92), s * 8)
        cv.ellipse((s * 1.0 * a, 0.06 * b), (0.06 * a, 0.12 * b), _shade(skin, 0.78), s * 8)
    outline = _head_outline(p)
    cv.poly(outline, skin)
    _light_face(cv.img, cv, p, outline, e.tint)
    if e.wrinkle > 0.2 and e.brow_inner < 0:  # vertical frown lines between the brows
        col = _mix(skin, _shade(skin, 0.6), min(1.0, e.wrinkle))
        y0 = -0.03 * b - 0.26 * a * p.eye_size
        for s in (-1, 1):
            cv.line(np.array([[s * 0.06 * a, y0 - 0.11 * b], [s * 0.09 * a, y0 + 0.02 * b]]), col, 1.3)
    if e.brow_raise > 0.3:  # forehead lines of raised brows
        col = _mix(skin, _shade(skin, 0.68), min(1.0, 1.4 * (e.brow_raise - 0.2)))
        for j in range(3):
            xs = _span(-0.42, 0.42, 9) * a
            y = -0.5 * b + j * 0.06 * b
            cv.line(np.stack([xs, y - 0.02 * b * np.cos(xs / a * 2)], 1), col, 1.0)
    _draw_hair_front(cv, p)
    if e.cheek > 0.05:  # raised, flushed cheeks, blended in the cheeks' box only
        alpha = 0.3 * e.cheek
        h, w = cv.img.shape[:2]
        for s in (-1, 1):
            blob = _ellipse((s * 0.5 * a, 0.2 * b - 0.05 * b * e.cheek), (0.2 * a, 0.13 * b), n=32)
            pts = cv.tf(blob)
            x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 1, 0)
            x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 2, [w, h])
            if x1 > x0 and y1 > y0:
                roi = cv.img[y0:y1, x0:x1]
                over = roi.copy()
                loc = np.round((pts - [x0, y0]) * _ONE).astype(np.int32)
                cv2.fillPoly(over, [loc], (120, 120, 235), cv2.LINE_AA, _SHIFT)
                cv2.addWeighted(over, alpha, roi, 1 - alpha, 0, dst=roi)
    _draw_folds(cv, p, e)
    _draw_nose(cv, p, e, skin)
    for s in (-1, 1):
        _draw_eye(cv, p, s, e, skin)
        _draw_brow(cv, p, s, e)


@functools.lru_cache(maxsize=16)
def _head_layer(p: ActorParams, e: Expression, k: float) -> tuple[np.ndarray, tuple[float, float]]:
    """The static head drawn once upright: uint8 [h, w, 4] premultiplied BGR + alpha, and the head centre's pixel.

    Drawn on black and on white: alpha = 255 - (white - black) recovers the anti-aliased coverage exactly.
    """
    a, b = p.face_a * k, p.face_b * k
    ox, oy = 1.7 * a + 4, 1.45 * b + 4
    w, h = math.ceil(2 * ox), math.ceil(oy + 1.6 * b + 4)
    layers = []
    for fill in (0, 255):
        img = np.full((h, w, 3), fill, np.uint8)
        _draw_head(_Canvas.at(img, np.eye(2) * k, (ox, oy)), p, e)
        layers.append(img.astype(np.int16))
    black, white = layers
    alpha = 255 - np.round((white - black).mean(axis=2))
    out = np.dstack([black, alpha]).clip(0, 255).astype(np.uint8)
    ys, xs = np.nonzero(out[..., 3])  # crop to the drawn part: the per-frame warp costs its area
    y0, x0 = max(int(ys.min()) - 1, 0), max(int(xs.min()) - 1, 0)
    out = np.ascontiguousarray(out[y0 : int(ys.max()) + 2, x0 : int(xs.max()) + 2])
    out.setflags(write=False)
    return out, (ox - x0, oy - y0)


def _paste_head(img: np.ndarray, cv: _Canvas, layer: tuple[np.ndarray, tuple[float, float]]) -> None:
    """Warp the head layer through the pose (bilinear) and blend it over `img` in the box it covers."""
    bgra, (ox, oy) = layer
    lk = cv.k / cv.scale  # the layer's own pixel scale
    A = cv.m / lk  # layer pixels -> frame pixels
    t = cv.o - A @ np.array([ox, oy])
    hs, ws = bgra.shape[:2]
    corners = np.array([[0, 0], [ws, 0], [0, hs], [ws, hs]], np.float64) @ A.T + t
    h, w = img.shape[:2]
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, [w, h])
    if x1 <= x0 or y1 <= y0:
        return
    M = np.hstack([A, (t - [x0, y0])[:, None]])
    warped = cv2.warpAffine(bgra, M, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR, borderValue=0)
    keep = cv2.cvtColor(cv2.bitwise_not(cv2.extractChannel(warped, 3)), cv2.COLOR_GRAY2BGR)  # 255 - alpha
    roi = img[y0:y1, x0:x1]
    roi[:] = cv2.add(cv2.multiply(roi, keep, scale=1 / 255), cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR))


def render_face(
    params: ActorParams,
    expression: Expression,
    mouth_open: float,
    pose: Pose,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    *,
    blink: float = 0.0,
) -> np.ndarray:
    """Draw one frame: the actor's backdrop, head with `expression` and mouth opened `mouth_open`, and shirt.

    A pure function of its arguments; the upright head of an (actor, expression) is drawn once and memoised, then
    each frame warps it through the pose and draws the mouth (and closing lids) on top (~1.5 ms a frame).

    Args:
        mouth_open: 0 closed .. 1 fully open.
        size: (width, height) of the frame; faces scale with the height.
        blink: 0 open eyes .. 1 closed lids.
    Returns:
        [H, W, 3] uint8 BGR.
    """
    w, h = size
    p, e = params, expression
    img = _background(p, (w, h)).copy()
    k = h / 360.0
    cv = _Canvas(img, pose)
    _paste_head(img, cv, _head_layer(p, e, k))
    # the body follows the head's translation without its roll or scale, and covers the bottom of the neck
    body = _Canvas(img, Pose(pose.dx, pose.dy, 0.0, 1.0))
    shoulders = _shoulders(p, k)
    body.poly(shoulders, p.shirt)
    body.line(shoulders[2:7], _shade(p.shirt, 0.7), 2)
    if blink > 0.05:
        for s in (-1, 1):
            _draw_lid(cv, p, s, e, blink)
    _draw_mouth(cv, p, e, mouth_open)
    return img


def face_box(params: ActorParams, pose: Pose, size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """Where `render_face` drew the face (brows to chin, cheek to cheek): [x1, y1, x2, y2] pixels."""
    a, b = params.face_a, params.face_b
    pts = np.array([[-a, -0.35 * b], [a, -0.35 * b], [a, b], [-a, b]])
    img_stub = np.empty((size[1], size[0], 0), np.uint8)
    q = _Canvas(img_stub, pose).tf(pts)
    return np.array([*q.min(0), *q.max(0)], dtype=np.float32)


def mouth_box(params: ActorParams, pose: Pose, size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """A box around the mouth in any expression, [x1, y1, x2, y2] pixels (for lip-sync checks)."""
    a, b = params.face_a, params.face_b
    pts = np.array([[-0.45 * a, 0.44 * b], [0.45 * a, 0.44 * b], [0.45 * a, 0.84 * b], [-0.45 * a, 0.84 * b]])
    q = _Canvas(np.empty((size[1], size[0], 0), np.uint8), pose).tf(pts)
    return np.array([*q.min(0), *q.max(0)], dtype=np.float32)


# ----------------------------------------------------------------------------------------------------------------
# Audio

#: Emotion -> (pitch change, loudness relative to neutral, syllable-rate change, pitch-range change) at HI.
VOICE: dict[str, tuple[float, float, float, float]] = {
    "angry": (0.15, 1.3, 0.1, 0.3),
    "disgusted": (-0.06, 0.95, -0.12, 0.0),
    "fearful": (0.22, 1.05, 0.15, 0.2),
    "happy": (0.12, 1.15, 0.05, 0.6),
    "neutral": (0.0, 1.0, 0.0, 0.0),
    "sad": (-0.12, 0.65, -0.18, -0.5),
}
#: F1-F3 of the vowels /a i u e o ae/ (Peterson & Barney, male speakers)
_VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410),
           (660, 1720, 2410))  # fmt: skip
_NEUTRAL_PEAK = 0.6


def _syllables(r: np.random.Generator, duration: float, rate: float) -> list[tuple[float, float]]:
    """(start, length) of each syllable: words of 1-3 syllables at `rate` Hz, pauses between, silence at both ends."""
    out: list[tuple[float, float]] = []
    t = float(r.uniform(0.12, 0.3))
    end = duration - float(r.uniform(0.12, 0.3))
    while True:
        for _ in range(int(r.integers(1, 4))):
            d = float(r.uniform(0.75, 1.3)) / rate
            if t + d > end:
                return out
            out.append((t, d))
            t += d
        t += float(r.uniform(0.1, 0.32)) if r.random() < 0.75 else float(r.uniform(0.0, 0.04))


def synth_voice(actor: str, emotion: str, level: str, duration: float, seed: int = 0, name: str = "") -> np.ndarray:
    """Speech-like audio: a syllable-rate modulated harmonic voice with vowel formants, consonant noise and pauses.

    Returns:
        float32 [round(duration * 16000)] in [-1, 1], peak-normalised to a loudness set by the emotion.
    """
    p = actor_params(actor, seed)
    r = _rng(seed, "voice", name or f"{actor}_{emotion}_{level}")
    k = INTENSITY[level]
    pitch, loudness, rate, pitch_range = VOICE[emotion]
    dpitch, drate, drange, loud = pitch * k, rate * k, pitch_range * k, 1.0 + (loudness - 1.0) * k
    sr = SAMPLE_RATE
    n = round(duration * sr)
    t = np.arange(n) / sr
    syl = _syllables(r, duration, float(r.uniform(3.5, 5.5)) * (1 + drate))
    env = np.zeros(n, np.float64)
    f0 = np.full(n, p.f0 * (1 + dpitch))
    harm_n = 24
    harm = np.arange(1, harm_n + 1)
    h_amp = np.zeros((n, harm_n), np.float32)
    noise_env = np.zeros(n, np.float64)
    for s, d in syl:
        i0, i1 = int(s * sr), min(n, int((s + d) * sr))
        x = np.linspace(0, 1, i1 - i0)
        env[i0:i1] = np.maximum(env[i0:i1], r.uniform(0.55, 1.0) * np.sin(np.pi * x) ** 0.8)
        accent = 1 + (0.06 + 0.05 * drange) * r.normal() * np.sin(np.pi * x)
        f0[i0:i1] *= accent
        fv = np.array(_VOWELS[int(r.integers(len(_VOWELS)))]) * (1.0 + 0.1 * (p.f0 > 170))
        freqs = harm * p.f0 * (1 + dpitch)
        g = sum(np.exp(-0.5 * ((freqs - f) / (60 + 0.06 * f)) ** 2) * w for f, w in zip(fv, (1, 0.6, 0.3), strict=True))
        g = (0.15 + g) / harm**0.6 * (freqs < 3800)  # formant peaks over a falling source spectrum
        h_amp[i0:i1] = g.astype(np.float32)
        cn = min(n - i0, int(r.uniform(0.02, 0.05) * sr))  # a consonant burst at the onset
        if r.random() < 0.6:
            noise_env[i0 : i0 + cn] = np.maximum(noise_env[i0 : i0 + cn], np.hanning(cn) * r.uniform(0.2, 0.45))
    f0 *= 1 + 0.03 * np.sin(2 * np.pi * 0.8 * t + r.uniform(0, 6.3)) - 0.06 * t / duration
    if emotion == "fearful":
        f0 *= 1 + 0.02 * k * np.sin(2 * np.pi * 6.5 * t)  # tremor
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = np.zeros(n, np.float64)
    s_prev, s_cur, two_cos = np.zeros(n), np.sin(phase), 2 * np.cos(phase)
    for j in range(harm_n):  # sin((j+1)x) by the recursion sin((j+2)x) = 2cos(x) sin((j+1)x) - sin(jx)
        voice += h_amp[:, j] * s_cur
        s_prev, s_cur = s_cur, two_cos * s_cur - s_prev
    noise = r.normal(0, 1, n)
    hiss = np.diff(noise, prepend=0.0)  # high-passed noise for consonants
    wav = voice * env + 0.5 * hiss * noise_env * np.abs(voice).max() + 0.03 * noise * env * np.abs(voice).max()
    peak = np.abs(wav).max()
    if peak > 0:
        wav *= min(0.95, _NEUTRAL_PEAK * loud) / peak
    return wav.astype(np.float32)


def frame_rms(wav: np.ndarray, n_frames: int, fps: float = FPS, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """RMS of the audio of each frame, the samples of [k/fps, (k+1)/fps): float32 [n_frames]."""
    edges = np.round(np.arange(n_frames + 1) * sample_rate / fps).astype(int)
    sq = np.concatenate([[0.0], np.cumsum(wav.astype(np.float64) ** 2)])
    edges = np.clip(edges, 0, len(wav))
    cnt = np.maximum(edges[1:] - edges[:-1], 1)
    return np.sqrt((sq[edges[1:]] - sq[edges[:-1]]) / cnt).astype(np.float32)


def mouth_track(rms: np.ndarray, full: float = 0.36) -> np.ndarray:
    """Mouth opening from loudness: 0 for silence, 1 at RMS `full` (the loudest angry vowel); float32 in [0, 1]."""
    gate = 0.004
    return (np.clip((rms - gate) / (full - gate), 0, 1) ** 0.75).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------
# Clips


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


# ----------------------------------------------------------------------------------------------------------------
# The data set


def actor_ids(n: int) -> list[str]:
    """`n` CREMA-D actor ids: 1001, the first validation actor, the first test actor, then 1002, 1003, ...

    >>> actor_ids(5)
    ['1001', '1006', '1011', '1002', '1003']
    """
    if not 1 <= n <= len(ACTORS):
        raise EmotalkError(f"--actors must be between 1 and {len(ACTORS)} (CREMA-D has {len(ACTORS)} actors), got {n}")
    first = ["1001", VAL_ACTORS[0], TEST_ACTORS[0]]
    rest = [a for a in ACTORS if a not in first]
    return (first + rest)[:n]


def clip_names(actors: Sequence[str], sentences: int = 2, clips_per_actor: int | None = None) -> list[str]:
    """The clip stems of each actor, CREMA-D's scheme over the first `sentences` sentences (IEO gets LO/MD/HI).

    `clips_per_actor` keeps that many, taking the emotions in turn (XX and MD before LO and HI).

    >>> clip_names(["1001"], sentences=2)[:3]
    ['1001_IEO_ANG_LO', '1001_IEO_ANG_MD', '1001_IEO_ANG_HI']
    >>> len(clip_names(["1001"], sentences=2)), clip_names(["1001"], sentences=2, clips_per_actor=6)[3:]
    (22, ['1001_IEO_HAP_MD', '1001_IEO_NEU_XX', '1001_IEO_SAD_MD'])
    """
    if not 1 <= sentences <= len(SENTENCES):
        raise EmotalkError(f"--sentences must be between 1 and {len(SENTENCES)}, got {sentences}")
    out = []
    for actor in actors:
        per_emotion: dict[str, list[tuple[int, str]]] = {e: [] for e in EMOTIONS}
        for si, sentence in enumerate(SENTENCES[:sentences]):
            for emotion in EMOTIONS:
                graded = sentence == "IEO" and emotion != "neutral"
                for level in ("low", "medium", "high") if graded else ("unspecified",):
                    rank = {"unspecified": 0, "medium": 0, "low": 1, "high": 2}[level] * 100 + si
                    per_emotion[emotion].append((rank, format_name(actor, sentence, emotion, level)))
        names = [nm for e in EMOTIONS for _, nm in per_emotion[e]]
        if clips_per_actor is not None:
            queues = [sorted(per_emotion[e]) for e in EMOTIONS]
            chosen: set[str] = set()
            depth = 0
            while len(chosen) < min(clips_per_actor, len(names)):
                for q in queues:
                    if depth < len(q) and len(chosen) < clips_per_actor:
                        chosen.add(q[depth][1])
                depth += 1
            names = [nm for nm in names if nm in chosen]
        out.extend(names)
    return out


def clip_paths(out: Path | str, name: str) -> tuple[Path, Path]:
    out = Path(out)
    return out / VIDEO_DIR / f"{name}.flv", out / AUDIO_DIR / f"{name}.wav"


def is_done(out: Path | str, name: str) -> bool:
    video, audio = clip_paths(out, name)
    return video.is_file() and audio.is_file()


def _write_wav(path: Path, wav: np.ndarray) -> None:
    """Write 16 kHz mono PCM16 atomically: audio.load.write_wav, minus the torch import (seconds per worker)."""
    pcm = (np.clip(wav, -1.0, 1.0) * 32767.0).round().astype("<i2")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    os.replace(tmp, path)


def write_clip(
    out: Path | str, name: str, seed: int = 0, duration: float | tuple[float, float] = DEFAULT_DURATION
) -> Path:
    """Render, encode and write one clip unless it exists; return the video path.

    The WAV is written first (atomically); ffmpeg reads it while the frames stream in through a pipe (raw I420)
    and writes the FLV under a temporary name that is renamed into place last, so a finished clip is one whose
    video exists.
    """
    video, audio = clip_paths(out, name)
    if is_done(out, name):
        return video
    c = parse_name(name)
    plan = clip_plan(c.actor, c.sentence, c.emotion, c.level, seed, duration)
    video.parent.mkdir(parents=True, exist_ok=True)
    audio.parent.mkdir(parents=True, exist_ok=True)
    _write_wav(audio, plan.wav)
    tmp = video.with_name(f".{video.name}.{os.getpid()}.tmp")
    w, h = plan.size
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", str(plan.fps), "-i", "-",
        "-i", str(audio),
        "-map", "0:v:0", "-map", "1:a:0",
        "-c:v", "flv", "-q:v", "3", "-g", "30", "-pix_fmt", "yuv420p",
        "-af", f"aresample={MUX_AUDIO_RATE},atrim=start_sample={MP3_DELAY},asetpts=PTS-STARTPTS",
        "-c:a", "libmp3lame", "-b:a", "64k", "-ar", str(MUX_AUDIO_RATE), "-ac", "1",
        "-threads", "1", "-fflags", "+bitexact", "-flags", "+bitexact",
        "-f", "flv", str(tmp),
    ]  # fmt: skip
    # ffmpeg in its own session: Ctrl-C reaches this process (which stops it below and reports an interruption),
    # not ffmpeg (which would die mid-write and look like an encoding error)
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdin is not None and proc.stderr is not None
    try:
        try:
            for frame in plan.frames():
                # BT.601 limited range, as ffmpeg's own conversion; converting here saves ffmpeg a third of its time
                proc.stdin.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
        except BrokenPipeError:
            pass  # ffmpeg died: its error is reported below
        finally:
            proc.stdin.close()
        err = proc.stderr.read()
        code = proc.wait()
        if code != 0:
            raise MediaDecodeError(f"ffmpeg could not encode {video}: {last_error_line(err)}")
        os.replace(tmp, video)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tmp.unlink(missing_ok=True)
    return video


def _write_clip_job(out: str, name: str, seed: int, duration: float | tuple[float, float]) -> tuple[str, bool]:
    cv2.setNumThreads(1)
    existed = is_done(out, name)
    write_clip(out, name, seed, duration)
    return name, existed


def synthesize(
    out: Path | str,
    actors: int | Sequence[str] = DEFAULT_ACTORS,
    seed: int = 0,
    sentences: int = 2,
    clips_per_actor: int | None = None,
    duration: float | tuple[float, float] = DEFAULT_DURATION,
    workers: int = 2,
    progress: bool = True,
) -> list[Path]:
    """Write the synthetic data set to `out` (resumable: finished clips are kept); return every clip's video path.

    Args:
        actors: how many (ids from `actor_ids`) or which actor ids.
        duration: seconds per clip, fixed or a (min, max) range drawn per clip.
        workers: processes rendering and encoding clips in parallel (1: in this process).
    """
    out = Path(out)
    ids = actor_ids(actors) if isinstance(actors, int) else [str(a) for a in actors]
    for a in ids:
        if a not in ACTORS:
            raise EmotalkError(f"actor id {a!r} is not a CREMA-D actor (1001-1091)")
    names = clip_names(ids, sentences, clips_per_actor)
    for sub in (VIDEO_DIR, AUDIO_DIR):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for stale in (out / sub).glob(".*.tmp"):  # left by a killed run (one run per folder at a time)
            stale.unlink(missing_ok=True)
    todo = [n for n in names if not is_done(out, n)]
    t0 = time.perf_counter()
    log.info("synth: %d clips of %d actors in %s (%d to write, %d done)", len(names), len(ids), out,
             len(todo), len(names) - len(todo))  # fmt: skip
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress or not todo) as bar:
        task = bar.add_task("clips", total=len(todo))
        if workers <= 1 or len(todo) <= 1:
            for n in todo:
                _write_clip_job(str(out), n, seed, duration)
                bar.advance(task)
        else:
            ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent (rich, torch)
            pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx)
            try:
                pending: set[Future] = {pool.submit(_write_clip_job, str(out), n, seed, duration) for n in todo}
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()
                        bar.advance(task)
            finally:  # on an error or Ctrl-C, drop the queued clips instead of rendering them all first
                pool.shutdown(wait=True, cancel_futures=True)
    dt = time.perf_counter() - t0
    if todo:
        log.info("synth: wrote %d clips in %.1f s (%.2f clips/s)", len(todo), dt, len(todo) / max(dt, 1e-9))
    return [clip_paths(out, n)[0] for n in names]


# ----------------------------------------------------------------------------------------------------------------
# Pictures


_LEVEL_CODE = {"low": "LO", "medium": "MD", "high": "HI", "unspecified": "XX"}


def emotion_grid(
    path: Path | str, actors: Sequence[str] | None = None, seed: int = 0, mouth_open: float = 0.25, cell: int = 200
) -> Path:
    """A PNG for people: the six emotions (columns) of three actors (rows), then LO/MD/HI of angry and sad."""
    path = Path(path)
    actors = list(actors) if actors is not None else actor_ids(3)
    rows: list[list[tuple[np.ndarray, str]]] = []

    def face(actor: str, emotion: str, level: str) -> np.ndarray:
        p = actor_params(actor, seed)
        img = render_face(p, expression(emotion, level), mouth_open, Pose())
        x1, y1, x2, y2 = face_box(p, Pose())
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - 0.12 * (y2 - y1)
        half = 0.8 * (y2 - y1)
        crop = img[max(0, int(cy - half)) : int(cy + half), max(0, int(cx - half)) : int(cx + half)]
        return cv2.resize(crop, (cell, cell), interpolation=cv2.INTER_AREA)

    for actor in actors:
        rows.append([(face(actor, e, "unspecified"), f"{actor} {e}") for e in EMOTIONS])
    graded = ("low", "medium", "high")
    for actor, pair in ((actors[0], ("angry", "sad")), (actors[-1], ("happy", "fearful"))):
        rows.append([(face(actor, e, lv), f"{actor} {e} {_LEVEL_CODE[lv]}") for e in pair for lv in graded])
    label_h = 22
    grid = np.full((len(rows) * (cell + label_h), 6 * cell, 3), 255, np.uint8)
    for r_i, row in enumerate(rows):
        for c_i, (img, text) in enumerate(row):
            y = r_i * (cell + label_h)
            grid[y + label_h : y + label_h + cell, c_i * cell : (c_i + 1) * cell] = img
            cv2.putText(
                grid, text, (c_i * cell + 6, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    if not cv2.imwrite(str(tmp), grid):
        raise EmotalkError(f"could not write {path}")
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------------------------------------------
# CLI


def _parse_duration(text: str) -> float | tuple[float, float]:
    try:
        if ":" in text:
            lo, hi = (float(x) for x in text.split(":", 1))
            if not 0 < lo <= hi:
                raise ValueError
            return lo, hi
        d = float(text)
        if d <= 0:
            raise ValueError
        return d
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (2.5) or a range (2:3), got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="data set folder (VideoFlash/ and AudioWAV/ inside)")
    parser.add_argument(
        "--actors", default=str(DEFAULT_ACTORS),
        help=f"how many actors (1001, 1006 (val), 1011 (test), 1002, ...; default {DEFAULT_ACTORS}) or a "
        "comma-separated list of ids",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sentences", type=int, default=2, help="sentences per actor, IEO first (default 2)")
    parser.add_argument("--clips-per-actor", type=int, default=None, help="keep at most this many clips per actor")
    parser.add_argument(
        "--duration", type=_parse_duration, default=DEFAULT_DURATION,
        help="seconds per clip, fixed (2.5) or a range drawn per clip (default 2:3)",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2; 1: no pool)")
    parser.add_argument("--grid", type=Path, default=None, help="also write the emotion grid PNG here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _parse_actors(text: str) -> int | list[str]:
    """`--actors`: a count ("12") or actor ids with at least one comma ("1011,1032" or "1011,")."""
    text = text.strip()
    if "," in text:
        return [a.strip() for a in text.split(",") if a.strip()]
    if text in ACTORS:  # "1011" would be a count of 1011 actors
        raise EmotalkError(f"--actors {text} is ambiguous: give a count (e.g. 12) or a list with a comma ({text},)")
    try:
        return int(text)
    except ValueError:
        raise EmotalkError(f"--actors takes a count or comma-separated actor ids, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    actors = _parse_actors(str(args.actors))
    if args.clips_per_actor is not None and args.clips_per_actor < 1:
        raise EmotalkError(f"--clips-per-actor must be at least 1, got {args.clips_per_actor}")
    paths = synthesize(
        args.out, actors, seed=args.seed, sentences=args.sentences, clips_per_actor=args.clips_per_actor,
        duration=args.duration, workers=args.workers, progress=not args.no_progress,
    )  # fmt: skip
    if args.grid is not None:
        emotion_grid(args.grid, seed=args.seed)
        log.info("synth: emotion grid in %s", args.grid)
    log.info("synth: %d clips in %s", len(paths), args.out)
    return 0
