"""Inference fixtures: tiny generator checkpoints made here (ours and published-style), short real media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotalk.audio.load import load_audio, write_wav
from generator_ckpt import calibrated_generator, save_ours


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_ours(calibrated_generator(), tmp_path_factory.mktemp("ckpt") / "tiny.ckpt", mask_mode="full")


@pytest.fixture(scope="session")
def clips(media: Path) -> dict[str, Path]:
    return {
        "flv": media / "crema-d" / "VideoFlash" / "1001_DFA_ANG_XX.flv",
        "flv_wav": media / "crema-d" / "AudioWAV" / "1001_DFA_ANG_XX.wav",
        "mead": media / "video" / "mead_M030_sad_3_001.mp4",
        "hdtf": media / "video" / "hdtf_retalking_face2.mp4",
        "obama": media / "stills" / "obama.jpg",
        "speech": media / "audio" / "1002_DFA_HAP_XX.wav",
        "long_speech": media / "audio" / "hdtf_RD_Radio31_000.wav",
    }


def cut_wav(src: Path, dst: Path, seconds: float, offset: float = 0.0, sr: int = 16000) -> Path:
    """`seconds` of `src` from `offset` as a 16 kHz mono wav (zero-padded past the end)."""
    wav = load_audio(src)
    a = round(offset * sr)
    piece = wav[a : a + round(seconds * sr)]
    piece = np.pad(piece, (0, round(seconds * sr) - len(piece)))
    write_wav(dst, piece, sr)
    return dst
