"""The FID Inception-v3 network (TensorFlow's 2015-12-05 graph as ported by pytorch-fid), defined here.

FID numbers are only comparable when every paper uses the same network: TensorFlow's original Inception, whose
PyTorch port is pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``. That port differs from torchvision's
Inception-v3 in four ways, all kept here:

* 1008 output classes (the fc layer is in the file but unused: FID takes the 2048-d average-pool features);
* the average pools inside the A, C and first E blocks ignore the zero padding (TensorFlow's ``count_include_pad``
  is False);
* the last E block (``Mixed_7c``) pools its pool branch with a 3x3 **max** pool instead of an average pool;
* the batch norms use eps 0.001 (torchvision's Inception does too, unlike most torchvision nets).

Module names follow torchvision's ``Inception3`` (``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch1x1.bn.*``, …,
``fc.weight``) so the published file loads strictly. Parameters: 23,850,960 with the 1008-way fc, 21,785,568
without (tests/evaluate/test_fid.py derives the number from torchvision's documented 27,161,264).

Input handling follows pytorch-fid's ``InceptionV3``: RGB in [0, 1], bilinear resize to 299x299
(``align_corners=False``, no antialias), scaled to [-1, 1]; output [N, 2048].
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
INCEPTION_WHAT = f"FID Inception weights {INCEPTION_FILE}"
INCEPTION_WHERE = f"Download {INCEPTION_URL} (pytorch-fid's release asset) and pass its path with --inception."
N_CLASSES = 1008
FEATURE_DIM = 2048


class BasicConv2d(nn.Module):
    """Conv (no bias) → BatchNorm (eps 0.001) → ReLU."""

    def __init__(self, cin: int, cout: int, **kw: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_tf(x: Tensor) -> Tensor:
    # TensorFlow's average pool divides by the number of real (unpadded) pixels
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):
    """35x35 block (Mixed_5b/c/d): 1x1 | 1x1→5x5 | 1x1→3x3→3x3 | pool→1x1; 224 + pool_features channels."""

    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(cin, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(_avg_pool_tf(x))
        return torch.cat([a, b, c, d], 1)


class BlockB(nn.Module):
    """Grid reduction 35 → 17 (Mixed_6a): stride-2 3x3 | 1x1→3x3→stride-2 3x3 | max pool; 768 channels."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([a, b, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class BlockC(nn.Module):
    """17x17 block (Mixed_6b…e) with factorised 1x7 / 7x1 convolutions; 768 channels."""

    def __init__(self, cin: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        row, col = {"kernel_size": (1, 7), "padding": (0, 3)}, {"kernel_size": (7, 1), "padding": (3, 0)}
        self.branch1x1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, **row)
        self.branch7x7_3 = BasicConv2d(c7, 192, **col)
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, **row)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, **row)
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        for i in range(2, 6):
            c = getattr(self, f"branch7x7dbl_{i}")(c)
        d = self.branch_pool(_avg_pool_tf(x))
        return torch.cat([a, b, c, d], 1)


class BlockD(nn.Module):
    """Grid reduction 17 → 8 (Mixed_7a); 1280 channels."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = x
        for i in range(1, 5):
            b = getattr(self, f"branch7x7x3_{i}")(b)
        return torch.cat([a, b, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class BlockE(nn.Module):
    """8x8 block (Mixed_7b/c) with split 1x3 / 3x1 branches; 2048 channels.

    Args:
        max_pool: the pool branch uses a 3x3 max pool (TensorFlow's graph does this in Mixed_7c only).
    """

    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(cin, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], 1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool_tf(x)
        return torch.cat([a, b, c, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """RGB images [N, 3, H, W] in [0, 1] → 2048-d pool features [N, 2048] (a torchmetrics FID feature extractor).

    Always in eval mode (BatchNorm running statistics); ``num_features`` tells torchmetrics the feature size.
    """

    num_features = FEATURE_DIM

    def __init__(self, resize_input: bool = True) -> None:
        super().__init__()
        self.resize_input = resize_input
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = BlockA(192, pool_features=32)
        self.Mixed_5c = BlockA(256, pool_features=64)
        self.Mixed_5d = BlockA(288, pool_features=64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b = BlockC(768, channels_7x7=128)
        self.Mixed_6c = BlockC(768, channels_7x7=160)
        self.Mixed_6d = BlockC(768, channels_7x7=160)
        self.Mixed_6e = BlockC(768, channels_7x7=192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b = BlockE(1280, max_pool=False)
        self.Mixed_7c = BlockE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURE_DIM, N_CLASSES)  # in the published file; FID does not use it
        self.eval()

    def train(self, mode: bool = True) -> FIDInceptionV3:
        return super().train(False)  # FID needs the running statistics, never batch statistics

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        """RGB [N, 3, H, W] float in [0, 1] → [N, 2048]."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected RGB images [N, 3, H, W], got {tuple(x.shape)}")
        x = x.float()
        if self.resize_input:
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1  # [0, 1] → [-1, 1], what the TensorFlow graph was trained on
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # (N, 64, 73, 73)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # (N, 192, 35, 35)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)  # (N, 2048)


def load_fid_inception(path: str | Path | None) -> FIDInceptionV3:
    """``pt_inception-2015-12-05-6726825d.pth`` → `FIDInceptionV3` in eval mode.

    Raises:
        MissingWeightsError: no path, a missing file, or a file with other keys or shapes (it names the file and
            where to download it).
    """
    from emotalk.errors import MissingWeightsError
    from emotalk.models.weights import _empty, load_matching, read_state_dict

    if not path:
        raise MissingWeightsError("(none given)", INCEPTION_WHAT, INCEPTION_WHERE)
    sd = read_state_dict(path, INCEPTION_WHAT, INCEPTION_WHERE)
    net = _empty(FIDInceptionV3)
    load_matching(net, sd, path, INCEPTION_WHAT, INCEPTION_WHERE, "inception")
    return net.eval()
