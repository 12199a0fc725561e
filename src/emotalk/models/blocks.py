"""Wav2Lip's convolution blocks (reference-code.md §4), named so that state_dict keys match published checkpoints.

Each block keeps its layers in ``conv_block`` (``conv_block.0`` = the convolution, ``conv_block.1`` = BatchNorm),
exactly as Wav2Lip's ``models/conv.py`` does, so ``face_encoder_blocks.1.0.conv_block.0.weight`` loads as is.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn

_Size = int | tuple[int, int]


def scaled(channels: int, width: float, minimum: int = 8) -> int:
    """Channel count scaled by the width multiplier (1.0 = paper), never below `minimum`.

    >>> scaled(512, 1.0), scaled(512, 0.25), scaled(16, 0.25)
    (512, 128, 8)
    """
    return max(minimum, round(channels * width))


class Conv2dBlock(nn.Module):
    """Conv2d → BatchNorm2d → (+ input if `residual`) → ReLU.

    The residual is added before the activation, as in the reference, so every encoder output is ≥ 0.

    >>> Conv2dBlock(3, 8, 3, 1, 1).conv_block[0].out_channels
    8
    """

    def __init__(
        self, cin: int, cout: int, kernel_size: _Size, stride: _Size, padding: _Size, residual: bool = False
    ) -> None:
        super().__init__()
        if residual and cin != cout:
            raise ValueError(f"a residual block keeps its channels, got {cin} → {cout}")
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class ConvTranspose2dBlock(nn.Module):
    """ConvTranspose2d → BatchNorm2d → ReLU (the generator's up-sampling step)."""

    def __init__(
        self, cin: int, cout: int, kernel_size: _Size, stride: _Size, padding: _Size, output_padding: _Size = 0
    ) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding), nn.BatchNorm2d(cout)
        )
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv_block(x))


class NoNormConv2dBlock(nn.Module):
    """Conv2d → LeakyReLU(0.01), no normalisation (only the visual-quality discriminator uses it)."""

    def __init__(self, cin: int, cout: int, kernel_size: _Size, stride: _Size, padding: _Size) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding))
        self.act = nn.LeakyReLU(0.01)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv_block(x))


def param_count(module: nn.Module) -> int:
    """Trainable-parameter count (BatchNorm buffers excluded), the figure golden/README.md tabulates."""
    return sum(p.numel() for p in module.parameters())


def tap_activations(blocks: Iterable[nn.Module], x: Tensor, taps: tuple[int, ...]) -> list[Tensor]:
    """Run `x` through `blocks` in order and return the outputs of the blocks at indices `taps` (feature matching);
    blocks after the last tap are not run."""
    out = []
    for i, block in enumerate(blocks):
        x = block(x)
        if i in taps:
            out.append(x)
        if i >= max(taps):
            break
    return out


def audio_encoder(width: float = 1.0, residuals_at_3x3: int = 1) -> nn.Sequential:
    """Wav2Lip's mel encoder, [B, 1, 80, 16] → [B, 512·width, 1, 1], shared by the generator and SyncNet.

    The two references differ only in the residual blocks at 3x3: one in the generator, two in SyncNet_color. The
    Sequential indices (and so the state_dict keys published checkpoints use) are the references'.
    """

    def c(n: int) -> int:
        return scaled(n, width)

    def res(ch: int) -> Conv2dBlock:
        return Conv2dBlock(ch, ch, 3, 1, 1, residual=True)

    return nn.Sequential(
        Conv2dBlock(1, c(32), 3, 1, 1),
        res(c(32)),
        res(c(32)),  # 80x16
        Conv2dBlock(c(32), c(64), 3, (3, 1), 1),
        res(c(64)),
        res(c(64)),  # 27x16
        Conv2dBlock(c(64), c(128), 3, 3, 1),
        res(c(128)),
        res(c(128)),  # 9x6
        Conv2dBlock(c(128), c(256), 3, (3, 2), 1),
        *(res(c(256)) for _ in range(residuals_at_3x3)),  # 3x3
        Conv2dBlock(c(256), c(512), 3, 1, 0),
        Conv2dBlock(c(512), c(512), 1, 1, 0),  # 1x1
    )
