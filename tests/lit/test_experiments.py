"""Every experiment composes and runs one batch of every code path (LHT: experiment=glob(*) with fast_dev_run)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from emotalk.errors import ConfigError

EXPERIMENTS = sorted(
    p.stem for p in (Path(__file__).resolve().parents[2] / "src" / "emotalk" / "conf" / "experiment").glob("*.yaml")
)
FDR = ["debug=fdr", "data.batch_size=2", "data.val_samples=2"]


def test_the_paper_table_is_all_there():
    needed = {
        "smoke",
        "syncnet",
        "emotion_classifier",
        "base_lrs2",
        "base_lrs2_fullface",
        "end",
        "seq",
        "pl_da",
        "pre",
        "pre_init",
        "noise",
    }
    assert needed <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_fast_dev_run(experiment, run_train, tiny_stages, synthetic_pre):
    # the GRID experiments run on the synthetic fixture here (their real data is tested in tests/data/test_grid.py);
    # base_grid's GRID expert is stood in for by the tiny synthetic one
    extra = ["data.split.val_actors=[1006]", "data.split.test_actors=[1011]"] if "grid" in experiment else []
    if experiment in ("base_grid", "emogen_grid"):
        extra.append(f"model.expert={tiny_stages / 'syncnet.ckpt'}")
    if experiment == "emogen_grid":  # the mixture's synthetic half is the fixture too
        extra.append(f"data.mix_roots=[{synthetic_pre}]")
    metrics, out = run_train([f"experiment={experiment}", *FDR, *extra], stages=tiny_stages, name=experiment)
    assert (out / "config.yaml").is_file() and (out / "metrics.json").is_file()
    assert metrics["global_step"] >= 1
    if experiment in ("syncnet", "syncnet_grid", "emotion_classifier"):
        assert "train/loss" in metrics
    else:
        assert "train/loss_l1" in metrics and "val/loss_l1" in metrics


def test_quality_discriminator_variant_runs(run_train, tiny_stages):
    metrics, _ = run_train(
        ["experiment=base_lrs2", *FDR, "model.quality_disc=true", "loss.adversarial=0.07"],
        stages=tiny_stages,
        name="hq",
    )
    assert "train/loss_disc" in metrics and metrics["term/adversarial"] is True


def test_stage_checkpoints_configure_the_modules(run_train, tiny_stages):
    from emotalk.lit.gan import GANModule
    from emotalk.models.stages import load_net

    gen = load_net(tiny_stages / "base_lrs2_fullface.ckpt", "generator", "base", "base_lrs2_fullface")
    assert not gen.use_emotion and gen.config["width"] == 0.25
    m = GANModule(
        generator={"width": 0.25},
        expert=str(tiny_stages / "syncnet.ckpt"),
        classifier=str(tiny_stages / "emotion_classifier.ckpt"),
        pretrain={"mode": "frozen", "checkpoint": str(tiny_stages / "base_lrs2_fullface.ckpt")},
    )
    assert m.active_terms == {"sync": True, "perceptual": False, "emotion": True, "adversarial": False}
    for a, b in zip(m.generator.face_encoder_blocks.parameters(), gen.face_encoder_blocks.parameters(), strict=True):
        assert torch.equal(a, b) and not a.requires_grad  # PRE frozen: copied and frozen
    assert all(p.requires_grad for p in m.generator.audio_encoder.parameters())


def test_pretrain_whole_starts_from_every_generator_weight(tiny_stages):
    """The warm-up → expert hand-off (the shipped real-face recipe): all weights, not just the encoder."""
    from emotalk.lit.gan import GANModule
    from emotalk.models.stages import load_net

    ckpt = str(tiny_stages / "base_lrs2_fullface.ckpt")
    gen = load_net(ckpt, "generator", "base", "base_lrs2_fullface")
    m = GANModule(generator={"width": 0.25, "emotion": False}, pretrain={"mode": "whole", "checkpoint": ckpt})
    sd = m.generator.state_dict()
    assert sd.keys() == gen.state_dict().keys()
    assert all(torch.equal(sd[k], v) for k, v in gen.state_dict().items())
    assert all(p.requires_grad for p in m.generator.parameters())  # nothing frozen
    with pytest.raises(RuntimeError, match=r"size mismatch|Missing key|Unexpected key"):
        GANModule(generator={"width": 0.25, "emotion": True}, pretrain={"mode": "whole", "checkpoint": ckpt})


def test_pretrain_warm_starts_an_emotion_generator_from_a_base_model(tiny_stages):
    """pretrain=warm: every base weight copied, the emotion inputs added at zero; `shipped` is the package's model."""
    from emotalk.lit.gan import GANModule
    from emotalk.models.stages import SHIPPED_GENERATOR, load_net

    for source in (str(tiny_stages / "base_lrs2_fullface.ckpt"), "shipped"):
        m = GANModule(generator={"width": 0.25, "emotion": True}, pretrain={"mode": "warm", "checkpoint": source})
        base = load_net(SHIPPED_GENERATOR if source == "shipped" else source, "generator", "base", "base_grid")
        sd = m.generator.state_dict()
        assert [k for k in m.warm_start.widened] == ["face_decoder_blocks.0.0.conv_block.0.weight"]
        assert all(torch.equal(sd[k], base.state_dict()[k]) for k in m.warm_start.copied)
        assert all(p.requires_grad for p in m.generator.parameters())


def test_a_missing_stage_names_the_experiment_that_makes_it(run_train, tmp_path):
    with pytest.raises(ConfigError, match="experiment=syncnet"):
        run_train(["experiment=seq", *FDR], stages=tmp_path / "empty")
    with pytest.raises(ConfigError, match="experiment=base_lrs2_fullface"):
        run_train(["experiment=pre", *FDR, "model.expert=null", "model.classifier=null"], stages=tmp_path / "empty")


def test_a_wrong_stage_checkpoint_is_refused(run_train, tiny_stages, tmp_path):
    with pytest.raises(ConfigError, match="emotion_classifier checkpoint, but a expert SyncNet checkpoint is needed"):
        run_train(
            ["experiment=seq", *FDR, f"model.expert={tiny_stages / 'emotion_classifier.ckpt'}"], stages=tiny_stages
        )
