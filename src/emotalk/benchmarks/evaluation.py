"""Evaluation speed: the LSE front end, SyncNet (syncnet_python's S) and FID feature extraction, in frames/s.

The networks have **random weights** (the published ``syncnet_v2.model`` and Inception files cannot be shipped):
their speed does not depend on the values, but no row here is a metric value. The input is a real CREMA-D clip
from ../shared/media when present (else a synthetic moving square, for which face detection finds nothing and the
front-end row is skipped).

Rows:
* ``lse front end``: decode at 25 fps + mediapipe on every frame + IoU tracking + the reference crop to 224x224;
* ``syncnet_v2 forward``: SyncNetLSE video + audio streams over 5-frame windows (one window per frame), batch 20;
* ``lse total``: both, per video frame (what `LSEEvaluator.score_video` costs);
* ``fid features``: FID Inception-v3 on 96x96 face crops (resized to 299 inside), batch 32.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

MEDIA = Path(os.environ.get("EMOTALK_SHARED", Path(__file__).resolve().parents[3].parent / "shared")) / "media"
CLIP = MEDIA / "crema-d/VideoFlash/1001_DFA_ANG_XX.flv"


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run(quick: bool = False) -> list[dict]:
    from emotalk.evaluate import lse
    from emotalk.evaluate.fid import crops_to_rgb01
    from emotalk.evaluate.inception import FIDInceptionV3
    from emotalk.models.syncnet_lse import SyncNetLSE

    device = _device()
    rows: list[dict] = []
    note = "random weights (speed only)"

    # front end on a real clip
    frames: list[np.ndarray] = []
    front_fps = None
    if CLIP.is_file():
        from emotalk.video.decode import read_frames
        from emotalk.video.faces import FaceDetector

        with FaceDetector(max_side=lse.DETECT_MAX_SIDE) as det:
            det.detect(np.zeros((64, 64, 3), np.uint8))  # model load outside the timing
            t0 = time.perf_counter()
            frames = list(read_frames(CLIP, fps=lse.FPS))
            tracks = lse.track_faces(lse.detect_all(frames, det))
            crops = lse.crop_track(frames, tracks[0]) if tracks else np.zeros((0, 224, 224, 3), np.uint8)
            dt = time.perf_counter() - t0
        front_fps = len(frames) / dt
        rows.append(
            {"name": "lse front end (decode 25 fps, mediapipe, track, 224 crop)", "value": front_fps,
             "unit": "frames/s", "frames": len(frames), "clip": CLIP.name}
        )  # fmt: skip
    else:
        crops = np.zeros((0, 224, 224, 3), np.uint8)
    n = 12 if quick else 60
    if len(crops) < n:
        rng = np.random.default_rng(0)
        crops = rng.integers(0, 255, (n, 224, 224, 3), dtype=np.uint8)
    crops = crops[:n]
    samples = (np.random.default_rng(1).standard_normal(n * lse.SAMPLES_PER_FRAME) * 3000).astype(np.int16)
    torch.manual_seed(0)
    scorer = lse.SyncScorer(SyncNetLSE().eval(), device, batch_size=20)
    scorer.features(crops[:8], samples[: 8 * lse.SAMPLES_PER_FRAME])  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    scorer.score(crops, samples)
    _sync(device)
    dt = time.perf_counter() - t0
    net_fps = n / dt
    rows.append(
        {"name": f"syncnet_v2 forward + LSE ({note})", "value": net_fps, "unit": "frames/s", "device": device,
         "windows": lse.n_windows(n, len(samples))}
    )  # fmt: skip
    if front_fps:
        rows.append(
            {"name": f"lse total per video frame ({note})", "value": 1 / (1 / front_fps + 1 / net_fps),
             "unit": "frames/s", "device": device}
        )  # fmt: skip

    # FID features of 96x96 crops
    inc = FIDInceptionV3().to(device)
    m = 8 if quick else 64
    faces = np.random.default_rng(2).integers(0, 255, (m, 96, 96, 3), dtype=np.uint8)
    x = crops_to_rgb01(faces).to(device)
    inc(x[:4])
    _sync(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, m, 32):
            inc(x[i : i + 32])
    _sync(device)
    dt = time.perf_counter() - t0
    rows.append(
        {"name": f"fid inception features, 96x96 crops ({note})", "value": m / dt, "unit": "frames/s",
         "device": device, "batch": 32}
    )  # fmt: skip
    return rows
