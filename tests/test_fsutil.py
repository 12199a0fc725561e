"""Atomic writes (fsutil.py): a reader sees the old file or the new one, and a failed write leaves no debris."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emotalk.fsutil import atomic_path, write_bytes, write_json, write_text


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = write_text(tmp_path / "state.json", "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_writers_replace_the_target_and_name_the_temporary_for_the_sweeps(tmp_path: Path) -> None:
    seen = []
    with atomic_path(tmp_path / "sub" / "a.png", suffix=".png", mkdir=True) as tmp:
        seen.append(tmp.name)
        tmp.write_bytes(b"png")
    # hidden, in the target's folder, ".tmp" before the suffix: the `.*.tmp` sweeps of resumable runs find it
    assert seen[0].startswith(".a.png.") and seen[0].endswith(".tmp.png") and tmp.parent == tmp_path / "sub"
    assert write_bytes(tmp_path / "b", b"\x00\x01").read_bytes() == b"\x00\x01"
    path = write_json(tmp_path / "c.json", {"p": Path("x")}, indent=None, default=str, fsync=True)
    assert json.loads(path.read_text()) == {"p": "x"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "c.json", "sub"]
