"""Loading published checkpoints: every reference layout, every wrapper format, and clear errors on wrong files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from emotalk.errors import EmotalkError, MissingWeightsError
from emotalk.models.emotion import EmotionClassifier
from emotalk.models.generator import Generator
from emotalk.models.weights import (
    CheckpointMismatchError,
    detect_checkpoint_kind,
    load_emogen_generator,
    load_emotion_classifier,
    load_face_encoder,
    load_generator,
    load_lipsync_expert,
    load_quality_disc,
    load_syncnet_lse,
    load_wav2lip_generator,
)

from .helpers import fake_state_dict

# reference module → (loader, kind detected, what the loaded module must be)
LOADERS: dict[str, tuple[Callable[[Path], nn.Module], str]] = {
    "wav2lip_generator": (load_wav2lip_generator, "wav2lip_generator"),
    "emogen_generator": (load_emogen_generator, "emogen_generator"),
    "wav2lip_syncnet_color": (load_lipsync_expert, "wav2lip_syncnet_color"),
    "emogen_syncnet_color": (load_lipsync_expert, "wav2lip_syncnet_color"),
    "wav2lip_disc_qual": (load_quality_disc, "wav2lip_disc_qual"),
    "emogen_emotion_disc": (load_emotion_classifier, "emogen_emotion_disc"),
    "syncnet_python_S": (load_syncnet_lse, "syncnet_python_S"),
}


def wrap(sd: dict[str, torch.Tensor], fmt: str) -> object:
    """The formats found in the wild: raw, DataParallel 'module.' keys, Wav2Lip's training checkpoint dict."""
    if fmt == "raw":
        return sd
    module_sd = {f"module.{k}": v for k, v in sd.items()}
    if fmt == "module":
        return module_sd
    return {"state_dict": module_sd, "optimizer": {"state": {}, "param_groups": []}, "global_step": 3000}


def assert_values_from(module: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    """Every parameter and buffer holds the value of the key with its own name (fake_state_dict: one value per key)."""
    own = module.state_dict()
    assert set(own) == set(sd)
    for k, v in sd.items():
        assert own[k].shape == v.shape, k
        ends = own[k].flatten()[[0, -1]] if own[k].dim() else own[k]  # constant per key: both ends suffice
        assert torch.all(ends == v.flatten()[0] if v.dim() else ends == v), k


# "module+checkpoint" = Wav2Lip's training checkpoint: {"state_dict": {"module.<key>": ...}, "optimizer": ...}
@pytest.mark.parametrize("fmt", ["raw", "module+checkpoint"])
@pytest.mark.parametrize("name", list(LOADERS))
def test_loads_every_reference_layout(tmp_path, layouts, name, fmt):
    loader, kind = LOADERS[name]
    sd = fake_state_dict(layouts[name])
    path = tmp_path / f"{name}.pth"
    torch.save(wrap(sd, "checkpoint" if fmt != "raw" else "raw"), path)
    assert path.stat().st_size < 200_000  # stride-0 tensors: the test stays fast
    assert detect_checkpoint_kind(torch.load(path, weights_only=True)) == kind
    module = loader(path)
    assert not module.training
    assert_values_from(module, sd)


@pytest.mark.parametrize("fmt", ["raw", "module", "checkpoint"])
def test_wrapper_formats(tmp_path, layouts, fmt):
    sd = fake_state_dict(layouts["wav2lip_disc_qual"])
    path = tmp_path / "visual_quality_disc.pth"
    torch.save(wrap(sd, fmt), path)
    assert_values_from(load_quality_disc(path), sd)


def test_generic_generator_loader_detects_the_kind(tmp_path, layouts):
    for name, emotion in [("wav2lip_generator", False), ("emogen_generator", True)]:
        path = tmp_path / f"{name}.pth"
        torch.save(wrap(fake_state_dict(layouts[name]), "checkpoint"), path)
        gen = load_generator(path)
        assert gen.use_emotion is emotion and gen.fusion == "seq"
    with torch.device("meta"):
        end_layout = {k: list(v.shape) for k, v in Generator(fusion="end").state_dict().items()}
    end = fake_state_dict(end_layout)
    path = tmp_path / "end.pth"
    torch.save(end, path)
    loaded = load_generator(path)
    assert loaded.use_emotion and loaded.fusion == "end"
    assert_values_from(loaded, end)


def test_published_emotion_classifier_uses_reference_layout(tmp_path, layouts):
    path = tmp_path / "disc_emo_52000.pth"
    sd = fake_state_dict(layouts["emogen_emotion_disc"], scale=1e-5)
    torch.save(sd, path)
    loaded = load_emotion_classifier(path)
    assert loaded.reference_layout is True
    # the loaded module (built without random init) computes what a normally built one with these weights does
    built = EmotionClassifier(reference_layout=True).eval()
    built.load_state_dict(sd)
    video = torch.rand(1, 3, 2, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded(video), built(video))
    assert isinstance(load_emotion_classifier(path, reference_layout=False), EmotionClassifier)
    assert load_emotion_classifier(path, reference_layout=False).reference_layout is False


def test_old_files_without_num_batches_tracked_load(tmp_path, layouts):
    sd = {k: v for k, v in fake_state_dict(layouts["syncnet_python_S"]).items() if "num_batches_tracked" not in k}
    path = tmp_path / "syncnet_v2.model"
    torch.save(sd, path)
    net = load_syncnet_lse(path)
    assert torch.equal(net.netcnnaud[0].bias, sd["netcnnaud.0.bias"].contiguous())


# ------------------------------------------------------------------------------------------------ errors


def test_missing_files_name_the_file_and_the_source(tmp_path):
    cases = [
        (load_wav2lip_generator, "wav2lip.pth"),
        (load_emogen_generator, "issues #15"),
        (load_lipsync_expert, "lipsync_expert.pth"),
        (load_quality_disc, "visual_quality_disc.pth"),
        (load_emotion_classifier, "issue #25"),
        (load_syncnet_lse, "download_model.sh"),
    ]
    for loader, hint in cases:
        path = tmp_path / "nowhere" / "file.pth"
        with pytest.raises(MissingWeightsError) as err:
            loader(path)
        assert str(path) in str(err.value) and hint in str(err.value), loader.__name__
    with pytest.raises(MissingWeightsError, match=r"syncnet_v2\.model"):
        load_syncnet_lse(tmp_path / "syncnet_v2.model")


def s3fd_like() -> dict[str, torch.Tensor]:
    keys = ["conv1_1.weight", "conv1_1.bias", "conv3_3_norm.weight", "fc7.weight", "conv4_3_norm_mbox_conf.weight"]
    return {k: torch.zeros(2) for k in keys}


def test_s3fd_as_generator_says_so(tmp_path):
    """EmoGen issues #2/#7/#15: users passed the face detector's s3fd.pth as the generator checkpoint."""
    path = tmp_path / "s3fd.pth"
    torch.save(s3fd_like(), path)
    for loader in (load_generator, load_emogen_generator, load_wav2lip_generator):
        with pytest.raises(CheckpointMismatchError, match="S3FD face detector") as err:
            loader(path)
        assert str(path) in str(err.value)
        assert isinstance(err.value, EmotalkError)


def test_expert_as_generator_lists_keys(tmp_path, layouts):
    path = tmp_path / "lipsync_expert.pth"
    torch.save(wrap(fake_state_dict(layouts["wav2lip_syncnet_color"]), "checkpoint"), path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_wav2lip_generator(path)
    msg = str(err.value)
    assert "looks like the Wav2Lip lip-sync expert (lipsync_expert.pth)" in msg
    assert "missing keys (face_encoder_blocks.0.0.conv_block.0.weight" in msg
    assert "unexpected keys (face_encoder.0.conv_block.0.weight" in msg
    assert err.value.kind == "wav2lip_syncnet_color"
    with pytest.raises(CheckpointMismatchError, match="lip-sync expert"):
        load_generator(path)


def test_emogen_file_into_wav2lip_model(tmp_path, layouts):
    path = tmp_path / "emogen.pth"
    torch.save(fake_state_dict(layouts["emogen_generator"]), path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_wav2lip_generator(path)
    msg = str(err.value)
    assert "looks like the EmoGen generator" in msg
    assert "unexpected keys (emotion_encoder.0.weight" in msg
    assert "face_decoder_blocks.0.0.conv_block.0.weight file [512, 1024, 1, 1] vs model [512, 512, 1, 1]" in msg


def test_unreadable_and_non_state_dict_files(tmp_path):
    text = tmp_path / "wav2lip.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(MissingWeightsError, match="could not be read as a PyTorch weights file"):
        load_wav2lip_generator(text)
    opt_only = tmp_path / "opt.pth"
    torch.save({"optimizer": {"state": {}}, "global_step": 1}, opt_only)
    with pytest.raises(MissingWeightsError, match="not a state_dict") as err:
        load_wav2lip_generator(opt_only)
    assert "optimizer" in str(err.value)


def test_detect_checkpoint_kind_signatures(layouts):
    assert detect_checkpoint_kind(s3fd_like()) == "s3fd"
    assert detect_checkpoint_kind({"features.0.weight": 0, "classifier.0.weight": 0}) == "vgg19"
    assert detect_checkpoint_kind({"Conv2d_1a_3x3.conv.weight": 0}) == "inception"
    assert detect_checkpoint_kind({"foo": 0}) == "unknown"
    assert detect_checkpoint_kind({"state_dict": {}, "pytorch-lightning_version": "2.6"}) == "lightning"
    assert detect_checkpoint_kind({f"module.{k}": 0 for k in layouts["emogen_generator"]}) == "emogen_generator"


# ------------------------------------------------------------------------------------------------ PRE and Lightning


def test_load_face_encoder_for_pre(tmp_path, layouts):
    base = fake_state_dict(layouts["wav2lip_generator"])
    path = tmp_path / "wav2lip.pth"
    torch.save(wrap(base, "checkpoint"), path)
    gen = Generator(emotion=True)
    decoder_before = gen.face_decoder_blocks[0][0].conv_block[0].weight.clone()
    load_face_encoder(gen, path, freeze=True)
    enc = gen.face_encoder_blocks.state_dict()
    for k, v in enc.items():
        assert torch.equal(v, base[f"face_encoder_blocks.{k}"].expand_as(v)), k
    assert torch.equal(gen.face_decoder_blocks[0][0].conv_block[0].weight, decoder_before)
    assert not any(p.requires_grad for p in gen.face_encoder_blocks.parameters())


def test_lightning_checkpoint_needs_or_finds_a_prefix(tmp_path):
    gen, disc = Generator(width=0.25), EmotionClassifier(width=0.25)
    sd = {f"generator.{k}": v for k, v in gen.state_dict().items()}
    sd |= {f"emotion_classifier.{k}": v for k, v in disc.state_dict().items()}
    sd |= {
        f"quality.{k}": torch.zeros(1) for k in ("face_encoder_blocks.0.0.conv_block.0.weight", "binary_pred.0.weight")
    }
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": sd, "pytorch-lightning_version": "2.6.6", "epoch": 1}, path)
    with pytest.raises(CheckpointMismatchError, match=r"generator\.") as err:
        load_generator(path)
    assert "Lightning" in str(err.value)
    # the face encoder prefix is found without help (the quality disc's face_encoder_blocks has no audio encoder)
    target = Generator(width=0.25)
    load_face_encoder(target, path)
    torch.testing.assert_close(target.face_encoder_blocks.state_dict(), gen.face_encoder_blocks.state_dict())
    with pytest.raises(CheckpointMismatchError):  # width-0.25 weights do not fit the paper-size generator
        load_generator(path, prefix="generator.")
