"""Plain PyTorch networks (no Lightning): generator, SyncNet expert, emotion classifier, discriminator, VGG loss.

Shapes follow the reference: clips are [B, 3, T, H, W] BGR in [0, 1], mel windows [B, 1, 80, 16]. See
docs/models/README.md for each model's parameters and the reference quirks kept or fixed.
"""

from emotalk.models.discriminator import AdversarialLoss, QualityDiscriminator
from emotalk.models.emotion import EmotionClassifier
from emotalk.models.generator import Generator
from emotalk.models.losses import PerceptualLoss, emotion_loss, l1_loss, sync_loss
from emotalk.models.syncnet import SyncNet, cosine_loss
from emotalk.models.syncnet_lse import SyncNetLSE
from emotalk.models.weights import CheckpointMismatchError, detect_checkpoint_kind

__all__ = [
    "AdversarialLoss",
    "CheckpointMismatchError",
    "EmotionClassifier",
    "Generator",
    "PerceptualLoss",
    "QualityDiscriminator",
    "SyncNet",
    "SyncNetLSE",
    "cosine_loss",
    "detect_checkpoint_kind",
    "emotion_loss",
    "l1_loss",
    "sync_loss",
]
