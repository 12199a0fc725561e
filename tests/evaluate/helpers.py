"""Stand-ins for the evaluation tests: a fake dubber and small networks with random or hand-set weights.

No test reports a metric of a published model: every network here says what it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from emotalk.ffmpeg import run_ffmpeg
from emotalk.spec import EMOTIONS


class CopyDubber:
    """A stand-in for emotalk.infer's Dubber: the source video with the given audio (no lip sync, no emotion).

    `tint` adds (emotion index × tint) to the blue channel, so a stub classifier can read the requested emotion.
    """

    def __init__(self, checkpoint: Path, device: str, tint: int = 0) -> None:
        self.checkpoint, self.device, self.tint = checkpoint, device, tint
        self.calls: list[tuple[Path, Path, str, Path]] = []

    def dub(self, video: Path, audio: Path, emotion: str, out: Path, **kw: Any) -> Path:
        self.calls.append((Path(video), Path(audio), emotion, Path(out)))
        vf = ["-vf", f"lutrgb=b='clipval+{EMOTIONS.index(emotion) * self.tint}'"] if self.tint else []
        inputs = ["-y", "-i", str(video), "-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", *vf]
        codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p", "-c:a", "aac"]
        run_ffmpeg([*inputs, *codecs, "-shortest", str(out)], path=video)
        return Path(out)


class TinySync(nn.Module):
    """A cheap module with SyncNetLSE's interface (random weights): pooled frames / MFCC → linear → 1024."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lip = nn.Linear(3 * 5 * 4 * 4, 1024)
        self.aud = nn.Linear(13 * 20, 1024)

    def forward_lip(self, video: Tensor) -> Tensor:
        B = video.shape[0]
        return self.lip(nn.functional.adaptive_avg_pool3d(video / 255.0, (5, 4, 4)).reshape(B, -1))

    def forward_aud(self, mfcc: Tensor) -> Tensor:
        return self.aud(mfcc.flatten(1) / 100.0)


class TinyFeature(nn.Module):
    """A small random feature network standing in for the FID Inception (tests of the FID plumbing and math)."""

    num_features = 16

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 16, 5, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.2)
            self.conv.bias.zero_()
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.conv(x.float())).mean((2, 3))


class StubClassifier(nn.Module):
    """An emotion 'classifier' with hand-set outputs.

    mode "fixed": always the logits `fixed` (→ always the same class).
    mode "blue": reads the requested emotion from the blue tint CopyDubber(tint=…) adds: class =
    round(mean blue · 255 − base) / tint, clipped to 0..5.
    """

    def __init__(self, mode: str = "fixed", fixed: int = 0, tint: int = 30, base: float = 0.0) -> None:
        super().__init__()
        self.mode, self.fixed, self.tint, self.base = mode, fixed, tint, base
        self.dummy = nn.Parameter(torch.zeros(1))

    def features(self, video: Tensor) -> Tensor:
        B = video.shape[0]
        return torch.cat([video.mean((2, 3, 4)), video.std((2, 3, 4))], 1).reshape(B, -1)

    def cls(self, feats: Tensor) -> Tensor:
        B = feats.shape[0]
        if self.mode == "fixed":
            return torch.nn.functional.one_hot(torch.full((B,), self.fixed), len(EMOTIONS)).float()
        k = ((feats[:, 0] * 255 - self.base) / self.tint).round().clamp(0, len(EMOTIONS) - 1).long()
        return torch.nn.functional.one_hot(k, len(EMOTIONS)).float()

    def forward(self, video: Tensor) -> Tensor:
        return self.cls(self.features(video))


def tiny_generator_checkpoint(path: Path, seed: int = 0) -> Path:
    """An emotalk generator checkpoint (width 0.25, random weights) that load_net and the Dubber accept."""
    from emotalk.models.generator import Generator
    from generator_ckpt import save_ours

    torch.manual_seed(seed)
    return save_ours(Generator(width=0.25), path)
