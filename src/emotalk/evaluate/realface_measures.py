"""What the real-face protocol (realface.py) measures with: face clips in memory, speech pieces, the expert's
offset curve (`SyncJudge`) and the mouth opening (`MouthMeter`) behind the lip-leakage ratio."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from emotalk.data.clips import ClipMeta, clip_dir
from emotalk.spec import DEFAULT_SPEC, AVSpec

MAX_OFFSET = 15
IN_SYNC_TOLERANCE = 1  # frames
SILENCE_DB = 30.0  # a frame is silent when its RMS is this many dB below the clip's 95th percentile frame
#: Emotion models are also dubbed in these (emotion, strength) asks: the eye region may change only as far as the
#: emotion and its strength ask (issue #13 item 4); neutral must keep the source's eyes.
EMOTION_SWEEP = (("happy", 0.5), ("happy", 1.0), ("sad", 1.0))
#: The judge's reading of a perfect dub in another voice: the real frames against their own words with the pitch
#: and formants moved by these semitones (librosa's resampling shift; timing unchanged). A judge that heard one
#: voice loses confidence here although the mouth is the real one, which bounds what any dub can reach.
VOICE_SHIFTS = (-3.0, 3.0)


def sweep_key(emotion: str, strength: float) -> str:
    """The result key of one ask's eye-region SSIM (``eye_ssim_happy_0.5``)."""
    return f"eye_ssim_{emotion}_{strength:g}"


#: face-mesh landmarks: inner lip centres (upper, lower) and mouth corners
_LIP_IN, _CORNERS = (13, 14), (61, 291)


@dataclass
class FaceClip:
    """One preprocessed clip in memory (face frames only)."""

    clip_id: str
    actor: str
    faces: np.ndarray  # uint8 BGR [N, S, S, 3], frames with a face
    wav: np.ndarray  # float32 16 kHz mono
    fps: float
    silences: list[list[int]] = field(default_factory=list)  # [[start, end), ...] frames (GRID alignments)

    @classmethod
    def load(cls, root: Path | str, meta: ClipMeta) -> FaceClip:
        from emotalk.audio.load import load_audio

        d = clip_dir(root, meta.clip_id)
        has_face = np.load(d / "has_face.npy")
        faces = np.load(d / "faces.npy")
        if not has_face.all():  # keep the longest run of face frames: windows must be consecutive frames
            runs = np.split(np.arange(len(has_face)), np.flatnonzero(np.diff(has_face.astype(np.int8))) + 1)
            best = max((r for r in runs if has_face[r[0]]), key=len)
            faces = faces[best]
        return cls(
            meta.clip_id,
            meta.actor,
            faces,
            load_audio(d / "audio.wav"),
            meta.fps,
            [list(s) for s in meta.extra.get("silences", [])] if has_face.all() else [],
        )


def pingpong(n_frames: int, length: int) -> np.ndarray:
    """Frame indices that run back and forth over `n_frames` frames for `length` output frames (no jump cut)."""
    if n_frames <= 1:
        return np.zeros(length, np.int64)
    period = 2 * (n_frames - 1)
    k = np.arange(length) % period
    return np.where(k < n_frames, k, period - k).astype(np.int64)


def mel_windows(wav: np.ndarray, n_frames: int, fps: float, spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    from emotalk.infer.audio import MelSource

    return MelSource(wav, fps, spec).windows(range(n_frames))


def other_voice(wav: np.ndarray, semitones: float, spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    """`wav` spoken `semitones` higher (pitch and formants together, duration kept)."""
    import librosa

    y = librosa.effects.pitch_shift(np.asarray(wav, np.float32), sr=spec.sample_rate, n_steps=semitones)
    return y.astype(np.float32, copy=False)


def frame_loudness(wav: np.ndarray, n_frames: int, fps: float, spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    from emotalk.infer.audio import MelSource

    src = MelSource(wav, fps, spec)
    return np.array([src.rms_db(i) for i in range(n_frames)])


def silent_frames(loudness_db: np.ndarray, below: float = SILENCE_DB) -> np.ndarray:
    finite = loudness_db[np.isfinite(loudness_db)]
    if finite.size == 0:
        return np.ones(len(loudness_db), bool)
    return ~(loudness_db > np.percentile(finite, 95) - below)


def speech_chunks(paths: Sequence[Path], chunk_s: float = 3.0, min_s: float = 1.5) -> list[tuple[str, np.ndarray]]:
    """Each speech file cut into pieces of `chunk_s` seconds (a tail shorter than `min_s` is dropped)."""
    from emotalk.audio.load import load_audio

    sr = DEFAULT_SPEC.sample_rate
    out = []
    for p in paths:
        wav = load_audio(p, sr)
        step = int(chunk_s * sr)
        for i, s in enumerate(range(0, len(wav), step)):
            piece = wav[s : s + step]
            if len(piece) >= min_s * sr:
                out.append((f"{Path(p).stem}#{i}", piece))
    return out


# ---------------------------------------------------------------------------------------------------- sync judge


class SyncJudge:
    """The expert SyncNet's offset curve for frames and audio (cosine of the two embeddings)."""

    def __init__(self, expert: torch.nn.Module, spec: AVSpec = DEFAULT_SPEC, batch: int = 64) -> None:
        self.net, self.spec, self.batch = expert.eval(), spec, batch

    @torch.inference_mode()
    def face_embeddings(self, frames: np.ndarray) -> torch.Tensor:
        """Face embeddings of every T-frame window [n - T + 1, D]."""
        T = self.spec.T
        x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0).permute(3, 0, 1, 2)  # (3, N, S, S)
        wins = x.unfold(1, T, 1).permute(1, 0, 4, 2, 3)  # (N - T + 1, 3, T, S, S)
        return torch.cat([self.net.embed_face(wins[i : i + self.batch]) for i in range(0, len(wins), self.batch)])

    @torch.inference_mode()
    def audio_embeddings(self, mels: np.ndarray) -> torch.Tensor:
        """Audio embeddings of every frame's mel window [N, D]."""
        m = torch.from_numpy(np.ascontiguousarray(mels, dtype=np.float32)).unsqueeze(1)  # (N, 1, 80, 16)
        return torch.cat([self.net.embed_audio(m[i : i + self.batch]) for i in range(0, len(m), self.batch)])

    def curve(self, frames: np.ndarray, mels: np.ndarray, max_offset: int = MAX_OFFSET) -> np.ndarray:
        """Mean cosine over windows at each audio offset d in [-max_offset, max_offset] (positive: audio later)."""
        return self.curves(frames, [mels], max_offset)[0]

    def curves(
        self, frames: np.ndarray, tracks: Sequence[np.ndarray], max_offset: int = MAX_OFFSET
    ) -> list[np.ndarray]:
        """`curve` of the same frames against each of several mel tracks (the faces are embedded once)."""
        face = self.face_embeddings(frames)
        return [_offset_curve(face, self.audio_embeddings(mels), max_offset) for mels in tracks]


def _offset_curve(face: torch.Tensor, audio: torch.Tensor, max_offset: int) -> np.ndarray:
    n = len(face)
    out = np.full(2 * max_offset + 1, np.nan)
    for k, d in enumerate(range(-max_offset, max_offset + 1)):
        lo, hi = max(0, -d), min(n, len(audio) - d)
        if hi - lo >= 1:
            out[k] = float(torch.nn.functional.cosine_similarity(face[lo:hi], audio[lo + d : hi + d]).mean())
    return out


def offset_and_confidence(curve: np.ndarray) -> tuple[int, float]:
    valid = np.isfinite(curve)
    k = int(np.nanargmax(curve))
    max_offset = (len(curve) - 1) // 2
    return k - max_offset, float(np.nanmax(curve) - np.median(curve[valid]))


# ---------------------------------------------------------------------------------------------------- mouth opening


class MouthMeter:
    """Mouth opening of face crops: inner-lip gap over mouth width from `video.faces.FaceMesh` (NaN: no mesh).

    The inner lips (not the outer ones the gating's speaker check uses) read ~0 for a closed mouth, so silence
    shows as silence and the silence/speech ratio is not lifted by the lips' own thickness.
    """

    def __init__(self) -> None:
        from emotalk.video.faces import FaceMesh

        self.mesh = FaceMesh(grow=0.0)  # a crop already is the face box

    def __call__(self, crops_bgr: np.ndarray) -> np.ndarray:
        out = np.full(len(crops_bgr), np.nan)
        if len(crops_bgr):
            box = np.array([0.0, 0.0, crops_bgr.shape[2], crops_bgr.shape[1]])
            for i, crop in enumerate(crops_bgr):
                p = self.mesh.landmarks(crop, box)
                if p is not None:
                    gap = np.linalg.norm(p[_LIP_IN[1], :2] - p[_LIP_IN[0], :2])
                    out[i] = gap / max(float(np.linalg.norm(p[_CORNERS[1], :2] - p[_CORNERS[0], :2])), 1e-6)
        return out

    def close(self) -> None:
        self.mesh.close()


def leakage_ratio(opening: np.ndarray, silent: np.ndarray) -> float:
    """Mean opening in silent frames over mean opening in speech frames (NaN when either is missing)."""
    ok = np.isfinite(opening)
    s, v = opening[ok & silent], opening[ok & ~silent]
    if len(s) == 0 or len(v) == 0 or v.mean() <= 0:
        return float("nan")
    return float(s.mean() / v.mean())


def loudness_following(opening: np.ndarray, loudness_db: np.ndarray, max_lag: int = 2) -> float:
    """How closely the mouth follows the speech, without a sync judge: Pearson r between the mouth opening and
    the frame loudness (dB), the best over lags of up to `max_lag` frames (a mouth leads or trails its sound by a
    frame or two). Works for any voice, where an expert trained on one speaker's audio may not. NaN: too few
    frames with both."""
    rs = []
    n = min(len(opening), len(loudness_db))
    for lag in range(-max_lag, max_lag + 1):  # shift first, then drop the pairs with a gap: frames stay aligned
        a, b = (opening[lag:n], loudness_db[: n - lag]) if lag >= 0 else (opening[:lag], loudness_db[-lag:n])
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() >= 8 and a[ok].std() > 1e-9 and b[ok].std() > 1e-9:
            rs.append(float(np.corrcoef(a[ok], b[ok])[0, 1]))
    return max(rs, default=float("nan"))
