"""LRS2 layout: `<root>/main/<speaker>/<clip>.mp4` and the `train.txt / val.txt / test.txt` filelists.

Filelist entries are `speaker/clip`; only the first whitespace token of a line counts (LRS2's test.txt adds a
second column), a leading `main/` and a video suffix are tolerated. The split of a clip is the filelist that
names it (first one wins: train, val, test, then any others); a clip in no filelist is still preprocessed,
with split None, as Wav2Lip's preprocess.py does with every video under main/. Filelists are looked for in
`<root>` and `<root>/filelists` (Wav2Lip's place), unless given explicitly with `--split-file`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from emotalk.data.listing import SourceClip, SourceProblem, dedupe, find_videos, safe_id

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test")


def read_filelist(path: Path | str) -> list[str]:
    """Entries of a filelist: first token of each non-empty, non-comment line, as `speaker/clip`."""
    out = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        tok = line.split()[0] if line.split() else ""
        if not tok or tok.startswith("#"):
            continue
        tok = tok.replace("\\", "/").strip("/")
        if tok.startswith("main/"):
            tok = tok[len("main/") :]
        stem, dot, suffix = tok.rpartition(".")
        if dot and "/" not in suffix and suffix.lower() in {"mp4", "mov", "mkv", "avi", "webm", "flv"}:
            tok = stem
        out.append(tok)
    return out


def find_filelists(root: Path | str) -> dict[str, Path]:
    """`{split: path}` for the standard filelists present in `root` or `root/filelists`."""
    root = Path(root)
    found = {}
    for split in SPLITS:
        for folder in (root, root / "filelists"):
            if (folder / f"{split}.txt").is_file():
                found[split] = folder / f"{split}.txt"
                break
    return found


def list_lrs2(
    root: Path | str, split_files: dict[str, Path] | None = None
) -> tuple[list[SourceClip], list[SourceProblem]]:
    """Clips under `root/main` (or `root` itself when it has no main/), clip id `<speaker>_<clip>`."""
    root = Path(root)
    main = root / "main" if (root / "main").is_dir() else root
    clips = []
    for p in find_videos(main, recursive=True):
        rel = p.relative_to(main).with_suffix("")
        if len(rel.parts) != 2:
            continue  # not main/<speaker>/<clip>
        speaker, name = rel.parts
        clips.append(
            SourceClip(
                clip_id=safe_id(f"{speaker}_{name}"), path=p, dataset="lrs2", actor=speaker, key=f"{speaker}/{name}"
            )
        )
    clips, problems = dedupe(clips)
    lists = dict(split_files) if split_files else find_filelists(root)
    if not lists:
        log.warning("no LRS2 filelists (train.txt/val.txt/test.txt) in %s: every clip gets split None", root)
    order = [s for s in SPLITS if s in lists] + [s for s in lists if s not in SPLITS]
    by_key = {c.key: i for i, c in enumerate(clips)}
    split_of: dict[int, str] = {}
    for split in order:
        for entry in read_filelist(lists[split]):
            i = by_key.get(entry)
            if i is None:
                problems.append(
                    SourceProblem(
                        safe_id(entry.replace("/", "_")),
                        main / f"{entry}.mp4",
                        "missing",
                        f"{entry} is listed in {lists[split]} but {main / entry}.mp4 does not exist",
                    )
                )
            elif i in split_of and split_of[i] != split:
                log.warning("%s is in both %s and %s filelists; keeping %s", entry, split_of[i], split, split_of[i])
            else:
                split_of[i] = split
    clips = [replace(c, split=split_of[i]) if i in split_of else c for i, c in enumerate(clips)]
    return clips, problems
