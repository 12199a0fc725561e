"""Inference fixtures: tiny generator checkpoints made here (ours and published-style), short real media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emotalk.audio.load import load_audio, write_wav
from emotalk.models.generator import Generator
from emotalk.spec import AVSpec


def calibrated_generator(width: float = 0.125, emotion_gain: float = 5.0, seed: int = 0) -> Generator:
    """A random generator whose output visibly depends on its inputs: BatchNorm statistics are calibrated on
    random batches (a fresh one's eval-mode output is a flat grey) and the emotion encoder is amplified, so that
    two emotions give different faces after H.264."""
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # OpenMP barriers crawl on a busy 2-core machine; one thread does not
    gen = Generator(width=width)
    with torch.no_grad():
        gen.emotion_encoder[0].weight.mul_(emotion_gain)
        gen.emotion_encoder[2].weight.mul_(emotion_gain)
    for m in gen.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    gen.train()
    with torch.no_grad():
        for _ in range(2):
            emo = torch.eye(6)[torch.randint(0, 6, (12,))]
            gen(torch.randn(12, 1, 80, 16) * 2, torch.rand(12, 6, 96, 96), emo)
    torch.set_num_threads(threads)
    return gen.eval()


def save_ours(gen: Generator, path: Path, spec: AVSpec | None = None, **record: object) -> Path:
    """A checkpoint shaped like our Lightning ones (the generator's keys under "generator.")."""
    torch.save(
        {
            "state_dict": {"generator." + k: v for k, v in gen.state_dict().items()},
            "emotalk": {"stage": "generator", "spec": (spec or AVSpec()).to_dict(), "net": gen.config, **record},
        },
        path,
    )
    return path


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
