"""What listing a data set yields (`SourceClip`, `SourceProblem`) and the naming helpers every lister shares.

The listers (data/sources.py for CREMA-D and plain folders, data/lrs2.py, data/grid.py) import this module, and
data/sources.py dispatches to them, so no two of them import each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: Containers taken as videos when listing a folder (content is checked later with ffmpeg, not by the name).
VIDEO_SUFFIXES: tuple[str, ...] = (
    ".flv",
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".3gp",
    ".ts",
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class SourceClip:
    """One video to preprocess and the labels that go into its `ClipMeta`."""

    clip_id: str
    path: Path
    dataset: str
    actor: str
    key: str  # the name a split filelist uses for this clip (LRS2 `speaker/clip`, CREMA-D stem, folder rel. path)
    sentence: str | None = None
    emotion: str | None = None
    level: str | None = None
    split: str | None = None
    audio_fallback: Path | None = None  # used only when the video has no audio track
    extra: dict = field(default_factory=dict, hash=False, compare=False)  # goes into ClipMeta.extra (GRID words)


@dataclass(frozen=True)
class SourceProblem:
    """A file that cannot become a clip for a reason found while listing."""

    clip_id: str
    path: Path
    kind: str
    reason: str


def safe_id(text: str) -> str:
    """A clip id usable as a folder name: runs of other characters become '_' (no leading dot)."""
    return _UNSAFE.sub("_", text).strip("_").lstrip(".") or "clip"


def is_video_name(path: Path) -> bool:
    """A visible file with a video container's suffix (content is checked later, by ffmpeg)."""
    return path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def find_videos(folder: Path, recursive: bool) -> list[Path]:
    """The video files in `folder` (and below it when `recursive`), sorted by path."""
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and is_video_name(p))


def dedupe(clips: Iterable[SourceClip]) -> tuple[list[SourceClip], list[SourceProblem]]:
    """Keep the first file of each clip id (inputs come sorted, `.flv` before other suffixes for CREMA-D)."""
    seen: dict[str, SourceClip] = {}
    problems = []
    for c in clips:
        if c.clip_id in seen:
            problems.append(
                SourceProblem(
                    c.clip_id, c.path, "duplicate", f"clip id {c.clip_id!r} is also used by {seen[c.clip_id].path}"
                )
            )
        else:
            seen[c.clip_id] = c
    return sorted(seen.values(), key=lambda c: c.clip_id), problems
