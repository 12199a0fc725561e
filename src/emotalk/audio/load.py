"""Read any audio (or the audio track of any video) as float32 mono at the spec's sample rate."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from emotalk.errors import MediaDecodeError
from emotalk.ffmpeg import probe, run_ffmpeg
from emotalk.fsutil import atomic_path
from emotalk.spec import DEFAULT_SPEC


def load_audio(path: Path | str, sample_rate: int = DEFAULT_SPEC.sample_rate) -> np.ndarray:
    """Decode, downmix and resample with ffmpeg.

    Returns:
        float32 samples in [-1, 1], shape [N].

    Raises:
        MediaDecodeError: no audio stream, no samples, or non-finite samples (NaN/inf).
    """
    path = Path(path)
    info = probe(path)
    if not info.has_audio:
        raise MediaDecodeError(f"{path} has no audio track; give an audio file with --audio")
    raw = run_ffmpeg(
        ["-i", str(path), "-vn", "-map", "0:a:0", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-"],
        path=path,
    )
    wav = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if wav.size == 0:
        raise MediaDecodeError(f"{path} has an audio track with no samples")
    if not np.isfinite(wav).all():
        raise MediaDecodeError(f"{path} contains NaN or infinite samples; re-export the audio")
    return wav


def write_wav(path: Path | str, wav: np.ndarray, sample_rate: int = DEFAULT_SPEC.sample_rate) -> None:
    """Write 16-bit PCM mono atomically (temp file, then rename)."""
    pcm = (np.clip(wav, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
