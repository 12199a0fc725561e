"""The reference mel spectrogram (mission.md §2), matched to the golden arrays in shared/golden.

Pre-emphasis 0.97 → centred STFT (n_fft 800, hop 200, Hann 800, zero padding as librosa 0.11) → magnitude →
80 Slaney mel bands 55–7600 Hz → 20·log10(max(1e-5, M)) − 20 → clip(8·(S+100)/100 − 4, −4, 4).
The STFT runs in torch; librosa only builds the filter bank, once per process (no numba JIT on the hot path).
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import numpy as np
import torch

from emotalk.fsutil import write_atomic
from emotalk.spec import DEFAULT_SPEC, AVSpec


@functools.cache
def mel_basis(spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    """Slaney-scale, Slaney-normalised filter bank [n_mels, 1 + n_fft/2] (librosa's defaults, keyword call).

    Cached on disk after the first build, so a CLI or server start does not import librosa (~1.5 s).
    """
    key = f"{spec.sample_rate}-{spec.n_fft}-{spec.n_mels}-{spec.fmin}-{spec.fmax}"
    cache = Path(os.environ.get("EMOTALK_CACHE", Path.home() / ".cache" / "emotalk")) / f"mel_basis_{key}.npy"
    try:
        return np.load(cache)
    except (OSError, ValueError):
        pass
    from librosa.filters import mel  # keyword arguments: librosa ≥ 0.10 rejects positional ones (EmoGen #22)

    basis = mel(sr=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels, fmin=spec.fmin, fmax=spec.fmax)
    with contextlib.suppress(OSError):  # read-only home: recompute next time
        write_atomic(cache, lambda tmp: np.save(tmp, basis), suffix=".npy", mkdir=True)
    return basis


def preemphasis(wav: np.ndarray, k: float) -> np.ndarray:
    """y[n] = x[n] − k·x[n−1], y[0] = x[0] (scipy.signal.lfilter([1, −k], [1], x))."""
    out = np.asarray(wav, dtype=np.float64).copy()
    out[1:] -= k * np.asarray(wav, dtype=np.float64)[:-1]
    return out


def melspectrogram(wav: np.ndarray, spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    """Normalised log-mel of mono `wav` at `spec.sample_rate`.

    Returns:
        float32 [n_mels, 1 + len(wav) // hop_length], values in [−max_abs, max_abs].
    """
    x = torch.from_numpy(preemphasis(wav, spec.preemphasis))
    window = torch.hann_window(spec.win_length, periodic=True, dtype=torch.float64)
    stft = torch.stft(
        x,
        n_fft=spec.n_fft,
        hop_length=spec.hop_length,
        win_length=spec.win_length,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    magnitude = stft.abs().numpy()  # (1 + n_fft/2, M)
    mel = mel_basis(spec) @ magnitude
    min_level = np.exp(spec.min_level_db / 20 * np.log(10))  # 1e-5
    db = 20 * np.log10(np.maximum(min_level, mel)) - spec.ref_level_db
    m = spec.max_abs_value
    norm = np.clip((2 * m) * ((db - spec.min_level_db) / -spec.min_level_db) - m, -m, m)
    return norm.astype(np.float32)


def mel_window(mel: np.ndarray, start: int, spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    """`mel_step` columns from `start`; past the end, the last `mel_step` columns (reference inference rule)."""
    start = max(0, start)
    if start + spec.mel_step > mel.shape[1]:
        start = max(0, mel.shape[1] - spec.mel_step)
    win = mel[:, start : start + spec.mel_step]
    if win.shape[1] < spec.mel_step:  # clip shorter than one window: pad with silence
        win = np.pad(win, ((0, 0), (0, spec.mel_step - win.shape[1])), constant_values=-spec.max_abs_value)
    return win


def mel_chunks(mel: np.ndarray, n_frames: int, fps: float, spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    """One [n_mels, mel_step] window per video frame: chunk i starts at column int(i·80/fps).

    Returns:
        float32 [n_frames, n_mels, mel_step].
    """
    return np.stack([mel_window(mel, spec.mel_start(i, fps), spec) for i in range(n_frames)])


def n_audio_frames(mel: np.ndarray, fps: float, spec: AVSpec = DEFAULT_SPEC) -> int:
    """Number of video frames the audio covers (the reference's chunk count, last partial chunk included)."""
    n, i = 0, 0
    while True:
        start = int(i * spec.mel_fps / fps)
        n += 1
        if start + spec.mel_step > mel.shape[1]:
            return n
        i += 1
