"""Colour augmentation with one set of random parameters per sample (reference-code.md §8.3).

The reference builds one ``A.Compose(p=0.8)`` with ``additional_targets`` so that every frame of a sample (in EG
``train.py`` the 5 target and 5 reference frames together) gets the same random parameters. albumentations 2.x
does this natively: ``compose(images=stack)`` draws the parameters once and applies them to each image of an
``[N, H, W, C]`` stack (GaussNoise even draws one noise map for all of them, as the reference's
``additional_targets`` did). Augmentation runs on uint8 frames, before the division by 255.

Ported from the albumentations 0.x/1.x API of the reference:

* ``RandomBrightness`` / ``RandomContrast`` (removed upstream) are covered by ``RandomBrightnessContrast``.
* ``GaussNoise(var_limit=(10, 50))`` drew a variance in uint8 units and used its square root as the standard
  deviation; 2.x takes ``std_range`` as a fraction of 255, so the same range is
  ``(sqrt(10) / 255, sqrt(50) / 255) ≈ (0.0124, 0.0277)``. (2.x samples the std uniformly instead of the
  variance: the same range, a slightly different spread.)
* Colour order: frames are BGR (OpenCV, like the reference and its weights), while albumentations assumes RGB
  (HueSaturationValue converts RGB→HSV, CLAHE equalises the L of RGB→LAB). We flip to RGB around the call, so the
  transforms see what they expect; the reference fed BGR to them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from emotalk.errors import ConfigError


def swap_red_blue(frames: np.ndarray) -> np.ndarray:
    """BGR <-> RGB of uint8 [N, H, W, 3] in one OpenCV call (numpy's [..., ::-1] copy is ~15x slower)."""
    n, h, w, c = frames.shape
    flat = np.ascontiguousarray(frames).reshape(n * h, w, c)  # (N*H, W, 3): one image for OpenCV
    return cv2.cvtColor(flat, cv2.COLOR_BGR2RGB).reshape(n, h, w, c)


class FrameAugment:
    """The paper's colour augmentation, applied with the same parameters to every frame of one call.

    Every ``*_p`` is the probability of one transform; ``p`` is the probability that the whole chain runs
    (paper ``train.py``: 0.4 each inside ``Compose(p=0.8)``). ``p=0`` is the identity (no albumentations call).

    >>> FrameAugment(p=0.0)(np.zeros((10, 96, 96, 3), np.uint8)).shape
    (10, 96, 96, 3)
    """

    def __init__(
        self,
        p: float = 0.8,
        brightness_contrast_p: float = 0.4,
        gamma_p: float = 0.4,
        clahe_p: float = 0.4,
        hue_saturation_value_p: float = 0.4,
        channel_shuffle_p: float = 0.4,
        rgb_shift_p: float = 0.4,
        gauss_noise_p: float = 0.4,
        hue_shift_limit: float = 20,
        sat_shift_limit: float = 50,
        val_shift_limit: float = 50,
        noise_var_limit: tuple[float, float] = (10.0, 50.0),
        seed: int | None = None,
    ) -> None:
        probs = {
            "p": p,
            "brightness_contrast_p": brightness_contrast_p,
            "gamma_p": gamma_p,
            "clahe_p": clahe_p,
            "hue_saturation_value_p": hue_saturation_value_p,
            "channel_shuffle_p": channel_shuffle_p,
            "rgb_shift_p": rgb_shift_p,
            "gauss_noise_p": gauss_noise_p,
        }
        bad = {k: v for k, v in probs.items() if not 0.0 <= float(v) <= 1.0}
        if bad:
            raise ConfigError(f"augmentation probabilities must lie in [0, 1]: {bad}")
        lo, hi = (float(v) for v in noise_var_limit)
        if not 0 <= lo <= hi:
            raise ConfigError(f"noise_var_limit must be (low, high) with 0 <= low <= high, got {noise_var_limit}")
        self.config = {
            **probs,
            "hue_shift_limit": hue_shift_limit,
            "sat_shift_limit": sat_shift_limit,
            "val_shift_limit": val_shift_limit,
            "noise_var_limit": (lo, hi),
        }
        self.enabled = p > 0 and any(v > 0 for k, v in probs.items() if k != "p")
        self.compose = self._build(seed) if self.enabled else None

    def _build(self, seed: int | None) -> Any:
        import albumentations as A  # ~0.5 s import: only when augmentation is on

        c = self.config
        lo, hi = c["noise_var_limit"]
        return A.Compose(
            [
                A.RandomBrightnessContrast(p=c["brightness_contrast_p"]),
                A.RandomGamma(p=c["gamma_p"]),
                A.CLAHE(p=c["clahe_p"]),
                A.HueSaturationValue(
                    hue_shift_limit=c["hue_shift_limit"],
                    sat_shift_limit=c["sat_shift_limit"],
                    val_shift_limit=c["val_shift_limit"],
                    p=c["hue_saturation_value_p"],
                ),
                A.ChannelShuffle(p=c["channel_shuffle_p"]),
                A.RGBShift(p=c["rgb_shift_p"]),
                # var_limit (uint8 variance) -> std_range (fraction of 255); see the module docstring.
                A.GaussNoise(std_range=(math.sqrt(lo) / 255.0, math.sqrt(hi) / 255.0), p=c["gauss_noise_p"]),
            ],
            p=c["p"],
            seed=seed,
        )

    def reseed(self, seed: int) -> None:
        """Restart the random stream (each DataLoader worker calls this once with its own seed)."""
        if self.compose is not None:
            self.compose.set_random_seed(int(seed))

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Augment uint8 BGR frames [N, H, W, 3] with one draw of parameters; returns a new uint8 array."""
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames [N, H, W, 3], got {frames.dtype} {frames.shape}")
        if self.compose is None:
            return frames
        out = self.compose(images=swap_red_blue(frames))["images"]  # albumentations expects RGB
        return swap_red_blue(np.asarray(out))  # back to BGR

    def __repr__(self) -> str:
        return f"FrameAugment({', '.join(f'{k}={v}' for k, v in self.config.items())})"


def build_augment(cfg: FrameAugment | Mapping[str, Any] | None) -> FrameAugment | None:
    """None / a FrameAugment / a config mapping (an un-instantiated Hydra node; `_target_` is ignored)."""
    if cfg is None or isinstance(cfg, FrameAugment):
        return cfg
    if isinstance(cfg, Mapping):
        kw = {str(k): v for k, v in cfg.items() if not str(k).startswith("_")}
        if "noise_var_limit" in kw:
            kw["noise_var_limit"] = tuple(kw["noise_var_limit"])
        return FrameAugment(**kw)
    if callable(cfg) and hasattr(cfg, "reseed"):
        return cfg  # any object honouring the FrameTransform protocol of data/windows.py
    raise ConfigError(f"augment must be a FrameAugment, a config mapping or null, got {type(cfg).__name__}")
