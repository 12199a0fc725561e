"""Generator: reference layouts, shapes for any B and T, 4-D/5-D agreement, emotion inputs, fusion modes, noise."""

from __future__ import annotations

import pytest
import torch

from emotalk.models.blocks import param_count
from emotalk.models.generator import Generator, emotion_to_vector

from .helpers import PARAM_COUNTS, calibrate_bn, generator_inputs, shapes

W = 0.25  # a small model for behaviour tests; the layout tests use width 1


@pytest.fixture(scope="module")
def small() -> Generator:
    torch.manual_seed(0)
    audio, face = generator_inputs(4, 3, seed=9)
    return calibrate_bn(Generator(width=W), audio, face, torch.tensor([0, 2, 3, 5]))


@pytest.mark.parametrize(("emotion", "name"), [(True, "emogen_generator"), (False, "wav2lip_generator")])
def test_reference_layout_and_param_count(layouts, emotion, name):
    gen = Generator(emotion=emotion)
    assert shapes(gen) == layouts[name]
    assert list(gen.state_dict()) == list(layouts[name])  # same key order as the reference
    assert param_count(gen) == PARAM_COUNTS[name]


@pytest.mark.parametrize(("B", "T"), [(1, 1), (2, 3), (1, 5), (2, 7)])
def test_clip_shapes_any_T(small, B, T):
    audio, face = generator_inputs(B, T)
    with torch.no_grad():
        out = small(audio, face, torch.arange(B) % 6)
    assert out.shape == (B, 3, T, 96, 96)
    assert out.min() >= 0 and out.max() <= 1


def test_frames_and_clip_paths_agree(small):
    """Folding T into the batch is time-major: frame t of item b is row t·B + b of the 4-D call."""
    B, T = 2, 3
    audio, face = generator_inputs(B, T)
    emotion = torch.rand(B, T, 6)
    with torch.no_grad():
        clip = small(audio, face, emotion)
        frames = small(
            audio.transpose(0, 1).reshape(T * B, 1, 80, 16),
            face.permute(2, 0, 1, 3, 4).reshape(T * B, 6, 96, 96),
            emotion.transpose(0, 1).reshape(T * B, 6),
        )
    assert frames.shape == (T * B, 3, 96, 96)
    torch.testing.assert_close(frames.view(T, B, 3, 96, 96).permute(1, 2, 0, 3, 4), clip)
    # and a single frame alone gives the same image (frames are independent in eval mode)
    with torch.no_grad():
        one = small(audio[1, 2:3], face[1:2, :, 2], emotion[1:2, 2])
    torch.testing.assert_close(one[0], clip[1, :, 2], atol=1e-5, rtol=1e-4)


def test_emotion_broadcast_to_any_T(small):
    B, T = 2, 7  # the reference hard-codes 5
    audio, face = generator_inputs(B, T)
    idx = torch.tensor([1, 4])
    onehot = torch.nn.functional.one_hot(idx, 6).float()
    with torch.no_grad():
        a = small(audio, face, idx)
        b = small(audio, face, onehot)
        c = small(audio, face, onehot.unsqueeze(1).repeat(1, T, 1))
        d = small(audio, face, onehot[:1])  # batch of 1 broadcasts
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    assert not torch.allclose(a, d)
    torch.testing.assert_close(d[0], a[0])


def test_per_frame_emotion_changes_only_its_frame(small):
    B, T = 1, 4
    audio, face = generator_inputs(B, T)
    timeline = torch.zeros(B, T, 6)
    timeline[..., 4] = 1.0  # neutral
    changed = timeline.clone()
    changed[0, 2] = torch.tensor([0.0, 0, 0, 1, 0, 0])  # happy at frame 2 only
    with torch.no_grad():
        a, b = small(audio, face, timeline), small(audio, face, changed)
    diff = (a - b).abs().amax(dim=(0, 1, 3, 4))  # per frame
    assert diff[2] > 1e-3
    assert torch.all(diff[[0, 1, 3]] == 0)


@pytest.mark.parametrize("fusion", ["seq", "end"])
def test_emotion_changes_output(fusion):
    # Wiring only: an untrained generator already passes this. Whether training makes the face *follow* the
    # emotion is tests/lit/test_learning.py (requested-emotion accuracy against the untrained model's).
    torch.manual_seed(1)
    audio, face = generator_inputs(4, 2)
    gen = calibrate_bn(Generator(width=W, fusion=fusion), audio, face, torch.tensor([0, 1, 2, 3]))
    audio, face = audio[:1], face[:1]
    with torch.no_grad():
        outs = [gen(audio, face, torch.tensor([k])) for k in range(6)]
    for k in range(1, 6):
        assert (outs[k] - outs[0]).abs().max() > 1e-3, f"emotion {k} gives the same face as emotion 0 ({fusion})"


def test_end_fusion_layout():
    gen = Generator(fusion="end")
    sd = gen.state_dict()
    assert sd["output_block.0.conv_block.0.weight"].shape == (32, 81, 3, 3)  # 80 decoder channels + 1 emotion map
    assert sd["face_decoder_blocks.0.0.conv_block.0.weight"].shape == (512, 512, 1, 1)  # audio only at the bottleneck
    assert sd["emotion_map.weight"].shape == (96 * 96, 512)


def test_no_emotion_model_ignores_emotion():
    gen = Generator(emotion=False, width=W).eval()
    audio, face = generator_inputs(1, 2)
    with torch.no_grad():
        a = gen(audio, face)
        b = gen(audio, face, torch.tensor([3]))
    torch.testing.assert_close(a, b)
    with pytest.raises(RuntimeError, match="emotion=False"):
        gen.embed_emotion(torch.tensor([0]))


def test_bad_emotion_inputs(small):
    audio, face = generator_inputs(2, 3)
    with pytest.raises(ValueError, match="out of range"):
        small(audio, face, torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="needs an emotion"):
        small(audio, face)
    with pytest.raises(ValueError, match="per-frame emotion"):
        small(audio, face, torch.rand(2, 5, 6))
    with pytest.raises(ValueError, match="must end in 6"):
        emotion_to_vector(torch.rand(2, 7))
    with pytest.raises(ValueError, match="audio must be"):
        small(audio[:, :2], face, torch.tensor([0, 1]))


def test_embed_emotion(small):
    emb = small.embed_emotion(torch.arange(6))
    assert emb.shape == (6, 128)
    torch.testing.assert_close(emb, small.embed_emotion(torch.eye(6)))
    assert torch.cdist(emb, emb).triu(1).gt(0).sum() == 15  # six distinct embeddings


def test_noise_lstm():
    torch.manual_seed(2)
    gen = Generator(width=W, noise="lstm", noise_dim=16)
    assert gen.face_decoder_blocks[1][0].conv_block[0].in_channels == 128 + 128 + 16
    audio, face = generator_inputs(4, 3)
    calibrate_bn(gen, audio, face, torch.tensor([0, 1, 2, 3]))
    audio, face = audio[:1], face[:1]
    z = torch.randn(1, 3, 16)
    with torch.no_grad():
        a = gen(audio, face, torch.tensor([0]), noise=z)
        b = gen(audio, face, torch.tensor([0]), noise=z)
        c = gen(audio, face, torch.tensor([0]), noise=torch.randn(1, 3, 16))
        # B = 1: the 4-D path reads the N frames as one sequence, like the clip's T frames
        d = gen(audio[0], face[0].transpose(0, 1), torch.tensor([0]), noise=z[0])
    torch.testing.assert_close(a, b)
    assert (a - c).abs().max() > 1e-3
    torch.testing.assert_close(d, a[0].transpose(0, 1), atol=1e-5, rtol=1e-4)
    # the LSTM carries state over time: changing the noise of frame 0 changes frame 2
    z2 = z.clone()
    z2[0, 0] += 3
    with torch.no_grad():
        e = gen(audio, face, torch.tensor([0]), noise=z2)
    assert (e[:, :, 2] - a[:, :, 2]).abs().max() > 0
    with torch.no_grad():
        assert gen(audio, face, torch.tensor([0])).shape == (1, 3, 3, 96, 96)  # noise drawn when not given


def test_width_scales_every_channel():
    gen = Generator(width=0.01)
    convs = [m for m in gen.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
    for conv in convs:
        assert conv.out_channels >= 8 or conv.out_channels == 3  # the RGB output
        assert conv.in_channels >= 8 or conv.in_channels in (1, 6)  # mel input, face input
    assert param_count(Generator(width=0.25)) < param_count(Generator()) / 10


def test_freeze_face_encoder(small):
    gen = Generator(width=W)
    gen.freeze_face_encoder()
    gen.train()
    assert not any(p.requires_grad for p in gen.face_encoder_blocks.parameters())
    assert all(p.requires_grad for p in gen.audio_encoder.parameters())
    assert not any(m.training for m in gen.face_encoder_blocks.modules())
    assert gen.audio_encoder.training
    before = gen.face_encoder_blocks[0][0].conv_block[1].running_mean.clone()
    audio, face = generator_inputs(2, 2)
    gen(audio, face, torch.tensor([0, 1])).mean().backward()
    torch.testing.assert_close(gen.face_encoder_blocks[0][0].conv_block[1].running_mean, before)
    assert gen.face_encoder_blocks[0][0].conv_block[0].weight.grad is None
    gen.freeze_face_encoder(False)
    gen.train()
    assert all(p.requires_grad for p in gen.face_encoder_blocks.parameters()) and gen.face_encoder_blocks.training
