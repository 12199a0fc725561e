"""SSIM and PSNR between generated and source frames (torchmetrics), in colour or on grayscale.

Inputs are BGR uint8 frames [N, H, W, 3] (OpenCV's layout), compared in [0, 1] with ``data_range`` 1. Per frame
SSIM (11x11 Gaussian window, σ 1.5, torchmetrics' defaults) and PSNR (10·log10(1 / MSE)), then the mean over
frames is the video's value. Identical frames give SSIM 1 and PSNR +inf; a video whose frames are all identical
to the source therefore has PSNR inf (reported as such, never clipped).

EmoGen's ``img_eval.py`` computed both on **grayscale** frames (skimage SSIM); ``gray=True`` reproduces that
(ITU-R BT.601 luma, as ``cv2.cvtColor(BGR2GRAY)``). Our default is colour (RGB), which also sees colour shifts.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

#: BT.601 luma weights in BGR order (cv2.COLOR_BGR2GRAY)
_GRAY_BGR = torch.tensor([0.114, 0.587, 0.299])


def to_tensor01(frames_bgr: np.ndarray, gray: bool = False) -> Tensor:
    """BGR uint8 [N, H, W, 3] → float [N, C, H, W] in [0, 1]: RGB (C=3) or luma (C=1)."""
    x = torch.as_tensor(np.ascontiguousarray(frames_bgr)).float() / 255.0
    if x.dim() != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected BGR frames [N, H, W, 3], got {tuple(x.shape)}")
    if gray:
        return (x @ _GRAY_BGR)[:, None]  # (N, 1, H, W)
    return x.flip(-1).permute(0, 3, 1, 2)  # (N, 3, H, W), RGB


def frame_ssim_psnr(generated: np.ndarray, source: np.ndarray, gray: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame SSIM and PSNR [N] of two aligned BGR uint8 stacks [N, H, W, 3] of the same size."""
    if generated.shape != source.shape:
        raise ValueError(f"frame stacks differ in shape: {generated.shape} vs {source.shape}")
    if len(generated) == 0:
        return np.zeros(0), np.zeros(0)
    g, s = to_tensor01(generated, gray), to_tensor01(source, gray)
    ssim = structural_similarity_index_measure(g, s, data_range=1.0, reduction="none")
    psnr = peak_signal_noise_ratio(g, s, data_range=1.0, reduction="none", dim=(1, 2, 3))
    return ssim.double().numpy().reshape(-1), psnr.double().numpy().reshape(-1)


def video_ssim_psnr(generated: np.ndarray, source: np.ndarray, gray: bool = False) -> tuple[float, float]:
    """Mean per-frame SSIM and PSNR of one video (NaN for no frames)."""
    ssim, psnr = frame_ssim_psnr(generated, source, gray)
    if len(ssim) == 0:
        return float("nan"), float("nan")
    return float(ssim.mean()), float(psnr.mean())
