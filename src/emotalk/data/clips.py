"""The on-disk format of one preprocessed clip, shared by preprocessing, the datamodule and evaluation.

    <root>/manifest.jsonl            one ClipMeta per finished clip
    <root>/failures.jsonl            {"clip_id", "source", "reason"} per clip that could not be processed
    <root>/clips/<clip_id>/faces.npy     uint8 [N, S, S, 3] BGR face crops (zeros where no face)
                          has_face.npy  bool [N]; frames keep their index, never renumbered
                          boxes.npy     float32 [N, 4] x1, y1, x2, y2 in source pixels (NaN: no face)
                          audio.wav     16 kHz mono PCM16
                          mel.npy       float32 [80, M] (audio/mel.py)
                          meta.json     ClipMeta (written last: its presence marks the clip finished)

A clip folder is built under a temporary name and renamed into place, so a killed run never leaves a
half-written clip, and a rerun skips every clip whose folder exists.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotalk.fsutil import write_text

CLIPS_DIR = "clips"
MANIFEST = "manifest.jsonl"
FAILURES = "failures.jsonl"


@dataclass
class ClipMeta:
    """One row of the manifest."""

    clip_id: str
    dataset: str  # crema_d | lrs2 | folder
    actor: str
    source: str
    n_frames: int
    n_noface: int
    fps: float = 25.0
    sentence: str | None = None
    emotion: str | None = None  # one of spec.EMOTIONS, or None for unlabelled data (LRS2, folders)
    level: str | None = None  # one of spec.LEVELS
    split: str | None = None  # set by a data set's own filelists (LRS2); CREMA-D splits by actor
    width: int | None = None
    height: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClipMeta:
        return cls(**d)


def clip_dir(root: Path | str, clip_id: str) -> Path:
    return Path(root) / CLIPS_DIR / clip_id


def is_done(root: Path | str, clip_id: str) -> bool:
    return (clip_dir(root, clip_id) / "meta.json").is_file()


def write_clip(
    root: Path | str,
    meta: ClipMeta,
    faces: np.ndarray,
    has_face: np.ndarray,
    boxes: np.ndarray,
    mel: np.ndarray,
    wav_writer: Any,
) -> Path:
    """Write one clip atomically. `wav_writer(path)` writes audio.wav into the temporary folder."""
    final = clip_dir(root, meta.clip_id)
    tmp = final.with_name(f".{meta.clip_id}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    np.save(tmp / "faces.npy", np.ascontiguousarray(faces, dtype=np.uint8))
    np.save(tmp / "has_face.npy", np.asarray(has_face, dtype=bool))
    np.save(tmp / "boxes.npy", np.asarray(boxes, dtype=np.float32))
    np.save(tmp / "mel.npy", np.asarray(mel, dtype=np.float32))
    wav_writer(tmp / "audio.wav")
    (tmp / "meta.json").write_text(meta.to_json())
    if final.exists():  # an earlier unfinished attempt without meta.json
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def read_meta(root: Path | str, clip_id: str) -> ClipMeta:
    return ClipMeta.from_dict(json.loads((clip_dir(root, clip_id) / "meta.json").read_text()))


def scan_clips(root: Path | str) -> list[ClipMeta]:
    """Every finished clip under `root`, sorted by id (reads meta.json files, so it works mid-run too)."""
    base = Path(root) / CLIPS_DIR
    if not base.is_dir():
        return []
    metas = []
    for d in sorted(base.iterdir()):
        if not d.name.startswith(".") and (d / "meta.json").is_file():
            metas.append(ClipMeta.from_dict(json.loads((d / "meta.json").read_text())))
    return metas


def write_manifest(root: Path | str, metas: list[ClipMeta]) -> Path:
    return write_text(Path(root) / MANIFEST, "".join(m.to_json() + "\n" for m in metas))


def read_manifest(root: Path | str) -> list[ClipMeta]:
    path = Path(root) / MANIFEST
    if not path.is_file():
        return scan_clips(root)
    return [ClipMeta.from_dict(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
