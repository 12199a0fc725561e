"""SyncNet expert: reference layout, frame stacking, embeddings, loss; and the syncnet_python LSE model."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from emotalk.models.blocks import param_count
from emotalk.models.syncnet import SyncNet, cosine_loss, stack_lower_half, sync_probability
from emotalk.models.syncnet_lse import SyncNetLSE

from .helpers import PARAM_COUNTS, calibrate_bn, shapes


@pytest.mark.parametrize("name", ["wav2lip_syncnet_color", "emogen_syncnet_color"])
def test_reference_layout_and_param_count(layouts, name):
    net = SyncNet()
    assert shapes(net) == layouts[name]
    assert list(net.state_dict()) == list(layouts[name])
    assert param_count(net) == PARAM_COUNTS["wav2lip_syncnet_color"]


def test_stack_lower_half_is_the_reference_frame_major_stack():
    face = torch.rand(2, 3, 5, 96, 96)
    lower = face[:, :, :, 48:]
    reference = torch.cat([lower[:, :, i] for i in range(5)], dim=1)  # get_sync_loss: [f0 BGR, f1 BGR, ...]
    stacked = stack_lower_half(face)
    assert stacked.shape == (2, 15, 48, 96)
    assert torch.equal(stacked, reference)
    assert torch.equal(stacked[:, 3:6], face[:, :, 1, 48:])  # channels 3..5 = frame 1


@pytest.fixture(scope="module")
def small() -> SyncNet:
    torch.manual_seed(0)
    return calibrate_bn(SyncNet(width=0.125), torch.randn(8, 1, 80, 16), torch.rand(8, 3, 5, 96, 96))


@pytest.mark.parametrize("B", [1, 3])
def test_embeddings(small, B):
    mel, face = torch.randn(B, 1, 80, 16), torch.rand(B, 3, 5, 96, 96)
    with torch.no_grad():
        a, v = small(mel, face)
        a2, v2 = small(mel, stack_lower_half(face))  # an already stacked window gives the same embedding
    assert a.shape == v.shape == (B, 64)
    torch.testing.assert_close(v, v2)
    torch.testing.assert_close(a, a2)
    assert a.min() >= 0 and v.min() >= 0  # ReLU'd
    torch.testing.assert_close(a.norm(dim=1), torch.ones(B))
    torch.testing.assert_close(v.norm(dim=1), torch.ones(B))
    p = sync_probability(a, v)
    assert p.shape == (B,) and p.min() >= 0 and p.max() <= 1


def test_upper_half_is_ignored(small):
    mel, face = torch.randn(2, 1, 80, 16), torch.rand(2, 3, 5, 96, 96)
    other = face.clone()
    other[:, :, :, :48] = torch.rand(2, 3, 5, 48, 96)
    with torch.no_grad():
        torch.testing.assert_close(small(mel, face)[1], small(mel, other)[1])


def test_cosine_loss_is_bce_of_cosine():
    a = F.normalize(torch.rand(4, 16), dim=1)
    v = F.normalize(torch.rand(4, 16), dim=1)
    y = torch.tensor([1.0, 0.0, 1.0, 0.0])
    cos = (a * v).sum(1)
    expected = -(y * cos.log() + (1 - y) * (1 - cos).log()).mean()
    torch.testing.assert_close(cosine_loss(a, v, y), expected)
    torch.testing.assert_close(cosine_loss(a, v, y), F.binary_cross_entropy(cos, y))
    # saturated: orthogonal embeddings labelled in sync cost 100, as F.binary_cross_entropy's clamped log
    e0, e1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert cosine_loss(e0, e1, torch.ones(1)).item() == pytest.approx(100.0)
    assert cosine_loss(e0, e1, torch.zeros(1)).item() == pytest.approx(0.0)


def test_wrong_inputs(small):
    with pytest.raises(ValueError, match="T=5"):
        small(torch.randn(1, 1, 80, 16), torch.rand(1, 3, 4, 96, 96))
    with pytest.raises(ValueError, match="48x96"):
        small(torch.randn(1, 1, 80, 16), torch.rand(1, 3, 5, 64, 64))


def test_lse_model_layout_and_shapes(layouts):
    net = SyncNetLSE()
    assert shapes(net) == layouts["syncnet_python_S"]
    assert list(net.state_dict()) == list(layouts["syncnet_python_S"])
    assert param_count(net) == PARAM_COUNTS["syncnet_python_S"]
    net.eval()
    with torch.no_grad():
        assert net.forward_aud(torch.randn(2, 1, 13, 20)).shape == (2, 1024)
        assert net.forward_lip(torch.rand(1, 3, 5, 224, 224) * 255).shape == (1, 1024)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA autocast refuses F.binary_cross_entropy; GPU only")
def test_cosine_loss_under_cuda_autocast():
    a = F.normalize(torch.rand(4, 16, device="cuda"), dim=1)
    v = F.normalize(torch.rand(4, 16, device="cuda"), dim=1)
    y = torch.ones(4, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        loss = cosine_loss(a.half(), v.half(), y)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
