"""Wav2Lip's visual-quality discriminator (``Wav2Lip_disc_qual``, reference-code.md §7) and its loss wrapper.

Only Wav2Lip's hq training uses it (EmoGen keeps the hyper-parameters but never calls it). Frames are folded into
the batch time-major and only their lower half is judged, as in the reference; one probability per frame.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from emotalk.models.blocks import NoNormConv2dBlock, scaled, tap_activations


class QualityDiscriminator(nn.Module):
    """Real/fake probability per frame: [B, 3, T, 96, 96] (or [N, 3, 96, 96]) → [B·T, 1] (time-major rows).

    >>> import torch
    >>> QualityDiscriminator(width=0.25)(torch.rand(2, 3, 5, 96, 96)).shape
    torch.Size([10, 1])
    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        self.config = {"width": width}

        def c(n: int) -> int:
            return scaled(n, width)

        def nn_conv(cin: int, cout: int, k: int, s: int | tuple[int, int], p: int) -> NoNormConv2dBlock:
            return NoNormConv2dBlock(cin, cout, k, s, p)

        self.face_encoder_blocks = nn.ModuleList(
            [
                nn.Sequential(nn_conv(3, c(32), 7, 1, 3)),  # 48x96
                nn.Sequential(nn_conv(c(32), c(64), 5, (1, 2), 2), nn_conv(c(64), c(64), 5, 1, 2)),  # 48x48
                nn.Sequential(nn_conv(c(64), c(128), 5, 2, 2), nn_conv(c(128), c(128), 5, 1, 2)),  # 24x24
                nn.Sequential(nn_conv(c(128), c(256), 5, 2, 2), nn_conv(c(256), c(256), 5, 1, 2)),  # 12x12
                nn.Sequential(nn_conv(c(256), c(512), 3, 2, 1), nn_conv(c(512), c(512), 3, 1, 1)),  # 6x6
                nn.Sequential(nn_conv(c(512), c(512), 3, 2, 1), nn_conv(c(512), c(512), 3, 1, 1)),  # 3x3
                nn.Sequential(nn_conv(c(512), c(512), 3, 1, 0), nn_conv(c(512), c(512), 1, 1, 0)),  # 1x1
            ]
        )
        self.binary_pred = nn.Sequential(nn.Conv2d(c(512), 1, 1, 1, 0), nn.Sigmoid())

    def _lower_halves(self, face: Tensor) -> Tensor:
        if face.dim() == 5:
            B, C, T, H, W = face.shape
            face = face.permute(2, 0, 1, 3, 4).reshape(T * B, C, H, W)  # (T*B, 3, H, W), time-major as reference
        return face[:, :, face.shape[2] // 2 :]  # lower half (N, 3, 48, 96)

    def logits(self, face: Tensor) -> Tensor:
        """Pre-sigmoid scores [B·T, 1]; the losses use these for numerically stable BCE."""
        x = self._lower_halves(face)
        for block in self.face_encoder_blocks:
            x = block(x)
        return self.binary_pred[0](x).view(len(x), -1)

    def features(self, face: Tensor, taps: tuple[int, ...] = (0, 1, 2, 3)) -> list[Tensor]:
        """Activations after encoder blocks `taps` (default 48x96 … 12x12): feature matching's inputs."""
        return tap_activations(self.face_encoder_blocks, self._lower_halves(face), taps)

    def forward(self, face: Tensor, return_features: bool = False) -> Tensor | list[Tensor]:
        """Probabilities [B·T, 1]; ``return_features=True`` gives `features` (so `torch.func.functional_call`
        can run either with detached weights)."""
        if return_features:
            return self.features(face)
        return self.binary_pred[1](self.logits(face))


class AdversarialLoss(nn.Module):
    """BCE GAN losses around a discriminator (AC's ``AdversarialLoss`` interface); the optimizer lives elsewhere.

    The reference uses Sigmoid then BCE; BCE-with-logits on the same scores is the same value, without log(0).
    """

    def __init__(self, discriminator: QualityDiscriminator) -> None:
        super().__init__()
        self.discriminator = discriminator

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        """Discriminator loss BCE(D(real), 1) + BCE(D(fake), 0); `fake` is detached here."""
        real_logits = self.discriminator.logits(real)
        fake_logits = self.discriminator.logits(fake.detach())
        return F.binary_cross_entropy_with_logits(
            real_logits, real_logits.new_ones(real_logits.shape)
        ) + F.binary_cross_entropy_with_logits(fake_logits, fake_logits.new_zeros(fake_logits.shape))

    def g_loss(self, fake: Tensor) -> Tensor:
        """Generator loss BCE(D(fake), 1) (the reference's ``perceptual_forward``)."""
        logits = self.discriminator.logits(fake)
        return F.binary_cross_entropy_with_logits(logits, logits.new_ones(logits.shape))

    def g_loss_from_probs(self, probs: Tensor) -> Tensor:
        """`g_loss` from the discriminator's sigmoid outputs (for a call with detached weights)."""
        with torch.autocast(device_type=probs.device.type, enabled=False):  # CUDA autocast refuses this BCE
            p = probs.float().clamp(1e-6, 1 - 1e-6)
            return F.binary_cross_entropy(p, torch.ones_like(p))
