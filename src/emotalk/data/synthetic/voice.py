"""The voice: a formant-filtered pulse train per actor and emotion (`synth_voice`), and the mouth opening that
follows its loudness frame by frame (`frame_rms`, `mouth_track`).
"""

from __future__ import annotations

import logging

import numpy as np

from emotalk.data.synthetic.actors import FPS, INTENSITY, SAMPLE_RATE, _rng, actor_params

log = logging.getLogger(__name__)


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
