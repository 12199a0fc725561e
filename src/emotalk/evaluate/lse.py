"""LSE-D / LSE-C: syncnet_python's lip-sync error metrics, computed as its ``SyncNetInstance.evaluate`` does.

reference-code.md §12. Per scored face track of F frames (25 fps) and S int16 audio samples (16 kHz):

1. MFCC with python_speech_features' defaults on the raw int16 samples → [13, M] at 100 Hz.
2. ``min_length = min(F, ⌊S / 640⌋)``; windows v = 0 … min_length − 6 (``min_length − 5`` windows).
   Video window v = frames v … v+4 (224x224 BGR, raw 0–255 floats); audio window v = MFCC columns 4v … 4v+19.
3. SyncNet ``S`` (``syncnet_v2.model``) → one 1024-d feature per window and stream.
4. ``calc_pdist``: the audio features are zero-padded by ``vshift`` = 15 rows at both ends; for each v the
   Euclidean distances (``F.pairwise_distance``, eps 1e-6) from video feature v to audio features v−15 … v+15.
5. ``mdist`` = mean over v (31 values); **LSE-D = min(mdist)**, **LSE-C = median(mdist) − min(mdist)**,
   AV offset = 15 − argmin(mdist). A data set's score is the mean over videos.

Sign of the offset: if the audio features are the video features shifted so that ``audio[j] = video[j + k]`` (the
audio runs k frames ahead of the picture), the offset is +k.

Front ends (what becomes the 224x224 frames):

* ``mode="track"`` (the reference's ``run_pipeline.py`` for arbitrary videos): the video is re-timed to 25 fps
  (as run_pipeline's ``ffmpeg -r 25``; other rates would break the 640-samples-per-frame arithmetic), faces are
  detected in every frame (mediapipe here, S3FD there), linked into tracks by IoU > 0.5 allowing up to 25 missed
  frames, boxes linearly interpolated over the misses; a track is kept when it has more than ``min_track``
  detections and a mean box side above ``min_face_size``. The crop of every frame is the reference's: box half-size
  s and centre (x, y), each median-filtered over 13 frames (``scipy.signal.medfilt``, zero-padded edges, as the
  reference), frame padded by 1.8·s with value 110, rows y − s … y + 1.8·s, columns x − 1.4·s … x + 1.4·s (0.4·s
  margin at the sides, 0.8·s below), resized to 224x224. The track's audio is samples ``first·640 … (last+1)·640``.
  The reference's default ``min_track`` = 100 drops every 2–3 s CREMA-D clip; ours defaults to 25 and every result
  records the value used. Differences kept on purpose: no shot detection (PySceneDetect) – evaluation clips are
  single shots; no JPEG/XVID round trip of the crops; mediapipe boxes instead of S3FD's.
* ``mode="cropped"``: the frames are already face crops (Wav2Lip's ``calculate_scores_LRS.py`` variant): each frame
  is resized to 224x224 and the whole video is one track.

Missing ``syncnet_v2.model`` → `MissingWeightsError` naming the file and its source (``download_model.sh``).
Numbers from random weights are only ever produced by tests and the benchmark, which say so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from emotalk.ffmpeg import run_ffmpeg

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
MFCC_PER_FRAME = 4  # 100 Hz MFCC / 25 fps
MFCC_WINDOW = 20  # 0.2 s
T = 5
VSHIFT = 15
CROP_SIZE = 224
CROP_SCALE = 0.4  # run_pipeline's --crop_scale
PAD_VALUE = 110
MEDFILT = 13
NUM_FAILED_DET = 25  # run_pipeline's --num_failed_det
IOU_THRESHOLD = 0.5
REFERENCE_MIN_TRACK = 100
DEFAULT_MIN_TRACK = 25
DEFAULT_MIN_FACE_SIZE = 50.0
DETECT_MAX_SIDE = 320  # mediapipe works at 128-192 px; preprocessing detects at this size too

Mode = Literal["track", "cropped"]


# ---------------------------------------------------------------------------------------------------- audio


def read_audio_int16(path: Path | str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The first audio stream as 16 kHz mono PCM16 (ffmpeg ``-acodec pcm_s16le``, as the reference extracts it)."""
    args = ["-i", str(path), "-vn", "-map", "0:a:0", "-ac", "1", "-ar", str(sample_rate)]
    raw = run_ffmpeg([*args, "-acodec", "pcm_s16le", "-f", "s16le", "-"], path=path)
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


def mfcc(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """python_speech_features' MFCC with its defaults on int16-scaled samples → [13, M] float32.

    25 ms rectangular windows every 10 ms, 13 cepstra, 26 filters, nfft 512, pre-emphasis 0.97, lifter 22, c0
    replaced by the log frame energy; M = 1 + ⌈(N − 400) / 160⌉ for N ≥ 400 samples. The int16 scale matters (the
    log energies shift with it), so float audio in [-1, 1] must be converted first (`to_int16`).
    """
    import python_speech_features

    samples = np.asarray(samples)
    if samples.dtype != np.int16:
        raise TypeError(f"mfcc expects int16 samples (the reference's wavfile.read), got {samples.dtype}")
    feats = python_speech_features.mfcc(samples, sample_rate)  # (M, 13)
    return np.ascontiguousarray(feats.T, dtype=np.float32)


def to_int16(wav: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] → int16 (×32768, rounded, clipped; ffmpeg's float→s16 conversion)."""
    return np.clip(np.round(np.asarray(wav, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


# ---------------------------------------------------------------------------------------------------- windows


def min_length(n_frames: int, n_samples: int) -> int:
    """``min(#frames, ⌊#samples / 640⌋)``: the frames that have audio under them."""
    return min(int(n_frames), int(n_samples) // SAMPLES_PER_FRAME)


def n_windows(n_frames: int, n_samples: int) -> int:
    """Number of 5-frame windows scored: ``min_length − 5`` (v = 0 … min_length − 6), at least 0."""
    return max(0, min_length(n_frames, n_samples) - (T - 1) - 1)


def audio_windows(mfcc_feats: np.ndarray, count: int) -> Tensor:
    """MFCC columns 4v … 4v+19 for v < count → [count, 1, 13, 20]."""
    cols = [mfcc_feats[:, MFCC_PER_FRAME * v : MFCC_PER_FRAME * v + MFCC_WINDOW] for v in range(count)]
    short = [v for v, c in enumerate(cols) if c.shape[1] != MFCC_WINDOW]
    if short:  # cannot happen when count comes from n_windows and the MFCC from the same samples
        raise ValueError(f"MFCC has {mfcc_feats.shape[1]} columns, too few for window {short[0]}")
    return torch.from_numpy(np.stack(cols)[:, None]).float()


def video_windows(frames: Tensor, start: int, stop: int) -> Tensor:
    """Frames [N, 3, 224, 224] (BGR, 0–255) → windows v = start … stop−1 as [B, 3, 5, 224, 224] (a view: the
    caller's ``.float()`` makes the one copy, in uint8 this stays 4x cheaper than stacking floats)."""
    return frames[start : stop + T - 1].unfold(0, T, 1).permute(0, 1, 4, 2, 3)  # (B, 3, 5, H, W)


# ---------------------------------------------------------------------------------------------------- distances


def calc_pdist(video_feat: Tensor, audio_feat: Tensor, vshift: int = VSHIFT) -> Tensor:
    """Distances [V, 2·vshift+1] from video feature v to audio features v−vshift … v+vshift (zero rows outside)."""
    if video_feat.shape != audio_feat.shape:
        raise ValueError(f"feature shapes differ: video {tuple(video_feat.shape)} vs audio {tuple(audio_feat.shape)}")
    win = 2 * vshift + 1
    padded = F.pad(audio_feat, (0, 0, vshift, vshift))  # zero rows at both ends, as the reference
    rows = [F.pairwise_distance(video_feat[[i]].repeat(win, 1), padded[i : i + win]) for i in range(len(video_feat))]
    return torch.stack(rows) if rows else video_feat.new_zeros((0, win))


@dataclass
class SyncScore:
    """One scored track: LSE-D (min of the mean distance curve), LSE-C (median − min) and the AV offset."""

    lse_d: float
    lse_c: float
    offset: int
    n_windows: int
    mdist: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sync_score(video_feat: Tensor, audio_feat: Tensor, vshift: int = VSHIFT) -> SyncScore:
    """LSE-D, LSE-C and offset from per-window features [V, D] of both streams (V ≥ 1)."""
    if len(video_feat) == 0:
        raise ValueError("no window to score (the track is shorter than 6 frames or has no audio under it)")
    dists = calc_pdist(video_feat.float(), audio_feat.float(), vshift)
    mdist = dists.mean(0)  # (31,)
    minval, minidx = torch.min(mdist, 0)
    conf = torch.median(mdist) - minval  # 31 values: the true median
    return SyncScore(
        lse_d=float(minval),
        lse_c=float(conf),
        offset=int(vshift - int(minidx)),
        n_windows=len(video_feat),
        mdist=[float(x) for x in mdist],
    )


# ---------------------------------------------------------------------------------------------------- face tracks


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    xa, ya, xb, yb = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, xb - xa) * max(0.0, yb - ya)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class Track:
    """A face track: consecutive frame indices and one (interpolated) box per frame."""

    frames: np.ndarray  # [L] int
    boxes: np.ndarray  # [L, 4] x1, y1, x2, y2
    n_detections: int

    @property
    def first(self) -> int:
        return int(self.frames[0])

    @property
    def last(self) -> int:
        return int(self.frames[-1])

    def __len__(self) -> int:
        return len(self.frames)


def track_faces(
    detections: Sequence[Sequence[np.ndarray]],
    min_track: int = DEFAULT_MIN_TRACK,
    min_face_size: float = DEFAULT_MIN_FACE_SIZE,
    num_failed_det: int = NUM_FAILED_DET,
    iou_threshold: float = IOU_THRESHOLD,
) -> list[Track]:
    """run_pipeline's ``track_shot``: greedy IoU linking of per-frame detections into face tracks.

    Args:
        detections: per frame, the boxes found (x1, y1, x2, y2).
        min_track: a track is kept when it has **more than** this many detections (the reference's ``>``).
        min_face_size: and when the larger of its mean box width and mean box height exceeds this (pixels).
    Returns:
        Tracks in the order found, each spanning first … last detection with boxes interpolated in between.
    """
    remaining = [[np.asarray(b, np.float64)[:4] for b in frame] for frame in detections]
    tracks: list[Track] = []
    while True:
        track: list[tuple[int, np.ndarray]] = []
        for f, faces in enumerate(remaining):
            for i, box in enumerate(faces):
                if not track:
                    track.append((f, box))
                    faces.pop(i)
                    break
                if f - track[-1][0] <= num_failed_det:
                    if iou(box, track[-1][1]) > iou_threshold:
                        track.append((f, box))
                        faces.pop(i)
                        break
                else:
                    break
            if track and f - track[-1][0] > num_failed_det:
                break
        if not track:
            return tracks
        if len(track) > min_track:
            frames = np.array([f for f, _ in track])
            boxes = np.stack([b for _, b in track])
            span = np.arange(frames[0], frames[-1] + 1)
            interp = np.stack([np.interp(span, frames, boxes[:, j]) for j in range(4)], axis=1)
            size = max(np.mean(interp[:, 2] - interp[:, 0]), np.mean(interp[:, 3] - interp[:, 1]))
            if size > min_face_size:
                tracks.append(Track(span, interp, len(track)))


def crop_track(frames: Sequence[np.ndarray], track: Track, size: int = CROP_SIZE) -> np.ndarray:
    """run_pipeline's ``crop_video`` geometry → [L, size, size, 3] uint8 BGR crops of the track's frames."""
    from scipy.signal import medfilt

    b = track.boxes
    s = medfilt(np.maximum(b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]) / 2, kernel_size=MEDFILT)
    y = medfilt((b[:, 1] + b[:, 3]) / 2, kernel_size=MEDFILT)
    x = medfilt((b[:, 0] + b[:, 2]) / 2, kernel_size=MEDFILT)
    out = np.empty((len(track), size, size, 3), np.uint8)
    for i, f in enumerate(track.frames):
        bs = s[i]
        bsi = int(bs * (1 + 2 * CROP_SCALE))  # padding that keeps every crop inside the canvas
        padded = cv2.copyMakeBorder(frames[f], bsi, bsi, bsi, bsi, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
        my, mx = y[i] + bsi, x[i] + bsi
        face = padded[
            int(my - bs) : int(my + bs * (1 + 2 * CROP_SCALE)),
            int(mx - bs * (1 + CROP_SCALE)) : int(mx + bs * (1 + CROP_SCALE)),
        ]
        if face.size == 0:
            raise ValueError(f"empty LSE crop at frame {f} (box half-size {bs:.1f})")
        out[i] = cv2.resize(face, (size, size))
    return out


def resize_crops(frames: Sequence[np.ndarray], size: int = CROP_SIZE) -> np.ndarray:
    """Pre-cropped mode: every frame resized to size x size (Wav2Lip's ``SyncNetInstance_calc_scores``)."""
    return np.stack([cv2.resize(f, (size, size)) for f in frames])


# ---------------------------------------------------------------------------------------------------- scoring


class SyncScorer:
    """Runs `SyncNetLSE` over 224x224 crops and their audio (the reference batches 20 windows at a time).

    Args:
        net: a loaded `SyncNetLSE` (eval mode), e.g. `load_syncnet_lse("syncnet_v2.model")`.
    """

    def __init__(self, net: torch.nn.Module, device: str | torch.device = "cpu", batch_size: int = 20) -> None:
        self.net = net.eval().to(device)
        self.device = torch.device(device)
        self.batch_size = batch_size

    @torch.no_grad()
    def features(self, crops: np.ndarray, samples: np.ndarray) -> tuple[Tensor, Tensor]:
        """Per-window video and audio features [V, 1024] of crops [N, 224, 224, 3] uint8 BGR and int16 audio."""
        count = n_windows(len(crops), len(samples))
        cc = audio_windows(mfcc(samples), count) if count else torch.zeros(0, 1, 13, MFCC_WINDOW)
        frames = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2)  # (N, 3, H, W) uint8 BGR
        vfeat, afeat = [], []
        for i in range(0, count, self.batch_size):
            j = min(count, i + self.batch_size)
            video = video_windows(frames, i, j).to(self.device).float()  # raw 0–255, as the reference
            vfeat.append(self.net.forward_lip(video).cpu())
            afeat.append(self.net.forward_aud(cc[i:j].to(self.device)).cpu())
        if not vfeat:
            return torch.zeros(0, 1024), torch.zeros(0, 1024)
        return torch.cat(vfeat), torch.cat(afeat)

    def score(self, crops: np.ndarray, samples: np.ndarray, vshift: int = VSHIFT) -> SyncScore:
        return sync_score(*self.features(crops, samples), vshift=vshift)


@dataclass
class VideoSync:
    """LSE of one video: the score of its longest track, plus every track's score (the reference prints one
    line per track, Wav2Lip #579; a video without a usable track has ``score`` None and a ``reason``)."""

    path: str
    score: SyncScore | None
    tracks: list[dict[str, Any]]
    n_frames: int
    min_track: int
    mode: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return d


def detect_all(frames: Sequence[np.ndarray], detector: Any) -> list[list[np.ndarray]]:
    """Every face box of every frame (a `FaceDetector`)."""
    return [[b.as_array() for b in detector.detect(f)] for f in frames]


class LSEEvaluator:
    """LSE-D / LSE-C of whole videos: decode at 25 fps, find face tracks (or take pre-cropped frames), score.

    Args:
        syncnet: a `SyncNetLSE` or the path of ``syncnet_v2.model`` (missing → `MissingWeightsError`).
        mode: "track" (face tracks in full frames, the reference's run_pipeline) or "cropped".
        min_track: keep tracks with more than this many detections (reference 100; 25 keeps 2–3 s clips).
        min_face_size: mean box side in pixels a track must exceed (reference 100 on S3FD boxes).
    """

    def __init__(
        self,
        syncnet: torch.nn.Module | Path | str,
        mode: Mode = "track",
        min_track: int = DEFAULT_MIN_TRACK,
        min_face_size: float = DEFAULT_MIN_FACE_SIZE,
        device: str | torch.device = "cpu",
        batch_size: int = 20,
        detector: Any = None,
    ) -> None:
        if not isinstance(syncnet, torch.nn.Module):
            from emotalk.models.weights import load_syncnet_lse

            syncnet = load_syncnet_lse(syncnet)
        if mode not in ("track", "cropped"):
            raise ValueError(f"mode must be 'track' or 'cropped', got {mode!r}")
        self.scorer = SyncScorer(syncnet, device, batch_size)
        self.mode = mode
        self.min_track = min_track
        self.min_face_size = min_face_size
        self._detector = detector

    @property
    def detector(self) -> Any:
        if self._detector is None:
            from emotalk.video.faces import FaceDetector

            self._detector = FaceDetector(max_side=DETECT_MAX_SIDE)
        return self._detector

    def settings(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "min_track": self.min_track,
            "min_face_size": self.min_face_size,
            "vshift": VSHIFT,
            "fps": FPS,
        }

    def tracks(
        self, frames: Sequence[np.ndarray], detections: Sequence[Sequence[np.ndarray]] | None = None
    ) -> list[Track]:
        if self.mode == "cropped":
            return [Track(np.arange(len(frames)), np.zeros((len(frames), 4)), len(frames))]
        dets = detect_all(frames, self.detector) if detections is None else detections
        return track_faces(dets, self.min_track, self.min_face_size)

    def score_frames(
        self,
        frames: Sequence[np.ndarray],
        samples: np.ndarray,
        path: str = "<frames>",
        detections: Sequence[Sequence[np.ndarray]] | None = None,
    ) -> VideoSync:
        """Score 25 fps BGR frames against their int16 16 kHz audio (``detections`` saves re-detecting)."""
        tracks = self.tracks(frames, detections)
        results = []
        for tr in tracks:
            crops = crop_track(frames, tr) if self.mode == "track" else resize_crops(frames)
            audio = samples[tr.first * SAMPLES_PER_FRAME : (tr.last + 1) * SAMPLES_PER_FRAME]
            if n_windows(len(crops), len(audio)) == 0:
                continue
            sc = self.scorer.score(crops, audio)
            results.append({"first": tr.first, "last": tr.last, "n_detections": tr.n_detections, **sc.to_dict()})
        best = max(results, key=lambda r: r["last"] - r["first"], default=None)
        reason = ""
        if best is None:
            reason = (
                f"no face track with more than {self.min_track} detections and a face above "
                f"{self.min_face_size:g} px in {len(frames)} frames"
                if self.mode == "track"
                else f"only {len(frames)} frames"
            )
        score = None
        if best is not None:
            score = SyncScore(best["lse_d"], best["lse_c"], best["offset"], best["n_windows"], best["mdist"])
        return VideoSync(path, score, results, len(frames), self.min_track, self.mode, reason)

    def score_video(self, path: Path | str) -> VideoSync:
        """Decode `path` at 25 fps (re-timed like run_pipeline), read its audio as int16 16 kHz, score."""
        from emotalk.video.decode import read_frames

        frames = read_frames(path, fps=FPS)
        return self.score_frames(list(frames), read_audio_int16(path), str(path))


def mean_over_videos(results: Sequence[VideoSync]) -> dict[str, float]:
    """The reference's data set score: arithmetic means of LSE-D and LSE-C over scored videos."""
    scored = [r.score for r in results if r.score is not None]
    if not scored:
        return {"lse_d": math.nan, "lse_c": math.nan, "n": 0}
    return {
        "lse_d": float(np.mean([s.lse_d for s in scored])),
        "lse_c": float(np.mean([s.lse_c for s in scored])),
        "n": len(scored),
    }
