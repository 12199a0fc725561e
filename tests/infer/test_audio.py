"""The driving audio: block-wise mel windows equal the whole-signal reference chunks; output length; loudness."""

from __future__ import annotations

import numpy as np
import pytest

from emotalk.audio.load import load_audio
from emotalk.audio.mel import mel_chunks, melspectrogram
from emotalk.infer.audio import MelSource, n_output_frames


@pytest.mark.parametrize("fps", [25.0, 30000 / 1001, 30.0, 24.0, 60.0])
def test_blockwise_windows_equal_the_reference_chunks(media, fps):
    wav = load_audio(media / "audio" / "hdtf_RD_Radio31_000.wav")
    n = n_output_frames(len(wav), fps)
    src = MelSource(wav, fps, block=97)  # small blocks: many block edges inside the clip
    np.testing.assert_array_equal(src.windows(range(n)), mel_chunks(melspectrogram(wav), n, fps))


def test_output_length_is_the_audio_duration():
    assert n_output_frames(16000 * 2, 25) == 50
    assert n_output_frames(16000 * 2, 30000 / 1001) == 60  # 59.94 rounds to 60
    assert n_output_frames(100, 25) == 1  # never empty
    # within half a frame of the audio
    for n in (12345, 54321, 99999):
        for fps in (25, 29.97, 60):
            assert abs(n_output_frames(n, fps) / fps - n / 16000) <= 0.5 / fps + 1e-9


def test_audio_shorter_than_one_window_is_padded():
    src = MelSource(np.zeros(1000, np.float32), 25)
    assert src.window(0).shape == (80, 16) and src.windows(range(3)).shape == (3, 80, 16)


def test_loudness_per_frame_window():
    sr = 16000
    wav = np.concatenate([0.3 * np.sin(np.arange(sr) * 2 * np.pi * 220 / sr), np.zeros(sr)]).astype(np.float32)
    src = MelSource(wav, 25)
    assert src.rms_db(5) == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=0.5)
    assert src.rms_db(40) == -np.inf  # all zeros
