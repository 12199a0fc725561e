"""`make ablations` tables: term columns, the untrained baseline and chance, and flags on rows whose terms never ran."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "ablations.py"


@pytest.fixture(scope="module")
def ablations():
    spec = importlib.util.spec_from_file_location("ablations", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(perceptual_from: object = 0, sync_from: object = 40, acc: float = 0.6) -> dict:
    m = {"val/loss_l1": 0.08, "untrained/val/loss_l1": 0.19, "val/emotion_acc_requested": acc}
    m |= {"untrained/val/emotion_acc_requested": 0.1, "val/loss_l1_lower_copy_ref": 0.07, "sync_switch_step": 40}
    weights = {"l1": 0.959, "sync": 0.03, "perceptual": 0.01, "emotion": 0.001, "adversarial": 0.0}
    starts = {"l1": 0, "sync": sync_from, "perceptual": perceptual_from, "emotion": 0, "adversarial": "never"}
    for t, w in weights.items():
        m[f"term/{t}_weight"], m[f"term/{t}_from"], m[f"term/{t}_armed"] = w, starts[t], t != "adversarial"
    m["term/perceptual_kind"] = "disc_features" if perceptual_from != "never" else "off"
    return m


def _row(md: str, exp: str) -> str:
    """The experiment's row in the generator table (the second table)."""
    generators = md.split("Generators:", 1)[1]
    return next(line for line in generators.splitlines() if line.startswith((f"| {exp} |", f"| ⚠ {exp} |")))


def test_a_row_with_every_term_live_is_printed_plainly(ablations):
    md = ablations.table({"pl_da": _run()})
    row = _row(md, "pl_da")
    assert not row.startswith("| ⚠") and row.endswith("| ok |")
    assert "disc_features from 0" in row and "from 40" in row and "0.19 → 0.08" in row and "0.167" in row


def test_pl_da_without_a_perceptual_term_is_marked_and_never_shown_on(ablations):
    row = _row(ablations.table({"pl_da": _run(perceptual_from="never")}), "pl_da")
    assert row.startswith("| ⚠ pl_da") and "perceptual never ran" in row
    cells = [c.strip() for c in row.split("|")]
    assert cells[cells.index("0.167") + 3] == "NEVER"  # term perceptual column: not "from ..."


def test_sync_that_never_switched_and_chance_accuracy_are_marked(ablations):
    row = _row(ablations.table({"seq": _run(sync_from="never", acc=0.15)}), "seq")
    assert row.startswith("| ⚠ seq") and "sync never ran" in row and "at/below chance" in row


def test_runs_recorded_before_term_accounting_are_not_trusted(ablations):
    legacy = {"val/loss_l1": 0.15, "sync_switched": False, "term/perceptual": False, "term/emotion": True}
    row = _row(ablations.table({"pl_da": legacy}), "pl_da")
    assert row.startswith("| ⚠ pl_da") and "sync never ran" in row and "perceptual off" in row
    assert "? → 0.15" in row  # no untrained baseline was recorded


def test_reuse_takes_the_last_run_and_gen_overrides_reach_only_generators(ablations, tmp_path, monkeypatch):
    """--reuse keeps a finished judge (no retraining, the table says "reused"); --gen goes to generator stages."""
    import argparse
    import json

    run = tmp_path / "train" / "syncnet" / "2026-12-04_10-00-00"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"val/acc": 0.9}))
    (tmp_path / "stages_tiny").mkdir()
    (tmp_path / "stages_tiny" / "syncnet.ckpt").write_bytes(b"")
    calls: list[list[str]] = []

    def fake_run(cmd, check):  # the generator stage "trains": record the command, write its metrics
        calls.append(cmd)
        out = tmp_path / "train" / "pl_da" / "run"
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps({"val/loss_l1": 0.1}))

    monkeypatch.setattr(ablations.subprocess, "run", fake_run)
    relative = "loss.sync_threshold_mode=relative"
    args = argparse.Namespace(
        data=tmp_path, lrs2=None, scale="tiny", logger="csv", reuse=["syncnet"], gen=[relative], overrides=[]
    )
    judge = ablations.run_stage("syncnet", args, tmp_path)
    assert judge["reused"] and judge["val/acc"] == 0.9 and not calls
    assert "| syncnet |" in ablations.table({"syncnet": judge}) and "reused" in ablations.table({"syncnet": judge})
    gen = ablations.run_stage("pl_da", args, tmp_path)
    assert gen["val/loss_l1"] == 0.1 and "reused" not in gen
    assert "loss.sync_threshold_mode=relative" in calls[0]
    args.reuse = []  # not asked: the judge trains again and gets no generator override
    ablations.run_stage("syncnet", args, tmp_path)
    assert len(calls) == 2 and "loss.sync_threshold_mode=relative" not in calls[1]


def test_tiny_generators_switch_relative_and_name_their_perceptual_term(ablations):
    assert ablations.tiny_generator_defaults({}) == [
        "loss.sync_threshold_mode=relative",
        "model.perceptual.kind=expert_features",
    ]
    # with the paper's VGG19 weights given, the paper's perceptual loss stays
    assert ablations.tiny_generator_defaults({"EMOTALK_VGG19": "/w/vgg19.pth"}) == ["loss.sync_threshold_mode=relative"]
