"""Learning, not only shapes: short CI versions on the synthetic set's held-out actors.

The fixture has 3 train actors, validation actor 1006 and test actor 1011. Longer runs with the issue's full
targets (expert ≥ 80 %, classifier ≥ 90 % on held-out actors) are `make bench` (benchmarks/learning.py).
"""

from __future__ import annotations

import pytest
import torch

#: Share of the untrained → copy-the-reference lower-face L1 gap the CI generator run must close.
GAP_SHARE = 0.25
#: How much more often than on the untrained generator's clips the classifier must see the requested emotion.
EMOTION_MARGIN = 0.1
TINY = [
    "data.num_workers=0",
    "augment=none",
    "model.lr=5e-4",
    "data.batch_size=32",
    "data.val_windows_per_clip=4",
    "test=true",
]


@pytest.fixture(scope="module")
def learned(tmp_path_factory, synthetic_pre, compose_cfg):
    """Expert and classifier trained briefly (shared by the tests of this module)."""
    from emotalk.train import train

    stages = tmp_path_factory.mktemp("learned_stages")
    out = {}
    for exp, epochs in (("syncnet", 12), ("emotion_classifier", 8)):
        cfg = compose_cfg(
            [f"experiment={exp}", f"trainer.max_epochs={epochs}", "data.samples_per_epoch=512", *TINY],
            tmp_path_factory.mktemp(exp),
            stages,
            synthetic_pre,
        )
        out[exp] = train(cfg)
    return stages, out


def test_expert_separates_in_sync_from_off_sync_on_held_out_actors(learned):
    _, m = learned
    # Chance is 0.5 on the exactly balanced evaluation plan; the expert must be well above it on unseen faces.
    assert m["syncnet"]["test/acc"] >= 0.7, m["syncnet"]
    assert m["syncnet"]["test/loss"] < 0.69  # below BCE at chance (ln 2)


def test_classifier_recognises_emotions_of_a_held_out_actor(learned):
    _, m = learned
    assert m["emotion_classifier"]["test/acc"] >= 0.4, m["emotion_classifier"]  # chance: 1/6
    # Per clip (mean logits over 12 windows, the EmoAcc rule): also well above chance.
    assert m["emotion_classifier"]["test/clip_acc"] >= 0.4, m["emotion_classifier"]


def test_generator_learns_and_follows_the_emotion_input(run_train, learned):
    """Against baselines a broken model cannot pass, on held-out actor 1006 (not a fixed number).

    * requested-emotion accuracy (the classifier on clips generated with *another* emotion than the clip's) beats
      the untrained generator's by a margin: an untrained model already changes the face with the emotion input
      (tests/models/test_generator.py), so only "recognisably the requested emotion" measures learning;
    * lower-face L1 moves from the untrained model towards copy-the-reference (the reference window as the
      prediction). Beating copy-the-reference outright takes longer than CI allows at tiny scale (the 12-epoch
      benchmark does not either): here the run must close a set share of the gap.
    """
    stages, _ = learned
    metrics, out = run_train(
        [
            "experiment=smoke",
            "trainer.max_epochs=3",
            "data.samples_per_epoch=384",
            "data.batch_size=8",
            "data.val_samples=64",
            "data.num_workers=0",
            "model.lr=1e-3",
            # A stronger emotion weight than the paper's 0.001 so three short epochs can show the emotion learned
            # (0.2 is too strong: the classifier's gradient wrecks the face, val L1 0.14 -> 0.53 in 48 steps).
            "loss.gamma=0.05",
            # Every reference from another clip (another emotion) of the actor and no augmentation: the emotion
            # must come from the label, and 144 steps are enough to show it. Measured with this recipe: requested-
            # emotion accuracy 0.19 -> 0.81, val L1 0.139 -> 0.107, 43 % of the copy-the-reference gap closed; the
            # smoke recipe (half the references, paper augmentation, 192 windows an epoch) missed the L1 and
            # emotion bars on one run in two (CI at 80f6e69..7634be3: 0.31 -> 0.13 requested, L1 -10 %).
            "augment=none",
            "data.reference_other_clip=1.0",
            "logger=csv",
            "validate_first=true",
        ],
        stages=stages,
        name="gan",
    )
    import csv

    with open(next(out.rglob("metrics.csv"))) as f:
        l1 = [float(r["val/loss_l1"]) for r in csv.DictReader(f) if r.get("val/loss_l1")]
    print("val/loss_l1 per validation:", l1, "final metrics:", metrics)
    assert len(l1) == 4, l1  # the untrained model, then one validation per epoch
    assert metrics["untrained/val/loss_l1"] == pytest.approx(l1[0])
    assert l1[-1] < 0.85 * l1[0] and l1[-1] < l1[1], l1  # below the untrained generator's, still falling
    # The terms that ran: L1 and the emotion term from the first step; sync only if it switched.
    assert metrics["term/l1_from"] == 0 and metrics["term/emotion_from"] == 0
    assert not metrics["term/sync"] or metrics["sync_switch_step"] != "never"  # live only after the switch
    before, after = metrics["untrained/val/emotion_acc_requested"], metrics["val/emotion_acc_requested"]
    assert after >= before + EMOTION_MARGIN, (before, after)
    lower0, lower, copy_ref = (
        metrics["untrained/val/loss_l1_lower"],
        metrics["val/loss_l1_lower"],
        metrics["val/loss_l1_lower_copy_ref"],
    )
    assert copy_ref < lower0  # the baseline is a real one: the untrained model is worse than copying
    assert lower0 - lower >= GAP_SHARE * (lower0 - copy_ref), (lower0, lower, copy_ref)
    grid = sorted(out.rglob("samples/step_*.png"))
    assert grid, "no sample grid was rendered"
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["emotalk"]["stage"] == "generator"
