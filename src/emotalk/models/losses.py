"""Generator losses (mission.md §5): L1, VGG19 perceptual (reference-code.md §9), expert sync, emotion.

Plus `feature_matching_loss`, the download-free stand-in for the perceptual term (``model.perceptual.kind``
``disc_features`` or ``expert_features``): the same "compare deep features, not pixels" idea on networks the suite
trains itself, under its own name so no table calls it VGG.

torchvision cannot be installed here, so the VGG19 ``features`` stack is defined below with torchvision's layer
indices; a torchvision ``vgg19-dcbb9e9d.pth`` state_dict (or one holding only ``features.*``) loads into it. No
weights are downloaded: the user supplies the file, and a missing one raises `MissingWeightsError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from emotalk.models.blocks import tap_activations
from emotalk.models.emotion import EmotionClassifier
from emotalk.models.syncnet import SyncNet, cosine_loss, stack_lower_half

#: torchvision's configuration "E" (VGG19): conv widths, "M" = 2x2 max-pool.
VGG19_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M")
VGG19_CFG += (512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
#: Indices in ``features`` of the five max-pools (pool1–pool5): the reference's taps.
POOL_TAPS: tuple[int, ...] = (4, 9, 18, 27, 36)
VGG19_WHAT = "VGG19 weights for the perceptual loss"
VGG19_WHERE = (
    "Supply torchvision's VGG19 ImageNet weights, https://download.pytorch.org/models/vgg19-dcbb9e9d.pth "
    "(a state_dict with features.* keys), or turn the perceptual loss off."
)
# ImageNet statistics in RGB order (torchvision's), used only when imagenet_norm=True.
_IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
_IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


def vgg19_features() -> nn.Sequential:
    """torchvision's ``vgg19().features``: same layers, same indices, so ``features.N.*`` keys load as ``N.*``."""
    layers: list[nn.Module] = []
    cin = 3
    for v in VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(v, int)
            layers += [nn.Conv2d(cin, v, kernel_size=3, padding=1), nn.ReLU()]  # not in-place: taps stay intact
            cin = v
    return nn.Sequential(*layers)


def fold_clip(video: Tensor, reference_layout: bool = False) -> Tensor:
    """[B, 3, T, H, W] → [B·T, 3, H, W]; 4-D input passes through.

    ``reference_layout`` reproduces EmoGen's ``.view`` without permute (Q1), which feeds (channel, time) planes.
    """
    if video.dim() == 4:
        return video
    B, C, T, H, W = video.shape
    if reference_layout:
        return video.contiguous().view(B * T, C, H, W)  # (B*T, 3, H, W), scrambled planes as in the reference
    return video.transpose(1, 2).reshape(B * T, C, H, W)  # (B*T, 3, H, W)


class PerceptualLoss(nn.Module):
    """Sum of MSEs between VGG19 features of prediction and target at the five max-pool outputs.

    Defaults reproduce EmoGen: inputs in [0, 1] fed to VGG in the project's BGR order, no ImageNet mean/std
    (reference quirk Q7). ``channel_order="rgb"`` flips to the RGB order VGG was trained on and
    ``imagenet_norm=True`` applies its mean/std (in the order fed). The clip fold is correct by default;
    ``reference_layout=True`` keeps the reference's plane scrambling (Q1). VGG is frozen and stays in eval mode.

    Args:
        weights: path to a torchvision VGG19 state_dict (or one with only ``features.*``), or such a mapping.
    """

    def __init__(
        self,
        weights: str | Path | Mapping[str, Tensor],
        channel_order: Literal["bgr", "rgb"] = "bgr",
        imagenet_norm: bool = False,
        reference_layout: bool = False,
        taps: tuple[int, ...] = POOL_TAPS,
    ) -> None:
        super().__init__()
        if channel_order not in ("bgr", "rgb"):
            raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
        self.channel_order = channel_order
        self.imagenet_norm = imagenet_norm
        self.reference_layout = reference_layout
        self.taps = tuple(sorted(taps))
        with torch.device("meta"):  # no random init: every weight comes from the file (load is strict)
            features = vgg19_features()[: self.taps[-1] + 1]
        self.features = features.to_empty(device="cpu")
        self._load(weights)
        mean, std = _IMAGENET_MEAN_RGB, _IMAGENET_STD_RGB
        if channel_order == "bgr":  # statistics follow the channel order actually fed to VGG
            mean, std = mean[::-1], std[::-1]
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def _load(self, weights: str | Path | Mapping[str, Tensor]) -> None:
        # weights.py imports the models, so import it late
        from emotalk.models.weights import (
            CheckpointMismatchError,
            detect_checkpoint_kind,
            load_matching,
            read_state_dict,
        )

        if isinstance(weights, Mapping):
            sd, path = dict(weights), "<state_dict>"
        else:
            path = Path(weights)
            sd = read_state_dict(path, VGG19_WHAT, VGG19_WHERE)
        kind = detect_checkpoint_kind(sd)
        if kind not in ("vgg19", "unknown"):
            raise CheckpointMismatchError(path, VGG19_WHAT, VGG19_WHERE, kind, [], [], [])
        if any(k.startswith("features.") for k in sd):
            sd = {k.removeprefix("features."): v for k, v in sd.items() if k.startswith("features.")}
        n = len(self.features)
        sd = {k: v for k, v in sd.items() if k.split(".", 1)[0].isdigit() and int(k.split(".", 1)[0]) < n}
        load_matching(self.features, sd, path, VGG19_WHAT, VGG19_WHERE, expected_kind="vgg19")

    def train(self, mode: bool = True) -> PerceptualLoss:
        return super().train(False)  # frozen feature extractor: never in training mode

    def _prepare(self, x: Tensor) -> Tensor:
        x = fold_clip(x, self.reference_layout)
        if self.channel_order == "rgb":
            x = x.flip(1)  # BGR → RGB
        if self.imagenet_norm:
            x = (x - self.mean) / self.std
        return x

    def feature_maps(self, x: Tensor) -> list[Tensor]:
        """VGG activations at the taps for [B, 3, T, H, W] or [N, 3, H, W] BGR input in [0, 1]."""
        x = self._prepare(x)
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            target_feats = self.feature_maps(target)
        pred_feats = self.feature_maps(pred)
        return sum((F.mse_loss(p, t) for p, t in zip(pred_feats, target_feats, strict=True)), pred.new_zeros(()))


def feature_matching_loss(pred_feats: list[Tensor], target_feats: list[Tensor]) -> Tensor:
    """Mean over layers of the L1 feature distance, each normalised by the target features' mean magnitude.

    pix2pixHD-style feature matching. The normalisation makes every layer count alike and the term's size
    independent of the network's width or training state (VGG's raw pool features are orders of magnitude larger
    than a small discriminator's), so one weight β means roughly the same for every ``kind``.
    """
    if not pred_feats or len(pred_feats) != len(target_feats):
        raise ValueError(f"need matching non-empty feature lists, got {len(pred_feats)} and {len(target_feats)}")
    pairs = zip(pred_feats, target_feats, strict=True)
    terms = [(p - t.detach()).abs().mean() / (t.detach().abs().mean() + 1e-6) for p, t in pairs]
    return torch.stack(terms).mean()


def expert_face_features(syncnet: SyncNet, clip: Tensor, taps: tuple[int, ...] = (1, 4, 8, 11)) -> list[Tensor]:
    """Activations of the expert SyncNet's face encoder (lower halves of [B, 3, T, 96, 96]) after blocks `taps`.

    Default taps: the first conv and the 23x24, 12x12 and 6x6 stages (before the sync embedding collapses space).
    """
    return tap_activations(syncnet.face_encoder, stack_lower_half(clip), taps)  # from (B, 3*T, 48, 96)


def l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error over the whole output (the reference does not restrict it to the lower half)."""
    return F.l1_loss(pred, target)


def sync_loss(syncnet: SyncNet, generated: Tensor, mel: Tensor) -> Tensor:
    """Expert sync loss BCE(cos, 1) of generated clips [B, 3, T, 96, 96] (lower halves) against mel [B, 1, 80, 16]."""
    audio_emb, face_emb = syncnet(mel, generated)
    return cosine_loss(audio_emb, face_emb, audio_emb.new_ones(audio_emb.shape[0]))


def emotion_loss(classifier: EmotionClassifier, video: Tensor, emotion: Tensor) -> Tensor:
    """Cross-entropy of the classifier on clips [B, 3, T, H, W] against indices [B] or soft targets [B, 6].

    The reference takes argmax of its one-hot label; soft targets (blended emotions) use soft cross-entropy.
    """
    logits = classifier(video)
    if emotion.is_floating_point():
        return F.cross_entropy(logits, emotion.to(logits.dtype))
    return F.cross_entropy(logits, emotion.long())
