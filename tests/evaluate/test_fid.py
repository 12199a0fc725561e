"""FID: our Inception's layout against pytorch-fid's FID Inception, the FID math (with a small random feature
network, as each test says), the bootstrap helpers, and SSIM / PSNR sanity values."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from emotalk.errors import MissingWeightsError
from emotalk.evaluate import fid as fidmod
from emotalk.evaluate.image_metrics import frame_ssim_psnr, video_ssim_psnr
from emotalk.evaluate.inception import INCEPTION_FILE, INCEPTION_URL, FIDInceptionV3, load_fid_inception

from .helpers import TinyFeature


def _meta_inception() -> FIDInceptionV3:
    with torch.device("meta"):
        return FIDInceptionV3()


def test_inception_layout_equals_pytorch_fid() -> None:
    """pytorch-fid's ``fid_inception_v3()`` is torchvision's Inception3(num_classes=1008, aux_logits=False) with
    patched A/C/E blocks (forward changes only), so its state_dict is torchvision's layout without AuxLogits.

    Parameter count checked against an independent derivation: torchvision documents 27,161,264 parameters for
    inception_v3 (1000 classes, with the aux head); the aux head has 98,560 (conv0 + BN) + 2,459,136 (conv1 + BN)
    + 769,000 (fc) = 3,326,696; the 1008-way fc adds 8·2048 + 8 = 16,392. 27,161,264 − 3,326,696 + 16,392 =
    23,850,960 (21,785,568 without the unused fc).
    """
    net = _meta_inception()
    sd = net.state_dict()
    tops = list(dict.fromkeys(k.split(".")[0] for k in sd))
    assert tops == [
        "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
        "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
        "Mixed_7a", "Mixed_7b", "Mixed_7c", "fc",
    ]  # fmt: skip
    shapes = {k: list(v.shape) for k, v in sd.items()}
    assert shapes["Conv2d_1a_3x3.conv.weight"] == [32, 3, 3, 3]
    assert shapes["Conv2d_1a_3x3.bn.running_var"] == [32]
    assert shapes["Conv2d_4a_3x3.conv.weight"] == [192, 80, 3, 3]
    assert shapes["Mixed_5b.branch_pool.conv.weight"] == [32, 192, 1, 1]
    assert shapes["Mixed_5d.branch5x5_2.conv.weight"] == [64, 48, 5, 5]
    assert shapes["Mixed_6a.branch3x3.conv.weight"] == [384, 288, 3, 3]
    assert shapes["Mixed_6b.branch7x7_2.conv.weight"] == [128, 128, 1, 7]
    assert shapes["Mixed_6e.branch7x7dbl_5.conv.weight"] == [192, 192, 1, 7]
    assert shapes["Mixed_7a.branch3x3_2.conv.weight"] == [320, 192, 3, 3]
    assert shapes["Mixed_7b.branch3x3dbl_1.conv.weight"] == [448, 1280, 1, 1]
    assert shapes["Mixed_7c.branch3x3_2b.conv.weight"] == [384, 384, 3, 1]
    assert shapes["fc.weight"] == [1008, 2048]
    assert not any(k.startswith("AuxLogits") for k in sd)
    assert not any(".conv.bias" in k for k in sd)  # BasicConv2d convs have no bias
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == 27_161_264 - 3_326_696 + 16_392 == 23_850_960
    assert n_params - (2048 * 1008 + 1008) == 21_785_568
    assert sum(k.endswith("running_mean") for k in sd) == 94  # 94 BasicConv2d blocks
    assert net.num_features == 2048


def test_inception_batchnorm_eps_and_forward_contract() -> None:
    """Random weights (the published file cannot be downloaded here): only the contract is checked."""
    net = FIDInceptionV3()
    assert all(m.eps == 0.001 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    net.train()
    assert not net.training  # FID always uses the running statistics
    out = net(torch.rand(2, 3, 64, 80))  # any size: resized to 299x299 inside
    assert out.shape == (2, 2048) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="RGB"):
        net(torch.rand(2, 1, 64, 64))


def test_inception_weights_load_and_missing_file_names_the_url(tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match=rf"{INCEPTION_FILE}.*{INCEPTION_URL}") as e:
        load_fid_inception(tmp_path / INCEPTION_FILE)
    assert "pytorch-fid" in str(e.value)
    with pytest.raises(MissingWeightsError, match=INCEPTION_FILE):
        load_fid_inception(None)
    # a file with the published layout (random values; old files lack num_batches_tracked) loads strictly
    src = FIDInceptionV3()
    sd = {k: v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / INCEPTION_FILE
    torch.save(sd, path)
    net = load_fid_inception(path)
    assert torch.equal(net.Mixed_7c.branch_pool.conv.weight, src.Mixed_7c.branch_pool.conv.weight)
    # a file of another model is refused with what it looks like
    torch.save({"netcnnaud.0.weight": torch.zeros(64, 1, 3, 3)}, tmp_path / "wrong.pth")
    with pytest.raises(MissingWeightsError, match="syncnet_python"):
        load_fid_inception(tmp_path / "wrong.pth")


# ---------------------------------------------------------------------------------------------------- FID math


def _images(rng: np.random.Generator, n: int = 64) -> np.ndarray:
    """Smooth random 32x32 BGR crops (uint8)."""
    import cv2

    return np.stack(
        [cv2.GaussianBlur(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), (0, 0), 1.5) for _ in range(n)]
    )


def _fid(real: np.ndarray, fake: np.ndarray) -> float:
    m = fidmod.make_fid(fidmod.FeatureTap(TinyFeature()))
    m.update(fidmod.crops_to_rgb01(real), real=True)
    m.update(fidmod.crops_to_rgb01(fake), real=False)
    return float(m.compute())


def test_fid_of_identical_sets_is_zero_and_grows_with_noise(rng: np.random.Generator) -> None:
    """torchmetrics' FID with our custom feature module (a small random network, not the Inception)."""
    real = _images(rng)
    same = _fid(real, real)
    vals = []
    for sigma in (4, 12, 30, 60):
        noisy = np.clip(real + rng.normal(0, sigma, real.shape), 0, 255).astype(np.uint8)
        vals.append(_fid(real, noisy))
    assert all(b > a for a, b in itertools.pairwise(vals)), vals
    assert abs(same) < 1e-3 * vals[0], (same, vals)


def test_our_frechet_distance_equals_torchmetrics(rng: np.random.Generator) -> None:
    """The bootstrap's formula (two symmetric eigendecompositions) against torchmetrics' compute()."""
    real, fake = _images(rng), np.clip(_images(rng) * 0.8 + 20, 0, 255).astype(np.uint8)
    feat = TinyFeature()
    fr = fidmod.extract_features(feat, real)
    ff = fidmod.extract_features(feat, fake)
    ours = fidmod.fid_from_features([fr], [ff])
    assert ours == pytest.approx(_fid(real, fake), rel=1e-3, abs=1e-6)
    # counts repeat whole videos: the same as duplicating them
    a, b = fr[:20], fr[20:]
    assert fidmod.fid_from_features([a, b], [ff], [2, 1]) == pytest.approx(
        fidmod.fid_from_features([a, a, b], [ff]), rel=1e-9
    )


def test_emotion_fid_averages_per_emotion_and_keeps_real_sets(rng: np.random.Generator) -> None:
    efid = fidmod.EmotionFID(TinyFeature(), batch_size=16)
    happy, sad = _images(rng, 40), _images(rng, 40) // 2
    efid.update(happy, "happy", real=True, video_id="r1")
    efid.update(sad, "sad", real=True, video_id="r2")
    efid.update(happy, "happy", real=False, video_id="g1")
    efid.update(happy, "sad", real=False, video_id="g2")
    per = efid.compute()
    assert set(per) == {"happy", "sad"}
    assert per["happy"] == pytest.approx(0, abs=1e-4) and per["sad"] > 1e-3
    assert efid.mean(per) == pytest.approx((per["happy"] + per["sad"]) / 2)
    assert efid.real["happy"]["r1"].shape == (40, TinyFeature.num_features)
    efid.reset_fake()
    assert efid.compute() == {} and efid.has_real("happy")
    efid.update(sad, "sad", real=False, video_id="g3")
    assert efid.compute()["sad"] == pytest.approx(0, abs=1e-4)
    with pytest.raises(ValueError, match="unknown emotion"):
        efid.update(sad, "bored", real=False, video_id="x")


# ---------------------------------------------------------------------------------------------------- SSIM / PSNR


def test_ssim_psnr_sanity(rng: np.random.Generator) -> None:
    a = _images(rng, 4)
    ssim, psnr = frame_ssim_psnr(a, a)
    assert np.allclose(ssim, 1.0) and np.isinf(psnr).all()
    for gray in (False, True):
        s1, p1 = video_ssim_psnr(np.clip(a + rng.normal(0, 5, a.shape), 0, 255).astype(np.uint8), a, gray)
        s2, p2 = video_ssim_psnr(np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8), a, gray)
        assert 1.0 > s1 > s2 and p1 > p2 > 10
        assert 30 < p1 < 40  # σ = 5 of 255 → about 34 dB
    assert np.isnan(video_ssim_psnr(a[:0], a[:0])[0])
    with pytest.raises(ValueError, match="differ"):
        frame_ssim_psnr(a, a[:2])
