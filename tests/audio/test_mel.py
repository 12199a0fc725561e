"""Golden tests of the audio front end against values computed with the reference code."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from emotalk.audio.load import load_audio, write_wav
from emotalk.audio.mel import mel_chunks, melspectrogram, n_audio_frames, preemphasis
from emotalk.errors import MediaDecodeError
from emotalk.spec import DEFAULT_SPEC as S


@pytest.mark.parametrize(
    ("npy", "wav"),
    [
        ("mel_1001_DFA_ANG_XX.npy", "crema-d/AudioWAV/1001_DFA_ANG_XX.wav"),
        ("mel_hdtf_RD_Radio31_000.npy", "audio/hdtf_RD_Radio31_000.wav"),
    ],
)
def test_matches_reference_golden(golden, media, npy, wav):
    ref = np.load(golden / npy)
    ours = melspectrogram(load_audio(media / wav))
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-4)


@pytest.mark.parametrize("n", [199, 200, 3201, 16000, 36363])
def test_shape_and_range(n):
    rng = np.random.default_rng(n)
    mel = melspectrogram(rng.uniform(-1, 1, n).astype(np.float32))
    assert mel.shape == (80, 1 + n // 200)
    assert mel.dtype == np.float32
    assert mel.min() >= -4.0 and mel.max() <= 4.0


def test_pure_tone_lands_in_its_band():
    import librosa

    centres = librosa.mel_frequencies(n_mels=S.n_mels + 2, fmin=S.fmin, fmax=S.fmax)[1:-1]
    t = np.arange(S.sample_rate) / S.sample_rate
    for f in (300.0, 1000.0, 4000.0):
        mel = melspectrogram(0.5 * np.sin(2 * np.pi * f * t))
        band = int(np.argmax(mel[:, 10:-10].mean(axis=1)))
        assert abs(centres[band] - f) <= 0.1 * f, (f, centres[band])


def test_silence_is_the_floor():
    assert np.all(melspectrogram(np.zeros(4000)) == -4.0)


def test_agrees_with_direct_librosa_recipe():
    import librosa

    rng = np.random.default_rng(0)
    wav = (rng.standard_normal(12345) * 0.1).astype(np.float32)
    d = librosa.stft(preemphasis(wav, 0.97), n_fft=800, hop_length=200, win_length=800)
    m = librosa.feature.melspectrogram(S=np.abs(d), sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    db = 20 * np.log10(np.maximum(1e-5, m)) - 20
    ref = np.clip(8 * (db + 100) / 100 - 4, -4, 4)
    np.testing.assert_allclose(melspectrogram(wav), ref, atol=1e-4)


def test_no_librosa_import_once_cached(tmp_path):
    code = (
        "import sys, numpy as np; from emotalk.audio.mel import melspectrogram; "
        "melspectrogram(np.zeros(1600)); print('librosa' in sys.modules)"
    )
    env = {**os.environ, "EMOTALK_CACHE": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "True"  # built the filter bank once
    assert second.stdout.strip() == "False"  # later processes read the cache


def test_chunks_follow_reference_rule():
    mel = np.arange(80 * 100, dtype=np.float32).reshape(80, 100)
    chunks = mel_chunks(mel, n_frames=30, fps=25.0)
    assert chunks.shape == (30, 80, 16)
    for i in (0, 1, 7, 29):
        start = min(int(i * 80 / 25), 100 - 16)
        np.testing.assert_array_equal(chunks[i], mel[:, start : start + 16])
    # 29.97 fps: chunk i starts at int(i*80/fps)
    chunks = mel_chunks(mel, n_frames=10, fps=30000 / 1001)
    np.testing.assert_array_equal(chunks[9], mel[:, int(9 * 80 / (30000 / 1001)) :][:, :16])
    # the reference's chunk count: chunks until one runs past the end, that one included
    # 100 columns: starts 0..83.2 fit (i = 0..26), i = 27 takes the last 16 columns and stops
    assert n_audio_frames(np.zeros((80, 100)), 25.0) == 28


def test_load_audio_resamples_and_reads_video(media, tmp_path):
    wav = load_audio(media / "crema-d/VideoFlash/1001_DFA_ANG_XX.flv")  # MP3 44.1 kHz inside FLV
    assert abs(len(wav) / 16000 - 2.27) < 0.1
    write_wav(tmp_path / "a.wav", wav)
    again = load_audio(tmp_path / "a.wav")
    assert np.abs(again - wav).max() < 1e-3


def test_bad_audio_names_the_file(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all")
    with pytest.raises(MediaDecodeError, match=r"notes\.wav"):
        load_audio(bad)
    with pytest.raises(MediaDecodeError, match="not found"):
        load_audio(tmp_path / "missing.wav")
