"""Loading the generator for inference: ours and published files, the mask mode, and every refusal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotalk.errors import MissingWeightsError
from emotalk.infer.model import SpecMismatchError, load_generator, spec_differences
from emotalk.models.generator import Generator
from emotalk.models.syncnet import SyncNet
from emotalk.spec import AVSpec
from generator_ckpt import save_ours


def test_ours_loads_with_its_mask(tiny_ckpt, tmp_path):
    g = load_generator(tiny_ckpt)
    assert g.source == "emotalk" and g.mask_mode == "full" and g.uses_emotion and g.config["width"] == 0.125
    assert not g.net.training and g.device.type == "cpu"
    lower = save_ours(Generator(width=0.125), tmp_path / "lower.ckpt", mask_mode="lower_half")
    assert load_generator(lower).mask_mode == "lower_half"
    legacy = save_ours(Generator(width=0.125), tmp_path / "legacy.ckpt")  # no record: full
    assert load_generator(legacy).mask_mode == "full"
    ck = torch.load(legacy, weights_only=True)
    ck["datamodule_hyper_parameters"] = {"mask_mode": "lower_half"}  # older checkpoints: the datamodule's
    torch.save(ck, tmp_path / "dm.ckpt")
    assert load_generator(tmp_path / "dm.ckpt").mask_mode == "lower_half"


def test_mask_reaches_the_network(tiny_ckpt):
    g = load_generator(tiny_ckpt)
    seen = {}

    def spy(audio, face, emotion):
        seen["face"], seen["emotion"], seen["audio"] = face, emotion, audio
        return torch.zeros(face.shape[0], 3, 96, 96)

    g.net.forward = spy  # type: ignore[method-assign]
    crops = np.full((2, 96, 96, 3), 255, np.uint8)
    emo = np.eye(6, dtype=np.float32)[[3, 5]]
    out = g(crops, np.zeros((2, 80, 16), np.float32), emo)
    assert out.shape == (2, 96, 96, 3) and out.dtype == np.uint8
    face = seen["face"]
    assert face.shape == (2, 6, 96, 96) and float(face[:, :3].abs().max()) == 0.0  # full mask
    assert float(face[:, 3:].min()) == 1.0  # reference = the crop
    np.testing.assert_array_equal(seen["emotion"].numpy(), emo)
    g.mask_mode = "lower_half"
    g(crops, np.zeros((2, 80, 16), np.float32), emo)
    face = seen["face"]
    assert float(face[:, :3, :48].min()) == 1.0 and float(face[:, :3, 48:].max()) == 0.0


def test_published_emogen_generator_loads_full_size(tmp_path):
    """A raw state_dict of the paper-size EmoGen generator (as in EmoGen's released file): mask full."""
    path = tmp_path / "emogen.pth"
    torch.save(Generator(width=1.0).state_dict(), path)
    g = load_generator(path)
    assert g.source == "emogen" and g.mask_mode == "full" and g.config["width"] == 1.0
    wav2lip = tmp_path / "wav2lip.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in Generator(emotion=False, width=1.0).state_dict().items()}},
               wav2lip)  # fmt: skip
    w = load_generator(wav2lip)
    assert w.source == "wav2lip" and w.mask_mode == "lower_half" and not w.uses_emotion
    out = w(np.zeros((1, 96, 96, 3), np.uint8), np.zeros((1, 80, 16), np.float32), np.eye(6, dtype=np.float32)[:1])
    assert out.shape == (1, 96, 96, 3)


def test_wrong_checkpoints_are_refused(tmp_path):
    sync = tmp_path / "lipsync_expert.pth"
    torch.save({"state_dict": SyncNet(width=0.25).state_dict()}, sync)
    with pytest.raises(MissingWeightsError, match="lip-sync expert"):
        load_generator(sync)
    stage = tmp_path / "syncnet.ckpt"
    torch.save({"state_dict": {"net.x": torch.zeros(1)}, "emotalk": {"stage": "syncnet", "spec": {}, "net": {}}}, stage)
    with pytest.raises(MissingWeightsError, match="emotalk syncnet checkpoint, not a generator"):
        load_generator(stage)
    junk = tmp_path / "junk.ckpt"
    junk.write_text("not a checkpoint")
    with pytest.raises(MissingWeightsError, match=r"junk\.ckpt"):
        load_generator(junk)
    with pytest.raises(MissingWeightsError, match="not found"):
        load_generator(tmp_path / "missing.ckpt")


def test_spec_mismatch_names_the_fields(tmp_path):
    other = AVSpec(fps=30.0, n_mels=64)
    path = save_ours(Generator(width=0.125), tmp_path / "other.ckpt", spec=other)
    with pytest.raises(SpecMismatchError, match=r"fps: checkpoint 30.0 vs ours 25.0.*n_mels: checkpoint 64 vs ours 80"):
        load_generator(path)
    assert spec_differences(AVSpec().to_dict()) == []
    assert spec_differences({**AVSpec().to_dict(), "face_pads": [0.05, 0.1, 0.05, 0.05]}) == []  # list vs tuple
    assert spec_differences({"hop_length": 200, "new_field": 1}) == ["new_field: checkpoint 1 vs ours '<absent>'"]
