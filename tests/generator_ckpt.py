"""Generator checkpoints for tests (tests/infer, tests/web, tests/evaluate): random generators whose output depends
on their inputs, saved the way our Lightning runs save them. No training needed."""

from __future__ import annotations

from pathlib import Path

import torch

from emotalk.models.generator import Generator
from emotalk.spec import AVSpec


def calibrated_generator(width: float = 0.125, emotion_gain: float = 5.0, seed: int = 0) -> Generator:
    """A random generator whose output visibly depends on its inputs: BatchNorm statistics are calibrated on
    random batches (a fresh one's eval-mode output is a flat grey) and the emotion encoder is amplified by
    `emotion_gain`, so that two emotions give different faces after H.264."""
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
    """A checkpoint shaped like our Lightning ones (the generator's keys under "generator.", the emotalk record)."""
    torch.save(
        {
            "state_dict": {"generator." + k: v for k, v in gen.state_dict().items()},
            "emotalk": {"stage": "generator", "spec": (spec or AVSpec()).to_dict(), "net": gen.config, **record},
        },
        path,
    )
    return path
