"""Test inputs for the face gating (issue #14), built from the real media of shared/media in a tmp folder:
hard cuts between real clips, two talking faces side by side, faces too small or squeezed, face-less stretches."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from emotalk.audio.load import load_audio, write_wav
from emotalk.video.decode import read_frames
from emotalk.video.encode import SegmentEncoder, mux

FPS = Fraction(30000, 1001)
SR = 16000


def media_frames(path: Path, n: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """The first `n` frames of `path`, resized to `size` (w, h) when given."""
    frames = read_frames(path)[:n]
    if size is not None:
        frames = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
    return frames


def own_audio(path: Path, n_frames: int, offset_frames: int = 0) -> np.ndarray:
    """`n_frames` frames' worth of `path`'s own audio at 16 kHz (zero-padded past its end)."""
    wav = load_audio(path)
    a = round(offset_frames / float(FPS) * SR)
    piece = wav[a : a + round(n_frames / float(FPS) * SR)]
    return np.pad(piece, (0, round(n_frames / float(FPS) * SR) - len(piece)))


def write_clip(folder: Path, name: str, frames: np.ndarray | list[np.ndarray], wav: np.ndarray | None) -> Path:
    """Frames (H.264, CRF 12, 29.97 fps) and, when given, 16 kHz audio muxed into `folder/name`."""
    h, w = frames[0].shape[:2]
    enc = SegmentEncoder(folder / f"{name}.v.mp4", w, h, FPS, crf=12)
    for f in frames:
        enc.write(np.ascontiguousarray(f))
    enc.close()
    if wav is None:
        return (folder / f"{name}.v.mp4").rename(folder / name)
    write_wav(folder / f"{name}.wav", wav)
    return mux([folder / f"{name}.v.mp4"], folder / f"{name}.wav", folder / name)


def letterbox(frame: np.ndarray, w: int, h: int, fill: int = 40) -> np.ndarray:
    """`frame` scaled to fit w x h, centred on a flat background."""
    fh, fw = frame.shape[:2]
    s = min(w / fw, h / fh)
    small = cv2.resize(frame, (max(1, round(fw * s)), max(1, round(fh * s))), interpolation=cv2.INTER_AREA)
    out = np.full((h, w, 3), fill, np.uint8)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def placed(frame: np.ndarray, w: int, h: int, scale: tuple[float, float], fill: int = 40) -> np.ndarray:
    """`frame` resized by (sx, sy) and centred on a flat w x h background (a small or squeezed face)."""
    fh, fw = frame.shape[:2]
    small = cv2.resize(frame, (round(fw * scale[0]), round(fh * scale[1])), interpolation=cv2.INTER_AREA)
    return letterbox(small, w, h, fill) if small.shape[1] > w or small.shape[0] > h else _centre(small, w, h, fill)


def _centre(img: np.ndarray, w: int, h: int, fill: int) -> np.ndarray:
    out = np.full((h, w, 3), fill, np.uint8)
    y, x = (h - img.shape[0]) // 2, (w - img.shape[1]) // 2
    out[y : y + img.shape[0], x : x + img.shape[1]] = img
    return out


def no_face_frame(like: np.ndarray, seed: int) -> np.ndarray:
    """A real frame without a face: the clip's top-left background corner, blown up, with slight noise."""
    h, w = like.shape[:2]
    corner = like[: h // 4, : w // 4]
    out = cv2.resize(corner, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.int16)
    out += np.random.default_rng(seed).integers(-3, 4, out.shape, dtype=np.int16)
    return np.clip(out, 0, 255).astype(np.uint8)
