"""Evaluation (mission.md §7): LSE-D / LSE-C, FID, SSIM / PSNR, EmoAcc, t-SNE and the paper's protocol.

Modules are imported on demand (``emotalk.evaluate.lse`` …); importing the package loads nothing heavy.
"""
