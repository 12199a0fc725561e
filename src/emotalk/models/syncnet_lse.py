"""syncnet_python's model ``S`` (reference-code.md §12.1), the network behind LSE-D / LSE-C.

Audio: MFCC [B, 1, 13, 20] (0.2 s at 100 Hz) → 1024-d. Video: 5 colour frames [B, 3, 5, 224, 224], BGR, raw 0–255
floats (not normalised) → 1024-d. Weights: ``syncnet_v2.model``, a plain state_dict (``netcnnaud.*``, ``netfcaud.*``,
``netcnnlip.*``, ``netfclip.*``). Always run in eval mode (BatchNorm running statistics).
"""

from __future__ import annotations

from torch import Tensor, nn

SYNCNET_V2_WHAT = "SyncNet weights syncnet_v2.model (for LSE-D / LSE-C)"
SYNCNET_V2_WHERE = (
    "Get syncnet_v2.model with syncnet_python's download_model.sh "
    "(https://github.com/joonson/syncnet_python; the file comes from robots.ox.ac.uk) and pass its path."
)


def _conv2d(cin: int, cout: int, **kw: object) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, **kw), nn.BatchNorm2d(cout), nn.ReLU()]  # type: ignore[arg-type]


def _conv3d(cin: int, cout: int, **kw: object) -> list[nn.Module]:
    return [nn.Conv3d(cin, cout, **kw), nn.BatchNorm3d(cout), nn.ReLU()]  # type: ignore[arg-type]


def _fc(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, dim))


class SyncNetLSE(nn.Module):
    """syncnet_python ``S``: ``forward_aud(mfcc)`` and ``forward_lip(video)``, each → [B, 1024].

    Sequential indices equal the reference's (ReLUs and pools included), so ``syncnet_v2.model`` loads as is.
    """

    def __init__(self, num_layers_in_fc_layers: int = 1024) -> None:
        super().__init__()
        self.netcnnaud = nn.Sequential(
            *_conv2d(1, 64, kernel_size=3, stride=1, padding=1),
            nn.MaxPool2d(kernel_size=1, stride=1),
            *_conv2d(64, 192, kernel_size=3, stride=1, padding=1),
            nn.MaxPool2d(kernel_size=3, stride=(1, 2)),
            *_conv2d(192, 384, kernel_size=3, padding=1),
            *_conv2d(384, 256, kernel_size=3, padding=1),
            *_conv2d(256, 256, kernel_size=3, padding=1),
            nn.MaxPool2d(kernel_size=3, stride=2),
            *_conv2d(256, 512, kernel_size=(5, 4), padding=0),
        )
        self.netfcaud = _fc(num_layers_in_fc_layers)
        self.netfclip = _fc(num_layers_in_fc_layers)
        self.netcnnlip = nn.Sequential(
            *_conv3d(3, 96, kernel_size=(5, 7, 7), stride=(1, 2, 2), padding=0),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_conv3d(96, 256, kernel_size=(1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            *_conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            *_conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            *_conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_conv3d(256, 512, kernel_size=(1, 6, 6), padding=0),
        )

    def forward_aud(self, mfcc: Tensor) -> Tensor:
        """MFCC windows [B, 1, 13, 20] → [B, 1024]."""
        mid = self.netcnnaud(mfcc)  # (B, 512, 1, 1)
        return self.netfcaud(mid.flatten(1))

    def forward_lipfeat(self, video: Tensor) -> Tensor:
        """Conv features [B, 512] of 5-frame windows [B, 3, 5, 224, 224]."""
        return self.netcnnlip(video).flatten(1)  # (B, 512)

    def forward_lip(self, video: Tensor) -> Tensor:
        """5-frame BGR 0–255 windows [B, 3, 5, 224, 224] → [B, 1024]."""
        return self.netfclip(self.forward_lipfeat(video))

    def forward(self, mfcc: Tensor, video: Tensor) -> tuple[Tensor, Tensor]:
        return self.forward_aud(mfcc), self.forward_lip(video)
