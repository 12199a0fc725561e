"""Atomic file writes: a temporary name beside the target, then one rename (style.md "Errors").

A reader (the web app polling a job, a resumed run checking what is done) sees the old file or the new one, never
half of one. The temporary name starts with a dot and ends in ``.tmp`` (before `suffix`), so the folder listings
that skip hidden files skip it, and the stale-file sweeps of resumable runs (``.*.tmp``) find what a killed run left.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def temp_beside(path: Path, suffix: str = "") -> Path:
    """A hidden temporary name in `path`'s folder, unique per process and thread (`suffix` for writers that read
    the format from the name, e.g. ``.png`` for OpenCV)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp{suffix}")


@contextmanager
def atomic_path(path: Path | str, suffix: str = "", mkdir: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; when the block succeeds it is renamed over `path`, when it fails removed.

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "a.txt").read_text(), [p.name for p in d.iterdir()]
    ('done', ['a.txt'])
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path | str, write: Callable[[Path], object], suffix: str = "", mkdir: bool = False) -> Path:
    """Call `write(tmp)` and rename the result over `path`; returns `path`."""
    with atomic_path(path, suffix, mkdir) as tmp:
        write(tmp)
    return Path(path)


def write_text(path: Path | str, text: str, mkdir: bool = False) -> Path:
    """Write `text` (UTF-8) atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), mkdir=mkdir)


def write_bytes(path: Path | str, data: bytes, mkdir: bool = False) -> Path:
    """Write `data` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_bytes(data), mkdir=mkdir)


def write_json(
    path: Path | str,
    data: Any,
    indent: int | None = 2,
    default: Callable[[Any], Any] | None = None,
    fsync: bool = False,
) -> Path:
    """Write `data` as JSON atomically; `fsync` also flushes it to disk before the rename (state that must survive a
    power cut, such as a job's status)."""

    def dump(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=indent, default=default)
            if fsync:
                f.flush()
                os.fsync(f.fileno())

    return write_atomic(path, dump)
