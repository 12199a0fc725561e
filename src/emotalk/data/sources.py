"""The clips of each data set, before preprocessing: which file, which clip id, which labels.

    crema_d   <root>/VideoFlash/<Actor>_<Sentence>_<Emotion>_<Level>.flv (any video suffix); labels from the name;
              audio from the video's own track, else <root>/AudioWAV/<stem>.wav
    lrs2      <root>/main/<speaker>/<clip>.mp4 with <root>/{train,val,test}.txt filelists (data/lrs2.py)
    grid      <root>/<speaker>/video/<id>.mp4 (or <speaker>/<id>.mpg) + <speaker>/align/<id>.align (data/grid.py)
    folder    any folder of videos, searched recursively; actor = the parent folder's name; no labels

Listing never opens a file: problems of content (empty, corrupt, no audio) are found by the preprocessor and
reported per clip. Problems of naming (a CREMA-D name that does not parse, two files with one clip id) are
returned as `SourceProblem`s, so they reach the same failure report instead of being skipped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from emotalk.cremad import parse_name
from emotalk.data.grid import list_grid
from emotalk.data.listing import (
    VIDEO_SUFFIXES,
    SourceClip,
    SourceProblem,
    dedupe,
    find_videos,
    safe_id,
)
from emotalk.data.lrs2 import list_lrs2, read_filelist
from emotalk.errors import EmotalkError

DATASETS: tuple[str, ...] = ("crema_d", "lrs2", "grid", "folder")


def list_crema_d(root: Path | str) -> tuple[list[SourceClip], list[SourceProblem]]:
    """CREMA-D videos under `root/VideoFlash` (or `root` itself when it holds the videos directly)."""
    root = Path(root)
    vdir = root / "VideoFlash" if (root / "VideoFlash").is_dir() else root
    adir = root / "AudioWAV"
    # .flv first, so the official file wins over a converted copy with the same stem
    files = sorted(find_videos(vdir, recursive=False), key=lambda p: (p.stem, p.suffix.lower() != ".flv", p.name))
    clips, problems = [], []
    for p in files:
        try:
            name = parse_name(p.stem)
        except ValueError as exc:
            problems.append(SourceProblem(safe_id(p.stem), p, "bad_name", str(exc)))
            continue
        wav = adir / f"{p.stem}.wav"
        clips.append(
            SourceClip(
                clip_id=p.stem,
                path=p,
                dataset="crema_d",
                actor=name.actor,
                key=p.stem,
                sentence=name.sentence,
                emotion=name.emotion,
                level=name.level,
                audio_fallback=wav if wav.is_file() else None,
            )
        )
    kept, dups = dedupe(clips)
    return kept, problems + dups


def list_folder(root: Path | str) -> tuple[list[SourceClip], list[SourceProblem]]:
    """Every video under `root` (recursive). Clip id = the relative path without suffix, '/' → '_'."""
    root = Path(root)
    clips = []
    for p in find_videos(root, recursive=True):
        rel = p.relative_to(root).with_suffix("")
        clips.append(
            SourceClip(
                clip_id=safe_id("_".join(rel.parts)),
                path=p,
                dataset="folder",
                actor=p.parent.name if p.parent != root else root.resolve().name,
                key=rel.as_posix(),
            )
        )
    return dedupe(clips)


def parse_split_files(specs: Sequence[str]) -> dict[str, Path]:
    """`--split-file` values `NAME=PATH` or `PATH` (split name = the file's stem, e.g. val.txt → val)."""
    out: dict[str, Path] = {}
    for s in specs:
        name, sep, path = s.partition("=")
        if not sep:
            name, path = Path(s).stem, s
        p = Path(path)
        if not p.is_file():
            raise EmotalkError(f"split file not found: {p} (give --split-file NAME=PATH or PATH)")
        out[name] = p
    return out


def apply_split_files(
    clips: list[SourceClip], split_files: dict[str, Path]
) -> tuple[list[SourceClip], list[SourceProblem]]:
    """Set `split` from filelists whose entries (first token per line) are clip keys.

    Entries that match no listed clip are reported as problems of kind `missing`.
    """
    by_key = {c.key: i for i, c in enumerate(clips)}
    out = list(clips)
    problems = []
    for split, path in split_files.items():
        for entry in read_filelist(path):
            i = by_key.get(entry)
            if i is None:
                problems.append(
                    SourceProblem(
                        safe_id(entry.replace("/", "_")),
                        path,
                        "missing",
                        f"{entry} is listed in {path} but no video was found for it",
                    )
                )
            elif out[i].split is None:
                out[i] = replace(out[i], split=split)
    return out, problems


def list_sources(
    dataset: str, root: Path | str, split_files: dict[str, Path] | None = None
) -> tuple[list[SourceClip], list[SourceProblem]]:
    """The clips of `dataset` under `root`, sorted by clip id, and the naming problems found on the way.

    Raises:
        EmotalkError: unknown data set, missing folder, or no video at all.
    """
    root = Path(root)
    if dataset not in DATASETS:
        raise EmotalkError(f"unknown data set {dataset!r}: use one of {', '.join(DATASETS)}")
    if not root.is_dir():
        raise EmotalkError(f"input folder not found: {root}")
    if dataset == "crema_d":
        clips, problems = list_crema_d(root)
    elif dataset == "lrs2":
        clips, problems = list_lrs2(root, split_files)
        split_files = None  # list_lrs2 has used them
    elif dataset == "grid":
        clips, problems = list_grid(root)
    else:
        clips, problems = list_folder(root)
    if split_files:
        clips, more = apply_split_files(clips, split_files)
        problems += more
    if not clips and not problems:
        where = {
            "crema_d": f"{root}/VideoFlash/<Actor>_<Sentence>_<Emotion>_<Level>.flv",
            "lrs2": f"{root}/main/<speaker>/<clip>.mp4",
            "grid": f"{root}/<speaker>/video/<id>.mp4 with {root}/<speaker>/align/<id>.align",
            "folder": f"{root}/**/*{{{','.join(VIDEO_SUFFIXES)}}}",
        }[dataset]
        raise EmotalkError(f"no videos found for --dataset {dataset}: expected {where}")
    return clips, problems
