"""Other voices for the same words: a training augmentation of the generator's audio input.

GRID has one speaker, so a generator trained on it learns that voice's spectra; dubbed with anyone else's speech its
mouth follows the words less (issue #13: the mouth opening's correlation with the speech's loudness fell from 0.65
for held-out GRID speech to 0.44 for other voices). VoiceAugment warps the log-mel along frequency, as a vocal tract
of another length does (formants scaled by a factor, VTLP: Jaitly & Hinton 2013), and shifts its level. One draw
per item, the same for all of its frames (one speaker).

For a generator it touches the per-frame mels only: the frozen expert's sync window keeps the real audio, so the
sync term still asks for the mouth of the words actually said, whatever voice the generator heard them in. For an
expert (syncnet mode) it changes the expert's own window, so the judge learns to hear the words in any voice.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from emotalk.errors import ConfigError
from emotalk.spec import DEFAULT_SPEC, AVSpec


@functools.cache
def band_centres(spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    """Centre frequency (Hz) of each mel band: the weighted mean frequency of its filter."""
    from emotalk.audio.mel import mel_basis

    basis = mel_basis(spec)
    hz = np.arange(basis.shape[1]) * spec.sample_rate / spec.n_fft
    return (basis @ hz) / basis.sum(axis=1)


@dataclass(frozen=True)
class VoiceAugment:
    """Frequency warp and level shift of normalised log-mels [..., n_mels, S] (bands on axis -2).

    Args:
        p: probability that an item is changed at all.
        max_warp: formant frequencies are scaled by a factor drawn log-uniformly from [1/max_warp, max_warp]
            (1.15 spans roughly an adult male to an adult female vocal tract).
        gain_db: level shift drawn uniformly from [-gain_db, gain_db] dB.
    """

    p: float = 0.5
    max_warp: float = 1.15
    gain_db: float = 6.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0 or self.max_warp < 1.0 or self.gain_db < 0.0:
            raise ConfigError(
                f"data.voice_augment: p={self.p} must be in [0, 1], max_warp={self.max_warp} >= 1 and "
                f"gain_db={self.gain_db} >= 0"
            )

    @classmethod
    def from_any(cls, cfg: VoiceAugment | Mapping[str, Any] | None) -> VoiceAugment | None:
        if cfg is None or isinstance(cfg, VoiceAugment):
            return cfg
        unknown = set(cfg) - {"p", "max_warp", "gain_db"}
        if unknown:
            raise ConfigError(f"data.voice_augment: unknown keys {sorted(unknown)}; use p, max_warp, gain_db")
        return cls(**{k: float(v) for k, v in cfg.items()})

    @property
    def config(self) -> dict[str, float]:
        return asdict(self)

    def __call__(self, mels: np.ndarray, rng: np.random.Generator, spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
        if rng.random() >= self.p:
            return mels
        warp = float(np.exp(rng.uniform(-np.log(self.max_warp), np.log(self.max_warp))))
        gain = float(rng.uniform(-self.gain_db, self.gain_db))
        return apply_voice(mels, warp, gain, spec)


def apply_voice(mels: np.ndarray, warp: float, gain_db: float, spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    """`mels` as spoken by a vocal tract whose formants sit `warp` times higher, `gain_db` louder.

    Band i of the result reads the input at frequency centre_i / warp (linear interpolation between bands, the
    edge bands held beyond the range); the level shift moves the normalised dB scale and is clipped like it.
    """
    centres = band_centres(spec)
    src = np.interp(centres / warp, centres, np.arange(len(centres), dtype=np.float64))
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, len(centres) - 1)
    x = np.moveaxis(mels, -2, 0)  # bands first
    w = (src - lo).astype(mels.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
    out = x[lo] * (1 - w) + x[hi] * w
    m = spec.max_abs_value
    out = out + gain_db * (2 * m / -spec.min_level_db)
    return np.ascontiguousarray(np.moveaxis(np.clip(out, -m, m), 0, -2), dtype=mels.dtype)
