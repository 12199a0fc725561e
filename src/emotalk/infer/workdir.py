"""The resumable work folder of a dub (``.<name>.parts/`` beside the output): finished segments and their state.

``state.json`` holds the job's key (everything that shapes the output) and each finished segment's stats. A later
run with the same key continues after the contiguous prefix of segments whose files exist; any other key starts
afresh. Bad input removes the folder (nothing to resume); an interruption keeps it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emotalk.errors import ConfigError
from emotalk.fsutil import write_json
from emotalk.infer.stream import SegmentStats, part_path

log = logging.getLogger(__name__)

STATE_VERSION = 1


def work_dir_for(out: Path) -> Path:
    """The resumable work folder of `out`: ``.O.mp4.parts`` beside it."""
    return out.with_name(f".{out.name}.parts")


def file_id(path: Path) -> list[Any]:
    """What identifies an input file for a resume: its resolved path, size and modification time."""
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


class WorkFolder:
    """The work folder of `out` for the job `key`: the segments already done, and `segment_done` to add one."""

    def __init__(self, out: Path, key: dict[str, Any], on_segment: Callable[[SegmentStats], None] | None = None):
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the output folder {out.parent}: {exc.strerror or exc}") from None
        self.path = work_dir_for(out)
        self.key = json.loads(json.dumps({"version": STATE_VERSION, **key}))
        self.on_segment = on_segment
        try:
            self.done = resume(self.path, self.key)
            self.state = {"key": self.key, "segments": [s.to_dict() for s in self.done]}
            self._save()
        except OSError as exc:
            raise ConfigError(f"cannot write beside the output {out}: {exc.strerror or exc}") from None

    def _save(self) -> None:
        write_json(self.path / "state.json", self.state, default=str)

    def segment_done(self, stats: SegmentStats) -> None:
        """Record a finished segment (called from the encoder thread)."""
        self.state["segments"].append(stats.to_dict())
        self._save()
        if self.on_segment is not None:
            self.on_segment(stats)

    def segments(self) -> list[SegmentStats]:
        """Every finished segment, resumed ones first."""
        return [SegmentStats.from_dict(d) for d in self.state["segments"]]

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def resume(work: Path, key: dict[str, Any]) -> list[SegmentStats]:
    """Finished segments of an earlier run with the same key (a contiguous prefix whose files exist); the folder
    is made ready for the rest (later segments and temporary files removed)."""
    state_file = work / "state.json"
    done: list[SegmentStats] = []
    if state_file.is_file():
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("key") == key:
            for i, d in enumerate(state.get("segments", [])):
                try:
                    stats = SegmentStats.from_dict(d)
                except (KeyError, TypeError):
                    break
                if stats.index != i or not part_path(work, i).is_file():
                    break
                done.append(stats)
        else:
            log.info("%s holds another job's segments; starting afresh", work)
    if not done and work.exists():
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    for p in work.glob("part_*.mp4"):  # segments after the resumable prefix are redone
        with contextlib.suppress(ValueError):
            if int(p.stem.split("_")[1]) >= len(done):
                p.unlink()
    for p in work.glob(".*.tmp"):
        p.unlink(missing_ok=True)
    return done


__all__ = ["STATE_VERSION", "WorkFolder", "file_id", "resume", "work_dir_for"]
