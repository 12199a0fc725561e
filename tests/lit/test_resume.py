"""A resumed run continues with the same step, α switch state and optimiser state."""

from __future__ import annotations

import pytest
import torch

SHORT = [
    "experiment=seq",
    "data.batch_size=2",
    "data.samples_per_epoch=4",
    "data.val_samples=2",
    "trainer.max_epochs=2",
    "model.classifier=null",
]


def test_resume_keeps_step_switch_and_optimizer(run_train, tiny_stages):
    # Threshold 10: the first validation (mean sync BCE < 10) flips α on.
    m1, out1 = run_train([*SHORT, "loss.sync_threshold=10"], stages=tiny_stages, name="first")
    assert m1["sync_switched"] is True and m1["global_step"] == 4
    # Term accounting: switched at the first validation (step 2), so sync entered the loss from step 2 only.
    assert m1["sync_switch_step"] == 2 and m1["term/sync_from"] == 2 and m1["term/sync"] is True
    assert m1["term/l1_from"] == 0 and m1["term/perceptual_from"] == "never" and m1["term/perceptual"] is False
    last = out1 / "checkpoints" / "last.ckpt"
    ck = torch.load(last, map_location="cpu", weights_only=True)
    assert bool(ck["state_dict"]["sync_switched"]) and ck["global_step"] == 4
    assert int(ck["state_dict"]["sync_switch_step"]) == 2 and int(ck["state_dict"]["term_from_step"][1]) == 2
    assert ck["emotalk"]["stage"] == "generator" and ck["emotalk"]["net"]["width"] == 0.25
    adam_state = ck["optimizer_states"][0]["state"]
    assert adam_state and all(int(s["step"]) == 4 for s in adam_state.values())

    # Threshold -1 can never switch: α is on after resuming only if the state was restored.
    m2, out2 = run_train(
        [*SHORT, "loss.sync_threshold=-1", "trainer.max_epochs=3", f"ckpt_path={last}"],
        stages=tiny_stages,
        name="resumed",
    )
    assert m2["sync_switched"] is True and m2["global_step"] == 6
    assert m2["sync_switch_step"] == 2 and m2["term/sync_from"] == 2  # restored, not re-stamped at the resume
    ck2 = torch.load(out2 / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert all(int(s["step"]) == 6 for s in ck2["optimizer_states"][0]["state"].values())  # optimiser continued


def test_alpha_stays_off_above_the_threshold(run_train, tiny_stages):
    m, _ = run_train([*SHORT, "loss.sync_threshold=0.0"], stages=tiny_stages, name="never")
    assert m["sync_switched"] is False and m["train/alpha"] == 0.0
    assert m["sync_switch_step"] == "never" and m["term/sync"] is False and m["term/sync_from"] == "never"
    assert m["term/sync_armed"] is True  # the expert was there: armed, never live


def test_relative_threshold_follows_the_experts_loss_on_real_windows(run_train, tiny_stages):
    rel = [*SHORT, "loss.sync_threshold_mode=relative", "trainer.max_epochs=1"]
    m, _ = run_train([*rel, "loss.sync_threshold_rel=100"], stages=tiny_stages, name="rel_on")
    assert m["val/sync_threshold"] == pytest.approx(100 * m["val/loss_sync_real"], rel=1e-4)
    assert m["sync_switched"] is True and m["sync_switch_step"] == 2
    # rel 0.01: generated clips would need a sync loss 100x below the real ones' (an absolute 10 would switch).
    m, _ = run_train([*rel, "loss.sync_threshold_rel=0.01", "loss.sync_threshold=10"], stages=tiny_stages, name="off")
    assert m["sync_switched"] is False and m["val/sync_threshold"] < m["val/loss_sync"]
