"""Losses: VGG19 perceptual loss (torchvision key layout, user weights, options), sync and emotion losses."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from emotalk.errors import MissingWeightsError
from emotalk.models.blocks import param_count
from emotalk.models.emotion import EmotionClassifier
from emotalk.models.losses import POOL_TAPS, PerceptualLoss, emotion_loss, l1_loss, sync_loss, vgg19_features
from emotalk.models.syncnet import SyncNet, stack_lower_half

from .helpers import calibrate_bn

# torchvision's vgg19().features conv indices (pools at 4, 9, 18, 27, 36), written out independently of our cfg
TV_CONVS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256), 14: (256, 256)}
TV_CONVS |= {16: (256, 256), 19: (512, 256), 21: (512, 512), 23: (512, 512), 25: (512, 512), 28: (512, 512)}
TV_CONVS |= {30: (512, 512), 32: (512, 512), 34: (512, 512)}


def torchvision_like(random: bool = False, seed: int = 0) -> dict[str, torch.Tensor]:
    """A vgg19-dcbb9e9d.pth-style state_dict: features.* with the real shapes plus (tiny stand-in) classifier.*."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for i, (cout, cin) in TV_CONVS.items():
        if random:  # He-scaled so activations keep their size through 16 layers
            sd[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
            sd[f"features.{i}.bias"] = torch.zeros(cout)
        else:  # stride-0 constants: a tiny file with one distinct value per key
            sd[f"features.{i}.weight"] = torch.tensor(0.001 * (i + 1)).expand(cout, cin, 3, 3)
            sd[f"features.{i}.bias"] = torch.tensor(-0.001 * (i + 1)).expand(cout)
    for j in (0, 3, 6):  # the classifier is ignored; real shapes would be 400 MB
        sd[f"classifier.{j}.weight"] = torch.zeros(2, 2)
        sd[f"classifier.{j}.bias"] = torch.zeros(2)
    return sd


@pytest.fixture(scope="module")
def vgg_loss() -> PerceptualLoss:
    return PerceptualLoss(torchvision_like(random=True))


def test_vgg19_features_match_torchvision_keys():
    feats = vgg19_features()
    expected = {f"{i}.{p}": (list((co, ci, 3, 3)) if p == "weight" else [co]) for i, (co, ci) in TV_CONVS.items()
                for p in ("weight", "bias")}  # fmt: skip
    assert {k: list(v.shape) for k, v in feats.state_dict().items()} == expected
    assert param_count(feats) == 20_024_384  # torchvision's vgg19().features
    assert [i for i, m in enumerate(feats) if isinstance(m, torch.nn.MaxPool2d)] == list(POOL_TAPS)


@pytest.mark.parametrize("features_only", [False, True])
def test_loads_torchvision_file(tmp_path, features_only):
    sd = torchvision_like()
    if features_only:  # a saved vgg.features state_dict: no "features." prefix
        sd = {k.removeprefix("features."): v for k, v in sd.items() if k.startswith("features.")}
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(sd, path)
    loss = PerceptualLoss(path)
    assert torch.all(loss.features[21].weight == 0.022)
    assert torch.all(loss.features[34].bias == -0.035)
    assert not any(p.requires_grad for p in loss.parameters())
    loss.train()
    assert not loss.training  # frozen: stays in eval mode


def test_missing_weights_file_names_it(tmp_path):
    path = tmp_path / "weights" / "vgg19-dcbb9e9d.pth"
    with pytest.raises(MissingWeightsError) as err:
        PerceptualLoss(path)
    assert str(path) in str(err.value)
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in str(err.value)


def test_wrong_weights_file(tmp_path):
    path = tmp_path / "lipsync_expert.pth"
    keys = [f"module.{part}.{i}.conv_block.0.weight" for part in ("face_encoder", "audio_encoder") for i in range(3)]
    torch.save({"state_dict": dict.fromkeys(keys, torch.zeros(1)), "global_step": 10}, path)
    with pytest.raises(MissingWeightsError, match="lip-sync expert") as err:
        PerceptualLoss(path)
    assert str(path) in str(err.value)


def test_zero_for_identical_positive_otherwise(vgg_loss):
    a = torch.rand(1, 3, 2, 32, 32)
    b = (a + 0.1 * torch.randn_like(a)).clamp(0, 1).requires_grad_(True)
    assert vgg_loss(a, a).item() == 0.0
    value = vgg_loss(b, a)
    assert value.item() > 0
    value.backward()
    assert b.grad is not None and b.grad.abs().sum() > 0


def test_sum_of_mses_at_the_pools(vgg_loss):
    a, b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    x, y, expected = a, b, 0.0
    with torch.no_grad():
        for i, layer in enumerate(vgg_loss.features):
            x, y = layer(x), layer(y)
            if i in POOL_TAPS:
                expected += F.mse_loss(x, y)
        torch.testing.assert_close(vgg_loss(a, b), expected)


def test_options_channel_order_norm_layout():
    sd = torchvision_like(random=True)
    bgr, rgb = PerceptualLoss(sd), PerceptualLoss(sd, channel_order="rgb")
    normed, ref_layout = PerceptualLoss(sd, imagenet_norm=True), PerceptualLoss(sd, reference_layout=True)
    a, b = torch.rand(1, 3, 2, 32, 32), torch.rand(1, 3, 2, 32, 32)
    with torch.no_grad():
        base = bgr(a, b)
        torch.testing.assert_close(rgb(a, b), bgr(a.flip(1), b.flip(1)))  # "rgb" feeds VGG the flipped channels
        assert not torch.isclose(rgb(a, b), base)
        mean = torch.tensor([0.406, 0.456, 0.485]).view(1, 3, 1, 1, 1)  # ImageNet statistics in BGR order
        std = torch.tensor([0.225, 0.224, 0.229]).view(1, 3, 1, 1, 1)
        torch.testing.assert_close(normed(a, b), bgr((a - mean) / std, (b - mean) / std))
        # the reference's .view without permute (Q1) on the same frames
        view = lambda v: v.contiguous().view(2, 3, 32, 32)  # noqa: E731
        torch.testing.assert_close(ref_layout(a, b), bgr(view(a), view(b)))
        assert not torch.isclose(ref_layout(a, b), base)


def test_sync_loss_uses_lower_halves():
    torch.manual_seed(0)
    net = calibrate_bn(SyncNet(width=0.125), torch.randn(4, 1, 80, 16), torch.rand(4, 3, 5, 96, 96))
    gen, mel = torch.rand(2, 3, 5, 96, 96), torch.randn(2, 1, 80, 16)
    with torch.no_grad():
        a = net.audio_encoder(mel).flatten(1)
        v = net.face_encoder(stack_lower_half(gen)).flatten(1)
        expected = -F.cosine_similarity(a, v).log().mean()  # BCE(cos, 1)
        torch.testing.assert_close(sync_loss(net, gen, mel), expected)


def test_emotion_and_l1_losses():
    torch.manual_seed(0)
    clf = EmotionClassifier(width=0.125).eval()
    video, labels = torch.rand(2, 3, 3, 96, 96), torch.tensor([2, 5])
    with torch.no_grad():
        logits = clf(video)
        torch.testing.assert_close(emotion_loss(clf, video, labels), F.cross_entropy(logits, labels))
        onehot = F.one_hot(labels, 6).float()
        torch.testing.assert_close(emotion_loss(clf, video, onehot), F.cross_entropy(logits, labels))
    a, b = torch.zeros(1, 3, 2, 4, 4), torch.full((1, 3, 2, 4, 4), 0.25)
    assert l1_loss(a, b).item() == pytest.approx(0.25)
