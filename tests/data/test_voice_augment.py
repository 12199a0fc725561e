"""Other voices for the generator's audio: formants move by the warp factor, the expert's window keeps the real
audio, and evaluation never changes."""

from __future__ import annotations

import numpy as np
import pytest

from emotalk.data.voice_augment import VoiceAugment, apply_voice, band_centres
from emotalk.data.windows import WindowDataset, build_index
from emotalk.errors import ConfigError
from emotalk.spec import DEFAULT_SPEC

T = DEFAULT_SPEC.T


def formant(hz: float) -> np.ndarray:
    """A normalised log-mel [80, 16] of silence (-4) with one spectral peak at `hz`."""
    c = band_centres(DEFAULT_SPEC)
    col = -4 + 6 * np.exp(-0.5 * ((np.log(c) - np.log(hz)) / 0.05) ** 2)
    return np.repeat(col[:, None], 16, axis=1).astype(np.float32)


def peak_hz(mel: np.ndarray) -> float:
    return float(band_centres(DEFAULT_SPEC)[int(np.argmax(mel[:, 0]))])


@pytest.mark.parametrize("warp", [0.87, 1.15])
def test_warp_moves_a_formant_by_the_factor(warp):
    src = formant(1000.0)
    moved = apply_voice(src, warp, 0.0)
    assert peak_hz(moved) == pytest.approx(1000.0 * warp, rel=0.06)  # bands are ~5 % apart at 1 kHz
    assert abs(peak_hz(src) - 1000.0) < 60
    np.testing.assert_allclose(apply_voice(src, 1.0, 0.0), src, atol=1e-6)


def test_gain_shifts_the_level_in_db_and_keeps_the_range():
    src = formant(500.0)
    louder = apply_voice(src, 1.0, 10.0)
    mid = (src > -3) & (src < 3)
    np.testing.assert_allclose(louder[mid] - src[mid], 10 * 8 / 100, atol=1e-5)  # 8 units span 100 dB
    assert louder.max() <= 4.0 and apply_voice(src, 1.0, -60.0).min() >= -4.0


def test_one_voice_per_item_and_p_is_respected():
    aug = VoiceAugment(p=1.0, max_warp=1.2, gain_db=3.0)
    frames = np.stack([formant(800.0)] * T)  # (T, 80, 16)
    out = aug(frames, np.random.default_rng(0))
    assert not np.allclose(out, frames)
    assert all(np.array_equal(out[0], out[k]) for k in range(1, T))  # the same speaker in every frame
    never = VoiceAugment(p=0.0)
    assert never(frames, np.random.default_rng(0)) is frames
    half = VoiceAugment(p=0.5)
    changed = sum(not np.array_equal(half(frames, rng), frames) for rng in map(np.random.default_rng, range(200)))
    assert 70 <= changed <= 130


def test_generator_hears_another_voice_but_the_expert_the_real_audio(fake_crema):
    root, metas = fake_crema
    clips = build_index(root, metas)
    aug = VoiceAugment(p=1.0, max_warp=1.2, gain_db=0.0)
    ds = WindowDataset(clips, "generator", train=True, samples_per_epoch=40, voice_augment=aug)
    changed = 0
    for i in range(40):
        it = ds[i]
        f = it["start"]
        # the expert's window: exactly the clip's mel (conftest: value = column + 0.001 * band)
        np.testing.assert_allclose(it["mel"][:, 0], DEFAULT_SPEC.mel_start(f) + 0.001 * np.arange(80), atol=1e-4)
        s = DEFAULT_SPEC.mel_start(f)
        real = np.arange(s, s + 16)[None, :] + 0.001 * np.arange(80)[:, None]
        changed += not np.allclose(it["indiv_mels"][0], real, atol=1e-4)
    assert changed == 40
    ev = WindowDataset(clips, "generator", train=False, voice_augment=aug)
    assert ev.voice_augment is None  # evaluation hears the real audio


def test_an_expert_in_training_hears_other_voices_in_its_own_window(fake_crema):
    root, metas = fake_crema
    clips = build_index(root, metas)
    aug = VoiceAugment(p=1.0, max_warp=1.2, gain_db=0.0)
    ds = WindowDataset(clips, "syncnet", train=True, samples_per_epoch=20, voice_augment=aug)
    for i in range(20):
        it = ds[i]
        s = DEFAULT_SPEC.mel_start(it["start"])
        real = np.arange(s, s + 16)[None, :] + 0.001 * np.arange(80)[:, None]
        assert it["mel"].shape == real.shape and not np.allclose(it["mel"], real, atol=1e-4)


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="max_warp"):
        VoiceAugment(max_warp=0.9)
    with pytest.raises(ConfigError, match="unknown keys"):
        VoiceAugment.from_any({"p": 0.5, "pitch": 2})
    assert VoiceAugment.from_any({"p": 1, "max_warp": 1.1}) == VoiceAugment(p=1.0, max_warp=1.1)
    assert VoiceAugment.from_any(None) is None
