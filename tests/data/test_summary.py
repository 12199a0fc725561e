"""`emotalk data-summary`: counts that match the fixture, a readable sample grid, clear errors."""

from __future__ import annotations

import json

import cv2
import numpy as np

from emotalk.cli import main
from emotalk.spec import EMOTIONS


def test_summary_counts_match_the_fixture_and_the_grid_is_written(fake_crema, tmp_path, capsys):
    root, metas = fake_crema
    out = tmp_path / "summary"
    assert main(["data-summary", "--root", str(root), "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["clips"] == len(metas) == 24
    assert s["frames"] == sum(m.n_frames for m in metas)
    assert s["frames_without_face"] == sum(m.n_noface for m in metas) > 0
    assert s["actors"] == ["1001", "1002", "1006", "1011"]
    expected = {"train": {"1001", "1002"}, "val": {"1006"}, "test": {"1011"}}
    for split, actors in expected.items():
        sp = s["splits"][split]
        mine = [m for m in metas if m.actor in actors]
        assert set(sp["actors"]) == actors and sp["clips"] == len(mine)
        assert sp["frames"] == sum(m.n_frames for m in mine)
        assert sp["frames_without_face"] == sum(m.n_noface for m in mine)
        assert list(sp["emotions"]) == list(EMOTIONS)
        for e, c in sp["emotions"].items():
            assert c["clips"] == sum(m.emotion == e for m in mine)
    # Generator windows: T frames with faces, audio inside the mel, and a second start for the reference.
    assert 0 < s["windows"] < s["frames"]
    grid = cv2.imread(str(out / "sample_grid.png"))
    assert grid.shape == (30 + 6 * (96 + 4), 190 + 3 * 5 * 96 + 2 * 8, 3)  # header + one row per emotion
    assert (grid[30:126, 190 + 5 * 96 + 8 : 190 + 10 * 96 + 8] == 0).all()  # the fully masked input column
    assert (grid[30:126, 190:670, 2] == 200).all()  # the reference frames (fixture R channel), BGR kept
    text = capsys.readouterr().out
    assert "angry" in text and "total" in text and "summary.json" in text


def test_unlabelled_data_and_lower_half_masks(fake_lrs2, tmp_path):
    root, _ = fake_lrs2
    out = tmp_path / "lrs2"
    args = ["--root", str(root), "--out", str(out), "--rows", "3", "--mask-mode", "lower_half"]
    assert main(["data-summary", *args]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["datasets"] == {"lrs2": 5}
    assert {k: v["clips"] for k, v in s["splits"].items()} == {"train": 3, "val": 1, "test": 1}
    assert list(s["splits"]["train"]["emotions"]) == ["unlabelled"]
    grid = cv2.imread(str(out / "sample_grid.png"))
    assert grid.shape[0] == 30 + 3 * 100
    masked = grid[30:126, 190 + 5 * 96 + 8 : 190 + 10 * 96 + 8]
    assert (masked[48:] == 0).all() and (masked[:48, :, 2] == 200).all()
    assert np.any(grid[30:126, :190] < 128)  # the label column carries text


def test_bad_root_fails_with_one_line_naming_the_folder(tmp_path, capsys):
    assert main(["data-summary", "--root", str(tmp_path / "missing_pre"), "--out", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err
    assert "missing_pre" in err and "emotalk preprocess" in err
    assert not (tmp_path / "o").exists()
