"""GRID layout: word alignments, the sentence split, listing both corpus layouts, and preprocessing real clips."""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from emotalk.data.clips import read_manifest
from emotalk.data.grid import list_grid, read_align, sentence_split, silent_spans, transcript
from emotalk.data.sources import list_sources


@pytest.fixture(scope="module")
def grid(datasets: Path, missing_resource) -> Path:
    grid = datasets / "grid"
    if not (grid / "s1" / "align").is_dir():
        missing_resource(f"GRID corpus not found at {grid} (set EMOTALK_SHARED to the shared/ folder)")
    return grid


def test_align_words_and_silences_in_frames(grid: Path) -> None:
    words = read_align(grid / "s1" / "align" / "bbaf2n.align")
    assert transcript(words) == "bin blue at f two now"
    # 23750 / 1000 = 23.75 -> frame 24; 53000 -> 53; 74500 -> 74.5 -> 74 (banker's rounding of .5 is fine: <1 frame)
    assert silent_spans(words) == [[0, 24], [53, 74]]
    assert [(w.start, w.end) for w in words if w.word == "blue"] == [(30, 34)]


def test_adjacent_silences_merge(tmp_path: Path) -> None:
    p = tmp_path / "x.align"
    p.write_text("0 10000 sil\n10000 20000 sp\n20000 30000 bin\n30000 40000 sp\n")
    assert silent_spans(read_align(p)) == [[0, 20], [30, 40]]


def test_bad_align_line_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    spk = tmp_path / "s9"
    (spk / "align").mkdir(parents=True)
    (spk / "aaaa1a.mpg").write_bytes(b"x")
    (spk / "bbbb2b.mpg").write_bytes(b"x")
    (spk / "align" / "aaaa1a.align").write_text("0 1000\n")  # two fields
    clips, problems = list_grid(tmp_path)  # corpus root with one speaker using the corpus' own <spk>/*.mpg layout
    assert clips == []
    assert sorted(p.kind for p in problems) == ["bad_align", "no_align"]


def test_sentence_split_is_stable_and_sentence_disjoint(grid: Path) -> None:
    clips, problems = list_sources("grid", grid)
    assert not problems and len(clips) == 900
    by_sentence: dict[str, set[str]] = defaultdict(set)
    for c in clips:
        by_sentence[c.sentence or ""].add(c.split or "")
        assert c.split == sentence_split(c.sentence or "")
        assert c.extra["silences"] and c.extra["words"]
    assert all(len(s) == 1 for s in by_sentence.values())  # no sentence in two splits
    counts = {s: sum(c.split == s for c in clips) for s in ("train", "val", "test")}
    assert 60 <= counts["test"] <= 120 and 25 <= counts["val"] <= 75, counts


def test_several_speakers_split_by_speaker(grid: Path, tmp_path: Path) -> None:
    for spk in ("s1", "s2"):
        (tmp_path / spk / "video").mkdir(parents=True)
        (tmp_path / spk / "align").mkdir()
        for name in ("bbaf2n", "bbaf3s"):
            shutil.copy(grid / "s1" / "align" / f"{name}.align", tmp_path / spk / "align")
            os.symlink(grid / "s1" / "video" / f"{name}.mp4", tmp_path / spk / "video" / f"{name}.mp4")
    clips, _ = list_grid(tmp_path)
    assert [c.clip_id for c in clips] == ["s1_bbaf2n", "s1_bbaf3s", "s2_bbaf2n", "s2_bbaf3s"]
    assert {c.split for c in clips} == {None}  # the data config's speaker lists decide
    assert {c.actor for c in clips} == {"s1", "s2"}


def test_preprocess_real_grid_clips_keeps_alignment(grid: Path, tmp_path: Path) -> None:
    from emotalk.cli import main as cli_main

    src = tmp_path / "grid" / "s1"
    (src / "video").mkdir(parents=True)
    (src / "align").mkdir()
    for name in ("bbaf2n", "pgak2n"):
        shutil.copy(grid / "s1" / "video" / f"{name}.mp4", src / "video")
        shutil.copy(grid / "s1" / "align" / f"{name}.align", src / "align")
    out = tmp_path / "pre"
    assert cli_main(["preprocess", "--dataset", "grid", "--input", str(tmp_path / "grid"), "--out", str(out)]) == 0
    metas = {m.clip_id: m for m in read_manifest(out)}
    assert set(metas) == {"s1_bbaf2n", "s1_pgak2n"}
    m = metas["s1_bbaf2n"]
    assert m.dataset == "grid" and m.actor == "s1" and m.emotion is None
    assert m.sentence == "bin blue at f two now" and m.split == sentence_split(m.sentence)
    assert m.extra["silences"][0] == [0, 24]
    assert m.n_noface == 0 and 70 <= m.n_frames <= 76
