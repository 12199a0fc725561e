"""A dub's inputs, probed and checked before anything is written (mission.md §6, issue #5).

`check_inputs` reads the video's header and the driving audio (16 kHz mono), fixes the output length by the
paper's rules and the exact frame rate, and raises an `EmotalkError` with a one-line message on anything a dub
cannot do; what it can do but the user should know (odd sizes, a non-MP4 extension) becomes a warning line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from emotalk.errors import AudioTooShortError, ConfigError, MediaDecodeError
from emotalk.ffmpeg import probe
from emotalk.infer.audio import n_output_frames
from emotalk.infer.emotion import EmotionSchedule
from emotalk.infer.stream import FaceSelector
from emotalk.spec import AVSpec
from emotalk.video.encode import even_size

SILENCE_MODES = ("generate", "keep")
STILL_FPS = Fraction(25)
#: Rates that containers print rounded (29.97) but mean exactly (30000/1001).
_NTSC = tuple(Fraction(b * 1000, 1001) for b in (24, 30, 48, 60, 120))


def exact_fps(fps: float) -> Fraction:
    """The exact frame rate behind ffmpeg's rounded figure: 29.97 → 30000/1001; others as given."""
    for r in _NTSC:
        if abs(fps - float(r)) < 0.006:
            return r
    return Fraction(fps).limit_denominator(1001)


@dataclass
class DubInputs:
    """One dub's checked inputs and what follows from them (the output's length, rate and size)."""

    video: Path
    vinfo: Any  # ffmpeg.probe's MediaInfo of the video
    audio: Path | None  # as given (None: the video's own track)
    audio_path: Path  # where the speech is read from
    out: Path
    fps: Fraction
    schedule: EmotionSchedule
    selector: FaceSelector
    silence: str
    wav: np.ndarray  # [samples] at spec.sample_rate
    audio_seconds_load: float  # wall time of decoding the audio
    n_out: int  # output frames
    width: int  # the input's size
    height: int
    warnings: list[str] = field(default_factory=list)


def check_inputs(
    video: str | Path,
    audio: str | Path | None,
    out: str | Path | None,
    emotion: str | int,
    strength: float,
    timeline: str | None,
    face: int | str | None,
    silence: str,
    crossfade: float,
    spec: AVSpec,
) -> DubInputs:
    """Probe and validate every input of a dub (in this order, so the first problem is the one reported)."""
    if out is None:
        raise ConfigError("no output path given (--out)")
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"the output {out} is a folder; give a file name such as {out / 'dubbed.mp4'}")
    video = Path(video)
    vinfo = probe(video)
    if not vinfo.has_video:
        raise MediaDecodeError(f"{video} has no video stream (an audio file was given as the video?)")
    if silence not in SILENCE_MODES:
        raise ConfigError(f"silence must be one of {', '.join(SILENCE_MODES)}, got {silence!r}")
    selector = FaceSelector("auto" if face is None else face)
    if vinfo.is_image:
        fps = STILL_FPS
    elif vinfo.fps:
        fps = exact_fps(vinfo.fps)
    else:
        raise MediaDecodeError(f"{video}: its frame rate cannot be read; re-encode it, e.g. ffmpeg -i IN -r 25 OUT")
    schedule = EmotionSchedule(float(fps), emotion, strength, timeline, crossfade)
    audio_path = Path(audio) if audio is not None else video
    if audio is None and not vinfo.has_audio:
        raise MediaDecodeError(f"{video} has no audio track of its own; give the speech with --audio")
    for src in {video, audio_path}:
        if out.resolve() == src.resolve():
            raise ConfigError(f"the output {out} would overwrite an input; choose another --out")
    warnings = []
    if out.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        warnings.append(f"{out.name}: the file is an MP4 whatever its extension")
    wav, seconds = _load_speech(audio_path, fps, spec)
    width, height = vinfo.size
    if even_size(width, height) != (width, height):
        ow, oh = even_size(width, height)
        warnings.append(
            f"{width}x{height} is odd-sized, which H.264 (yuv420p) cannot hold: the output is {ow}x{oh}, the "
            "last column/row repeated"
        )
    return DubInputs(
        video=video,
        vinfo=vinfo,
        audio=Path(audio) if audio is not None else None,
        audio_path=audio_path,
        out=out,
        fps=fps,
        schedule=schedule,
        selector=selector,
        silence=silence,
        wav=wav,
        audio_seconds_load=seconds,
        n_out=n_output_frames(len(wav), float(fps), spec),
        width=width,
        height=height,
        warnings=warnings,
    )


def _load_speech(audio_path: Path, fps: Fraction, spec: AVSpec) -> tuple[np.ndarray, float]:
    """The driving audio at the spec's rate and the seconds it took; at least one video frame of it."""
    from emotalk.audio.load import load_audio

    t0 = time.perf_counter()
    wav = load_audio(audio_path, spec.sample_rate)
    seconds = time.perf_counter() - t0
    if len(wav) < spec.sample_rate / float(fps):
        raise AudioTooShortError(
            f"{audio_path} holds {1000 * len(wav) / spec.sample_rate:.1f} ms of audio, shorter than one video "
            f"frame ({1000 / float(fps):.1f} ms at {float(fps):.3f} fps); give at least one frame of speech"
        )
    return wav, seconds


__all__ = ["SILENCE_MODES", "STILL_FPS", "DubInputs", "check_inputs", "exact_fps"]
