"""One draw of augmentation parameters per sample, applied to every frame alike (reference-code.md §8.3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from emotalk.data.augment import FrameAugment, build_augment
from emotalk.data.clips import ClipMeta, write_clip
from emotalk.data.windows import WindowDataset, build_index
from emotalk.errors import ConfigError

CONF = Path(__file__).resolve().parents[2] / "src" / "emotalk" / "conf"
ALL_ON = {
    "p": 1.0,
    "brightness_contrast_p": 1.0,
    "gamma_p": 1.0,
    "clahe_p": 1.0,
    "hue_saturation_value_p": 1.0,
    "channel_shuffle_p": 1.0,
    "rgb_shift_p": 1.0,
    "gauss_noise_p": 1.0,
}


def textured(n: int = 10, seed: int = 0) -> np.ndarray:
    """n copies of one textured BGR face-sized image (CLAHE and noise have something to act on)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(30, 220, (96, 96, 3), dtype=np.uint8)
    return np.repeat(img[None], n, axis=0)


def aug_config(name: str) -> FrameAugment:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return instantiate(compose(overrides=[f"+augment={name}"]).augment)


@pytest.mark.parametrize("frames", [np.full((10, 96, 96, 3), (40, 120, 200), np.uint8), textured()])
def test_all_ten_frames_get_the_same_parameters(frames):
    aug = FrameAugment(**ALL_ON, seed=1)
    out = aug(frames)
    assert out.shape == frames.shape and out.dtype == np.uint8
    for k in range(1, 10):
        assert np.array_equal(out[0], out[k]), f"frame {k} was augmented differently from frame 0"
    assert not np.array_equal(out, frames)  # p = 1: something changed


def test_samples_get_different_parameters_and_a_seed_reproduces_them():
    frames = textured()
    aug = FrameAugment(**ALL_ON, seed=2)
    a, b = aug(frames), aug(frames)
    assert not np.array_equal(a, b)
    aug.reseed(7)
    c = aug(frames)
    aug.reseed(7)
    assert np.array_equal(c, aug(frames))


def test_none_config_is_the_identity_and_paper_config_matches_the_paper():
    frames = textured()
    none = aug_config("none")
    assert isinstance(none, FrameAugment) and not none.enabled
    assert np.array_equal(none(frames), frames)
    paper = aug_config("paper")
    assert paper.enabled and paper.config["p"] == 0.8 and paper.config["clahe_p"] == 0.4
    noise = paper.compose.transforms[-1]
    # GaussNoise(var_limit=(10, 50)) on uint8 -> std_range as a fraction of 255.
    assert noise.std_range == pytest.approx((np.sqrt(10) / 255, np.sqrt(50) / 255))
    paper.reseed(0)
    changed = sum(not np.array_equal(paper(frames), frames) for _ in range(60))
    assert 30 <= changed <= 59  # p = 0.8 for the chain, at least one of 7 transforms at 0.4 fires: ~77 %


def test_frames_are_flipped_to_rgb_for_albumentations_and_back():
    aug = FrameAugment(**ALL_ON)
    seen = {}

    def spy(images):
        seen["images"] = images.copy()
        out = images.copy()
        out[..., 0] = 7  # what albumentations calls R
        return {"images": out}

    aug.compose = spy
    frames = textured(2)
    out = aug(frames)
    assert np.array_equal(seen["images"], frames[..., ::-1])  # albumentations received RGB
    assert (out[..., 2] == 7).all() and np.array_equal(out[..., :2], frames[..., :2])  # R is channel 2 in BGR


def test_bad_settings_and_inputs_are_rejected():
    with pytest.raises(ConfigError, match="probabilities"):
        FrameAugment(clahe_p=1.5)
    with pytest.raises(ConfigError, match="noise_var_limit"):
        FrameAugment(noise_var_limit=(50, 10))
    with pytest.raises(ValueError, match="uint8"):
        FrameAugment(**ALL_ON)(np.zeros((2, 96, 96, 3), np.float32))
    assert build_augment(None) is None
    assert build_augment({"_target_": "x", "p": 0.0}).enabled is False


def test_generator_target_and_reference_share_one_draw(tmp_path):
    """In a dataset item the 5 target and 5 reference frames are augmented together."""
    n = 30
    faces = np.repeat(textured(1, seed=3), n, axis=0)
    meta = ClipMeta("1001_DFA_HAP_XX", "crema_d", "1001", "x", n, 0, emotion="happy", level="unspecified")
    mel = np.zeros((80, 1 + n * 16000 // 25 // 200), np.float32)
    write_clip(tmp_path, meta, faces, np.ones(n, bool), np.zeros((n, 4)), mel, lambda p: p.write_bytes(b""))
    ds = WindowDataset(
        build_index(tmp_path, [meta]), "generator", train=True, samples_per_epoch=4, augment=FrameAugment(**ALL_ON)
    )
    outs = []
    for i in range(4):
        it = ds[i]
        both = np.concatenate([it["target"], it["reference"]])
        assert all(np.array_equal(both[0], both[k]) for k in range(10))
        assert not np.array_equal(both[0], faces[0])
        outs.append(both[0])
    assert not all(np.array_equal(outs[0], o) for o in outs[1:])  # a new draw per sample
    # Each DataLoader worker reseeds its copy of the augmentation: workers do not repeat each other.
    loader = DataLoader(ds, batch_size=1, num_workers=2, collate_fn=lambda items: items[0]["target"][0])
    first = list(loader)
    assert not np.array_equal(first[0], first[1])  # item 0 from worker 0, item 1 from worker 1
