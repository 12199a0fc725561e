"""Expert lip-sync discriminator: Wav2Lip's ``SyncNet_color`` (reference-code.md §6).

Lower halves of T=5 frames, stacked on channels frame-major ([f0 BGR, f1 BGR, …] → 15x48x96), and the matching
1x80x16 mel window → two 512-d embeddings, ReLU'd by the last conv block and L2-normalised, so their cosine lies in
[0, 1] and is read as the probability "in sync". Trained first with BCE(cos, label), then frozen for the generator.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from emotalk.models.blocks import Conv2dBlock, audio_encoder, scaled


def stack_lower_half(face: Tensor) -> Tensor:
    """Lower halves of a clip stacked frame-major on channels: [B, 3, T, H, W] → [B, 3·T, H/2, W].

    Matches the reference's ``cat([g[:, :, i] for i in range(T)], dim=1)`` of rows H/2: (get_sync_loss).
    """
    B, C, T, H, W = face.shape
    lower = face[:, :, :, H // 2 :]  # (B, 3, T, H/2, W)
    return lower.transpose(1, 2).reshape(B, T * C, H - H // 2, W)  # (B, T*3, H/2, W), frame-major


class SyncNet(nn.Module):
    """SyncNet_color expert: ``forward(mel, face)`` → (audio_emb, face_emb), each [B, 512·width], unit norm.

    ``face`` is either full frames [B, 3, T, 96, 96] (the lower half is taken here) or an already stacked
    [B, 3·T, 48, 96]; ``mel`` is [B, 1, 80, 16]. Argument order follows the reference (audio first).

    >>> import torch
    >>> a, v = SyncNet(width=0.25).eval()(torch.rand(2, 1, 80, 16), torch.rand(2, 3, 5, 96, 96))
    >>> a.shape, v.shape
    (torch.Size([2, 128]), torch.Size([2, 128]))
    """

    def __init__(self, width: float = 1.0, T: int = 5) -> None:
        super().__init__()
        self.config = {"width": width, "T": T}
        self.T = T

        def c(n: int) -> int:
            return scaled(n, width)

        def res(ch: int) -> Conv2dBlock:
            return Conv2dBlock(ch, ch, 3, 1, 1, residual=True)

        self.face_encoder = nn.Sequential(
            Conv2dBlock(3 * T, c(32), 7, 1, 3),  # 48x96
            Conv2dBlock(c(32), c(64), 5, (1, 2), 1),  # 46x47
            res(c(64)),
            res(c(64)),
            Conv2dBlock(c(64), c(128), 3, 2, 1),  # 23x24
            res(c(128)),
            res(c(128)),
            res(c(128)),
            Conv2dBlock(c(128), c(256), 3, 2, 1),  # 12x12
            res(c(256)),
            res(c(256)),
            Conv2dBlock(c(256), c(512), 3, 2, 1),  # 6x6
            res(c(512)),
            res(c(512)),
            Conv2dBlock(c(512), c(512), 3, 2, 1),  # 3x3
            Conv2dBlock(c(512), c(512), 3, 1, 0),  # 1x1
            Conv2dBlock(c(512), c(512), 1, 1, 0),
        )
        self.audio_encoder = audio_encoder(width, residuals_at_3x3=2)  # Wav2Lip's, as the reference

    def embed_face(self, face: Tensor) -> Tensor:
        """[B, 3, T, H, W] frames or [B, 3·T, H/2, W] stacked lower halves → unit-norm [B, 512·width]."""
        if face.dim() == 5:
            if face.shape[2] != self.T:
                raise ValueError(f"SyncNet was built for T={self.T} frames, got {face.shape[2]}")
            face = stack_lower_half(face)
        if face.dim() != 4 or face.shape[1] != 3 * self.T:
            raise ValueError(
                f"face must be [B, 3, {self.T}, H, W] or [B, {3 * self.T}, H/2, W], got {tuple(face.shape)}"
            )
        if face.shape[2:] != (48, 96):
            raise ValueError(f"face windows must be 48x96 lower halves of 96x96 crops, got {tuple(face.shape[2:])}")
        emb = self.face_encoder(face)
        return F.normalize(emb.flatten(1), p=2, dim=1)

    def embed_audio(self, mel: Tensor) -> Tensor:
        """[B, 1, 80, 16] mel window → unit-norm [B, 512·width]."""
        if mel.dim() != 4 or mel.shape[1:] != (1, 80, 16):
            raise ValueError(f"mel windows must be [B, 1, 80, 16], got {tuple(mel.shape)}")
        emb = self.audio_encoder(mel)
        return F.normalize(emb.flatten(1), p=2, dim=1)

    def forward(self, mel: Tensor, face: Tensor) -> tuple[Tensor, Tensor]:
        return self.embed_audio(mel), self.embed_face(face)


def sync_probability(audio_emb: Tensor, face_emb: Tensor) -> Tensor:
    """Cosine of the two embeddings, [B] in [0, 1] (both are non-negative and unit-norm)."""
    # Clamp: rounding can push the cosine a hair outside [0, 1], where BCE raises (the reference can crash there).
    return F.cosine_similarity(audio_emb, face_emb).clamp(0.0, 1.0)


def binary_cross_entropy(p: Tensor, target: Tensor) -> Tensor:
    """``F.binary_cross_entropy`` on probabilities, in float32 with autocast off.

    CUDA autocast refuses this op in 16-bit mixed precision. A hand-written BCE is no substitute: at cos = 0 (common
    with ReLU'd embeddings) its clamped log has a NaN or zero gradient, where PyTorch's BCE still pushes.
    """
    with torch.autocast(device_type=p.device.type, enabled=False):
        return F.binary_cross_entropy(p.float(), target.float())


def cosine_loss(audio_emb: Tensor, face_emb: Tensor, label: Tensor) -> Tensor:
    """Wav2Lip's expert loss: BCE(cos, label), label [B] (1 = in sync, 0 = off sync)."""
    return binary_cross_entropy(sync_probability(audio_emb, face_emb), label.view(-1))


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode and no gradients: how the expert (and the VGG) are used inside generator training."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


__all__ = ["SyncNet", "binary_cross_entropy", "cosine_loss", "freeze", "stack_lower_half", "sync_probability"]
