"""Loading published checkpoints into our modules (mission.md §8).

Handles the formats in the wild: a raw state_dict or ``{"state_dict": ..., "optimizer": ..., "global_step": ...}``
(reference quirk Q8), keys prefixed ``module.`` by DataParallel, BatchNorm ``num_batches_tracked`` buffers absent
from old files. Every failure is a `MissingWeightsError` that names the file, says which model the file looks like
(users pass ``s3fd.pth`` or an expert checkpoint as the generator: EmoGen issues #2, #7, #15), lists missing,
unexpected and mis-shaped keys, and says where the right file comes from.

>>> detect_checkpoint_kind({"netcnnaud.0.weight": torch.zeros(1)})
'syncnet_python_S'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from emotalk.errors import MissingWeightsError
from emotalk.models.discriminator import QualityDiscriminator
from emotalk.models.emotion import EmotionClassifier
from emotalk.models.generator import Generator
from emotalk.models.syncnet import SyncNet
from emotalk.models.syncnet_lse import SYNCNET_V2_WHAT, SYNCNET_V2_WHERE, SyncNetLSE

M = TypeVar("M", bound=nn.Module)

#: What each detected kind is, in words a user recognises (file names of the published weights).
KIND_NAMES: dict[str, str] = {
    "wav2lip_generator": "the Wav2Lip generator (wav2lip.pth / wav2lip_gan.pth)",
    "emogen_generator": "the EmoGen generator (SEQ fusion, EmoGen's released checkpoint)",
    "generator_end": "an emotalk generator with END fusion",
    "wav2lip_syncnet_color": "the Wav2Lip lip-sync expert (lipsync_expert.pth)",
    "wav2lip_disc_qual": "the Wav2Lip visual-quality discriminator (visual_quality_disc.pth)",
    "emogen_emotion_disc": "the EmoGen emotion classifier (DISCEMO, disc_emo_*.pth)",
    "syncnet_python_S": "syncnet_python's SyncNet for LSE metrics (syncnet_v2.model)",
    "s3fd": "the S3FD face detector (s3fd.pth), not a talking-face model",
    "vgg19": "torchvision's VGG19 ImageNet weights (vgg19-dcbb9e9d.pth)",
    "inception": "Inception-v3 weights (the FID feature extractor)",
    "lightning": "a Lightning training checkpoint holding several modules (pass the module's key prefix)",
    "unknown": "no model we know",
}

WAV2LIP_GENERATOR_WHAT = "Wav2Lip generator checkpoint"
WAV2LIP_GENERATOR_WHERE = "Use Wav2Lip's wav2lip.pth or wav2lip_gan.pth (links in the Rudrabha/Wav2Lip README)."
EMOGEN_GENERATOR_WHAT = "EmoGen generator checkpoint"
EMOGEN_GENERATOR_WHERE = (
    "Use an EmoGen generator checkpoint (the PL+DA or PRE files shared in sahilg06/EmoGen issues #15 and #18), "
    "or train one with experiment=pl_da."
)
EXPERT_WHAT = "lip-sync expert checkpoint"
EXPERT_WHERE = "Use Wav2Lip's lipsync_expert.pth (Rudrabha/Wav2Lip README), or train one with experiment=syncnet."
QUALITY_DISC_WHAT = "visual-quality discriminator checkpoint"
QUALITY_DISC_WHERE = "Use Wav2Lip's visual_quality_disc.pth (Rudrabha/Wav2Lip README)."
EMOTION_WHAT = "emotion classifier checkpoint"
EMOTION_WHERE = (
    "EmoGen never released its classifier (sahilg06/EmoGen issue #25): pass a disc_emo_*.pth trained with EmoGen's "
    "emotion_disc_train.py, or train ours with experiment=emotion_classifier."
)


class CheckpointMismatchError(MissingWeightsError):
    """A weights file that exists but does not fit the model: wrong kind, wrong keys or wrong shapes."""

    def __init__(
        self,
        path: object,
        what: str,
        where: str,
        kind: str,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    ) -> None:
        def some(items: list[str]) -> str:
            return ", ".join(items[:5]) + (", …" if len(items) > 5 else "")

        parts = [f"The file looks like {KIND_NAMES.get(kind, kind)}."]
        if missing:
            parts.append(f"{len(missing)} missing keys ({some(missing)}).")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({some(unexpected)}).")
        if mismatched:
            shown = [f"{k} file {list(a)} vs model {list(b)}" for k, a, b in mismatched]
            parts.append(f"{len(mismatched)} keys with other shapes ({some(shown)}).")
        super().__init__(path, what, " ".join([*parts, where]))
        self.kind, self.missing, self.unexpected, self.mismatched = kind, missing, unexpected, mismatched


# ---------------------------------------------------------------------------------------------------- reading files


def read_checkpoint(path: str | Path, what: str, where: str) -> Any:
    """``torch.load`` on CPU with ``weights_only=True`` (tensors and plain containers, no arbitrary code)."""
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(path, what, where)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, not a torch file, or a pickled object beyond tensors
        msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise MissingWeightsError(path, what, f"It could not be read as a PyTorch weights file ({msg}). {where}") from e


def extract_state_dict(
    obj: Any, path: object = "<state_dict>", what: str = "checkpoint", where: str = ""
) -> dict[str, Tensor]:
    """Raw state_dict or {"state_dict": ...} → a plain {key: tensor} dict with ``module.`` prefixes removed."""
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        found = f"a {type(obj).__name__}"
        if isinstance(obj, Mapping):
            found += f" with keys {', '.join(map(str, list(obj)[:6]))}"
        raise MissingWeightsError(path, what, f"It holds {found}, not a state_dict or {{'state_dict': ...}}. {where}")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def read_state_dict(path: str | Path, what: str, where: str, prefix: str | None = None) -> dict[str, Tensor]:
    """Read a weights file into a plain state_dict; with `prefix`, keep only those keys (prefix stripped)."""
    obj = read_checkpoint(path, what, where)
    sd = extract_state_dict(obj, path, what, where)
    if prefix:
        sd = {k.removeprefix(prefix): v for k, v in sd.items() if k.startswith(prefix)}
        if not sd:
            raise MissingWeightsError(path, what, f"It has no keys starting with {prefix!r}. {where}")
    elif isinstance(obj, Mapping) and "pytorch-lightning_version" in obj:
        roots = sorted({k.split(".", 1)[0] + "." for k in sd})
        raise CheckpointMismatchError(path, what, f"Pass prefix= one of {roots}. {where}", "lightning", [], [], [])
    return sd


# ---------------------------------------------------------------------------------------------------- kinds


def detect_checkpoint_kind(obj: Mapping[str, Any]) -> str:
    """Which published model a state_dict (or {'state_dict': ...} checkpoint) belongs to, by its key signature.

    Returns one of `KIND_NAMES`' keys ("wav2lip_generator", "emogen_generator", "wav2lip_syncnet_color", …,
    "s3fd", "vgg19", "unknown").
    """
    if "pytorch-lightning_version" in obj:
        return "lightning"
    sd = obj["state_dict"] if isinstance(obj.get("state_dict"), Mapping) else obj
    keys = {str(k).removeprefix("module.") for k in sd}

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    if has("netcnnaud.") or has("netcnnlip."):
        return "syncnet_python_S"
    if "conv1_1.weight" in keys and (has("conv3_3_norm") or "fc7.weight" in keys):
        return "s3fd"
    if has("Conv2d_1a_3x3.") or has("Mixed_5b."):
        return "inception"
    if "features.0.weight" in keys and ("features.34.weight" in keys or has("classifier.")):
        return "vgg19"
    if {"0.weight", "28.weight", "34.weight"} <= keys:  # a saved vgg.features state_dict
        return "vgg19"
    if "conv_1.0.weight" in keys and has("rnn_1."):
        return "emogen_emotion_disc"
    if has("binary_pred."):
        return "wav2lip_disc_qual"
    if has("face_encoder.") and has("audio_encoder."):
        return "wav2lip_syncnet_color"
    if has("face_encoder_blocks.") and has("audio_encoder.") and has("face_decoder_blocks."):
        if "emotion_map.weight" in keys:
            return "generator_end"
        if has("emotion_encoder."):
            return "emogen_generator"
        return "wav2lip_generator"
    return "unknown"


# ---------------------------------------------------------------------------------------------------- loading


def load_matching(
    module: nn.Module,
    state_dict: Mapping[str, Tensor],
    path: object,
    what: str,
    where: str,
    expected_kind: str | None = None,
) -> nn.Module:
    """Strictly load `state_dict` into `module`, or raise `CheckpointMismatchError` listing every difference.

    A missing ``num_batches_tracked`` buffer (files saved before PyTorch 0.4.1) is set to 0.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [
        (k, tuple(state_dict[k].shape), tuple(own[k].shape))
        for k in own
        if k in state_dict and state_dict[k].shape != own[k].shape
    ]
    if missing or unexpected or mismatched:
        kind = detect_checkpoint_kind(state_dict)
        if kind == "unknown" and expected_kind is not None and set(state_dict) and set(state_dict) <= set(own):
            kind = expected_kind  # right model, incomplete or differently sized file
        raise CheckpointMismatchError(path, what, where, kind, missing, unexpected, mismatched)
    defaults = {k: torch.zeros((), dtype=torch.long) for k in own if k.endswith("num_batches_tracked")}
    module.load_state_dict({**defaults, **state_dict}, strict=True)
    return module


def _empty(factory: Callable[[], M]) -> M:
    """Build a module without its random initialisation (about half a second for the generator): every tensor is
    overwritten by the checkpoint right after, and `load_matching` refuses a file that does not cover them all."""
    with torch.device("meta"):
        module = factory()
    return module.to_empty(device="cpu")


def load_weights(
    module: nn.Module,
    path: str | Path,
    what: str,
    where: str,
    prefix: str | None = None,
    expected_kind: str | None = None,
) -> nn.Module:
    """Load a weights file into an existing module (any format `extract_state_dict` accepts)."""
    sd = read_state_dict(path, what, where, prefix)
    return load_matching(module, sd, path, what, where, expected_kind)


def _expect(kind: str, wanted: tuple[str, ...], sd: Mapping[str, Tensor], path: object, what: str, where: str) -> None:
    """Fail early and clearly when the file is another model altogether."""
    if kind not in wanted:
        raise CheckpointMismatchError(path, what, where, kind, [], [], [])


def load_generator(path: str | Path, prefix: str | None = None) -> Generator:
    """Any published generator (Wav2Lip or EmoGen, detected from the keys) → `Generator` in eval mode."""
    what = "generator checkpoint"
    where = f"{WAV2LIP_GENERATOR_WHERE} Or: {EMOGEN_GENERATOR_WHERE}"
    sd = read_state_dict(path, what, where, prefix)
    kind = detect_checkpoint_kind(sd)
    _expect(kind, ("wav2lip_generator", "emogen_generator", "generator_end"), sd, path, what, where)
    gen = _empty(
        lambda: Generator(emotion=kind != "wav2lip_generator", fusion="end" if kind == "generator_end" else "seq")
    )
    load_matching(gen, sd, path, what, where, kind)
    return gen.eval()


def load_wav2lip_generator(path: str | Path, prefix: str | None = None) -> Generator:
    """Wav2Lip's ``wav2lip.pth`` / ``wav2lip_gan.pth`` → `Generator(emotion=False)` in eval mode."""
    sd = read_state_dict(path, WAV2LIP_GENERATOR_WHAT, WAV2LIP_GENERATOR_WHERE, prefix)
    gen = _empty(lambda: Generator(emotion=False))
    load_matching(gen, sd, path, WAV2LIP_GENERATOR_WHAT, WAV2LIP_GENERATOR_WHERE, "wav2lip_generator")
    return gen.eval()


def load_emogen_generator(path: str | Path, prefix: str | None = None) -> Generator:
    """EmoGen's generator (raw or {'state_dict': ...}) → `Generator(emotion=True, fusion="seq")` in eval mode."""
    sd = read_state_dict(path, EMOGEN_GENERATOR_WHAT, EMOGEN_GENERATOR_WHERE, prefix)
    gen = _empty(lambda: Generator(emotion=True, fusion="seq"))
    load_matching(gen, sd, path, EMOGEN_GENERATOR_WHAT, EMOGEN_GENERATOR_WHERE, "emogen_generator")
    return gen.eval()


def load_lipsync_expert(path: str | Path, prefix: str | None = None) -> SyncNet:
    """Wav2Lip's ``lipsync_expert.pth`` (or EmoGen's, identical layout) → `SyncNet` in eval mode."""
    sd = read_state_dict(path, EXPERT_WHAT, EXPERT_WHERE, prefix)
    net = _empty(SyncNet)
    load_matching(net, sd, path, EXPERT_WHAT, EXPERT_WHERE, "wav2lip_syncnet_color")
    return net.eval()


def load_quality_disc(path: str | Path, prefix: str | None = None) -> QualityDiscriminator:
    """Wav2Lip's ``visual_quality_disc.pth`` → `QualityDiscriminator` in eval mode."""
    sd = read_state_dict(path, QUALITY_DISC_WHAT, QUALITY_DISC_WHERE, prefix)
    disc = _empty(QualityDiscriminator)
    load_matching(disc, sd, path, QUALITY_DISC_WHAT, QUALITY_DISC_WHERE, "wav2lip_disc_qual")
    return disc.eval()


def load_emotion_classifier(
    path: str | Path, reference_layout: bool = True, prefix: str | None = None
) -> EmotionClassifier:
    """EmoGen's DISCEMO state_dict → `EmotionClassifier`, in eval mode.

    Published weights were trained on the reference's scrambled ``.view`` (Q1), so they load with
    ``reference_layout=True`` and then score exactly as in EmoGen. Pass False only for weights trained with the
    correct layout.
    """
    sd = read_state_dict(path, EMOTION_WHAT, EMOTION_WHERE, prefix)
    clf = _empty(lambda: EmotionClassifier(reference_layout=reference_layout))
    load_matching(clf, sd, path, EMOTION_WHAT, EMOTION_WHERE, "emogen_emotion_disc")
    return clf.eval()


def load_syncnet_lse(path: str | Path) -> SyncNetLSE:
    """syncnet_python's ``syncnet_v2.model`` (a plain state_dict) → `SyncNetLSE` in eval mode."""
    sd = read_state_dict(path, SYNCNET_V2_WHAT, SYNCNET_V2_WHERE)
    net = _empty(SyncNetLSE)
    load_matching(net, sd, path, SYNCNET_V2_WHAT, SYNCNET_V2_WHERE, "syncnet_python_S")
    return net.eval()


def load_face_encoder(
    generator: Generator, path: str | Path, freeze: bool = False, prefix: str | None = None
) -> Generator:
    """PRE: initialise (and optionally freeze) ``face_encoder_blocks`` from any generator checkpoint.

    Works with Wav2Lip's and EmoGen's files and with ours; in a Lightning checkpoint the keys before
    ``face_encoder_blocks.`` (e.g. ``generator.``) are found automatically when only one such prefix exists.
    """
    what = "base-model checkpoint for the face encoder (PRE)"
    where = "Pass the generator checkpoint of a base run (experiment=base_lrs2 or base_lrs2_fullface) or wav2lip.pth."
    obj = read_checkpoint(path, what, where)
    sd = extract_state_dict(obj, path, what, where)
    if prefix is None:
        marker = "face_encoder_blocks."
        roots = {k.split(marker, 1)[0] for k in sd if marker in k}
        # a generator has an audio encoder beside its face encoder (the quality discriminator does not)
        roots = {r for r in roots if (r == "" or r.endswith(".")) and f"{r}audio_encoder.0.conv_block.0.weight" in sd}
        if len(roots) != 1:
            found = sorted(roots) if roots else "none"
            raise MissingWeightsError(path, what, f"Found face encoder prefixes {found}; pass prefix=. {where}")
        prefix = roots.pop()
    full = prefix + "face_encoder_blocks."
    sub = {k.removeprefix(full): v for k, v in sd.items() if k.startswith(full)}
    load_matching(generator.face_encoder_blocks, sub, path, what, where, "wav2lip_generator")
    if freeze:
        generator.freeze_face_encoder(True)
    return generator
