"""A resumed run continues with the same step, α switch state and optimiser state."""

from __future__ import annotations

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
    last = out1 / "checkpoints" / "last.ckpt"
    ck = torch.load(last, map_location="cpu", weights_only=True)
    assert bool(ck["state_dict"]["sync_switched"]) and ck["global_step"] == 4
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
    ck2 = torch.load(out2 / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert all(int(s["step"]) == 6 for s in ck2["optimizer_states"][0]["state"].values())  # optimiser continued


def test_alpha_stays_off_above_the_threshold(run_train, tiny_stages):
    m, _ = run_train([*SHORT, "loss.sync_threshold=0.0"], stages=tiny_stages, name="never")
    assert m["sync_switched"] is False and m["train/alpha"] == 0.0
