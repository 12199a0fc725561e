"""`GANModule`: the EmoGen generator (or the Wav2Lip base model) with its frozen expert and emotion classifier.

Generator loss (mission.md §5): α·sync + β·perceptual + γ·emotion (+ δ·adversarial) + (1 − α − β − γ − δ)·L1,
with manual optimisation (PL-GAN): a generator step (expert, VGG and classifier frozen), then the emotion
classifier is updated on the *real* clip only with its own Adam at 1e-6 (reference-code.md §8.4), then the
optional quality discriminator. α is 0 until the mean sync loss on the **held-out validation actors** falls
below the threshold, then the final α for good: one-way module state (a buffer), saved in checkpoints.
A term whose network is absent (no expert, classifier or VGG weights) is off, and says so at the start.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torchmetrics import MeanMetric
from typing_extensions import override

from emotalk.data.batch import GeneratorBatch
from emotalk.lit.common import EmotalkModule, adam
from emotalk.lit.stages import load_net
from emotalk.models.discriminator import AdversarialLoss, QualityDiscriminator
from emotalk.models.generator import Generator
from emotalk.models.losses import PerceptualLoss, emotion_loss, l1_loss, sync_loss
from emotalk.models.syncnet import freeze
from emotalk.spec import EMOTIONS

log = logging.getLogger(__name__)


def _detached_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {**{k: v.detach() for k, v in module.named_parameters()}, **dict(module.named_buffers())}


def detached(module: torch.nn.Module) -> Any:
    """`module` called with detached parameters: gradients flow to its input, never into its weights."""
    return lambda *args: torch.func.functional_call(module, _detached_state(module), args)


DEFAULT_LOSS = {"alpha": 0.03, "beta": 0.01, "gamma": 0.001, "adversarial": 0.0, "sync_threshold": 0.75}


class GANModule(EmotalkModule):
    """Train the talking-face generator.

    Args:
        generator: `Generator` kwargs (emotion, fusion, noise, width).
        loss: weights {alpha (final sync weight), beta (perceptual), gamma (emotion), adversarial, sync_threshold}.
        expert: checkpoint of the expert SyncNet (experiment=syncnet, or Wav2Lip's lipsync_expert.pth); None: off.
        classifier: checkpoint of the emotion classifier (experiment=emotion_classifier, or EmoGen's); None: off.
        perceptual: {weights: VGG19 file or None, required: bool, channel_order, imagenet_norm}.
        pretrain: {mode: none | init | frozen, checkpoint}: PRE initialises (and may freeze) the face encoder
            from a base model.
        quality_disc: train Wav2Lip's visual-quality discriminator too (weight ``loss.adversarial``).
        train_classifier: update the classifier on real clips during training (EmoGen); False keeps it fixed.
    """

    stage = "generator"

    def __init__(
        self,
        generator: dict[str, Any] | None = None,
        loss: dict[str, float] | None = None,
        expert: str | None = None,
        classifier: str | None = None,
        perceptual: dict[str, Any] | None = None,
        pretrain: dict[str, Any] | None = None,
        quality_disc: bool = False,
        train_classifier: bool = True,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        classifier_lr: float = 1e-6,
        disc_lr: float = 1e-4,
        grid_items: int = 6,
        spec: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec)
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.loss_cfg = {**DEFAULT_LOSS, **(loss or {})}
        self.generator = Generator(**(generator or {}))
        self.expert = freeze(load_net(expert, "syncnet", "expert SyncNet", "syncnet")) if expert else None
        self.classifier = None
        if classifier and self.generator.use_emotion:
            self.classifier = load_net(classifier, "emotion", "emotion classifier", "emotion_classifier")
            self.classifier.train(train_classifier)
            for p in self.classifier.parameters():
                p.requires_grad_(train_classifier)
        self.adversarial = (
            AdversarialLoss(QualityDiscriminator(width=self.generator.config["width"])) if (quality_disc) else None
        )
        # The frozen VGG is kept out of the module tree so its 80 MB never enter a checkpoint.
        self._perceptual: list[PerceptualLoss] = []
        pcfg = {"weights": None, "required": False, **(perceptual or {})}
        if self.loss_cfg["beta"] > 0 and pcfg["weights"]:
            kw = {k: v for k, v in pcfg.items() if k not in ("weights", "required")}
            self._perceptual.append(PerceptualLoss(pcfg["weights"], **kw))
        elif self.loss_cfg["beta"] > 0 and pcfg["required"]:
            from emotalk.errors import MissingWeightsError

            raise MissingWeightsError(
                None,
                "VGG19 weights for the perceptual loss",
                "Set model.perceptual.weights=/path/to/vgg19-dcbb9e9d.pth (torchvision's "
                "ImageNet VGG19, https://download.pytorch.org/models/vgg19-dcbb9e9d.pth).",
            )
        pre = {"mode": "none", "checkpoint": None, **(pretrain or {})}
        if pre["mode"] in ("init", "frozen"):
            from emotalk.lit.stages import require
            from emotalk.models.weights import load_face_encoder

            path = require(pre["checkpoint"], "base model", "base_lrs2_fullface")
            load_face_encoder(self.generator, path, freeze=pre["mode"] == "frozen")
        elif pre["mode"] != "none":
            raise ValueError(f"pretrain.mode must be none, init or frozen, got {pre['mode']!r}")
        # α's one-way switch (mission.md §5): module state, checkpointed and restored on resume.
        self.register_buffer("sync_switched", torch.zeros((), dtype=torch.bool))
        self.val_sync = MeanMetric()
        self.grid_batch: GeneratorBatch | None = None
        self.active_terms = self._report_terms()

    # ---------------------------------------------------------------------------------------------- config

    def _report_terms(self) -> dict[str, bool]:
        c = self.loss_cfg
        terms = {
            "sync": self.expert is not None and c["alpha"] > 0,
            "perceptual": bool(self._perceptual),
            "emotion": self.classifier is not None and c["gamma"] > 0,
            "adversarial": self.adversarial is not None and c["adversarial"] > 0,
        }
        off = {
            "sync": "no expert checkpoint (model.expert)",
            "perceptual": "no VGG19 weights (model.perceptual.weights)",
            "emotion": "no emotion classifier (model.classifier)" if self.generator.use_emotion else "base model",
            "adversarial": "no quality discriminator",
        }
        weights = {"sync": c["alpha"], "perceptual": c["beta"], "emotion": c["gamma"], "adversarial": c["adversarial"]}
        for name, on in terms.items():
            if not on and weights[name] > 0:
                log.warning("LOSS TERM OFF: %s (weight %g) — %s; its weight goes to L1", name, weights[name], off[name])
        return terms

    @override
    def net_config(self) -> dict[str, Any]:
        return dict(self.generator.config)

    @property
    def perceptual(self) -> PerceptualLoss | None:
        if not self._perceptual:
            return None
        p = self._perceptual[0]
        if p.features[0].weight.device != self.device:
            p.to(self.device)
        return p

    @property
    def alpha(self) -> float:
        return float(self.loss_cfg["alpha"]) if bool(self.sync_switched) else 0.0

    # ---------------------------------------------------------------------------------------------- losses

    def _emotion_input(self, batch: GeneratorBatch, emotion: torch.Tensor | None = None) -> torch.Tensor | None:
        if not self.generator.use_emotion:
            return None
        e = batch.emotion if emotion is None else emotion
        return e.clamp(min=0)  # unlabelled clips (-1) cannot condition an emotion model; see _labelled

    def generator_losses(self, fake: torch.Tensor, batch: GeneratorBatch, train: bool) -> dict[str, torch.Tensor]:
        """Every term, its weight, and the weighted total under "loss"."""
        c = self.loss_cfg
        out: dict[str, torch.Tensor] = {"l1": l1_loss(fake, batch.target)}
        weights: dict[str, float] = {}
        if self.expert is not None:
            active = train and self.alpha > 0
            with torch.set_grad_enabled(active and torch.is_grad_enabled()):
                out["sync"] = sync_loss(self.expert, fake, batch.mel)
            if active:
                weights["sync"] = self.alpha
        if self.perceptual is not None:
            out["perceptual"] = self.perceptual(fake, batch.target)
            weights["perceptual"] = c["beta"]
        labelled = batch.emotion >= 0
        if self.classifier is not None and c["gamma"] > 0 and bool(labelled.any()):
            out["emotion"] = emotion_loss(detached(self.classifier), fake[labelled], batch.emotion[labelled])
            weights["emotion"] = c["gamma"]
        if self.adversarial is not None and c["adversarial"] > 0:
            disc = self.adversarial.discriminator
            logits = torch.func.functional_call(disc, _detached_state(disc), (fake,), strict=True, tie_weights=False)
            out["adversarial"] = self.adversarial.g_loss_from_probs(logits)
            weights["adversarial"] = c["adversarial"]
        l1_w = 1.0 - sum(weights.values())
        total = l1_w * out["l1"]
        for name, w in weights.items():
            total = total + w * out[name]
        out["loss"] = total
        return out

    # ---------------------------------------------------------------------------------------------- training

    @override
    def training_step(self, batch: GeneratorBatch, batch_idx: int) -> None:
        """One backward for all networks, so DDP sees exactly one forward/backward per step.

        The generator's emotion (and adversarial) terms run the classifier (discriminator) with *detached*
        parameters: their gradients reach the generator only. The classifier's own loss is on the real clip
        (EmoGen §8.4) and the discriminator's on real vs. detached fakes, so each optimizer's gradients come from
        its own loss alone, computed with the pre-step weights, exactly as the reference's sequential updates.
        """
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        fake = self.generator(batch.indiv_mels, batch.gen_input, self._emotion_input(batch))
        losses = self.generator_losses(fake, batch, train=True)
        total = losses["loss"]
        n = len(batch)
        labelled = batch.emotion >= 0
        if self.classifier is not None and self.hparams.train_classifier and bool(labelled.any()):
            ce = emotion_loss(self.classifier, batch.target[labelled], batch.emotion[labelled])
            total = total + ce
            self.log("train/classifier_ce_real", ce.detach(), batch_size=n)
        if self.adversarial is not None:
            d = self.adversarial.d_loss(batch.target, fake)
            total = total + d
            self.log("train/loss_disc", d.detach(), batch_size=n)
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        self.manual_backward(total)
        for opt in opts:
            opt.step()
        for k, v in losses.items():
            self.log(
                f"train/{'loss' if k == 'loss' else 'loss_' + k}",
                v.detach(),
                prog_bar=k in ("loss", "l1"),
                batch_size=n,
            )
        self.log("train/alpha", self.alpha, batch_size=n)

    @override
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        h = self.hparams
        opts = [adam(self.generator.parameters(), h.lr, h.betas)]
        if self.classifier is not None and h.train_classifier:
            opts.append(adam(self.classifier.parameters(), h.classifier_lr, h.betas))
        if self.adversarial is not None:
            opts.append(adam(self.adversarial.parameters(), h.disc_lr, (0.5, 0.999)))
        return opts

    # ---------------------------------------------------------------------------------------------- evaluation

    def _evaluate(self, batch: GeneratorBatch, stage: str) -> dict[str, torch.Tensor]:
        n = len(batch)
        fake = self.generator(batch.indiv_mels, batch.gen_input, self._emotion_input(batch))
        losses = self.generator_losses(fake, batch, train=False)
        for k, v in losses.items():
            self.log(
                f"{stage}/{'loss' if k == 'loss' else 'loss_' + k}", v, batch_size=n, sync_dist=True, prog_bar=k == "l1"
            )
        if "sync" in losses:
            self.val_sync.update(losses["sync"], n)
        labelled = batch.emotion >= 0
        if self.generator.use_emotion and bool(labelled.any()):
            # Counterfactual emotion: the same window asked for another emotion (never done in EmoGen's training).
            g = torch.Generator().manual_seed(int(batch.emotion.sum()) + n)
            shift = torch.randint(1, len(EMOTIONS), (n,), generator=g).to(batch.emotion.device)
            other = (batch.emotion.clamp(min=0) + shift) % len(EMOTIONS)
            fake_other = self.generator(batch.indiv_mels, batch.gen_input, other)
            self.log(f"{stage}/emotion_delta", (fake_other - fake).abs().mean(), batch_size=n, sync_dist=True)
            if self.classifier is not None:
                acc = (self.classifier(fake[labelled]).argmax(1) == batch.emotion[labelled]).float().mean()
                acc_other = (self.classifier(fake_other[labelled]).argmax(1) == other[labelled]).float().mean()
                self.log(f"{stage}/emotion_acc", acc, batch_size=n, sync_dist=True)
                self.log(f"{stage}/emotion_acc_requested", acc_other, batch_size=n, sync_dist=True)
        return {"fake": fake}

    @override
    def validation_step(self, batch: GeneratorBatch, batch_idx: int) -> None:
        if self.grid_batch is None:  # a fixed validation batch renders the sample grid (PL-GAN)
            k = self.hparams.grid_items
            self.grid_batch = GeneratorBatch(**{f: getattr(batch, f)[:k].clone() for f in batch.__dataclass_fields__})
        self._evaluate(batch, "val")

    @override
    def test_step(self, batch: GeneratorBatch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    @override
    def on_validation_epoch_end(self) -> None:
        if self.expert is not None and self.val_sync.update_count > 0:
            mean_sync = self.val_sync.compute()
            self.val_sync.reset()
            if (
                not self.trainer.sanity_checking
                and not bool(self.sync_switched)
                and (float(mean_sync) < self.loss_cfg["sync_threshold"])
            ):
                self.sync_switched.fill_(True)
                log.info(
                    "val sync loss %.3f < %.2f: sync weight α switched to %g for good (step %d)",
                    float(mean_sync),
                    self.loss_cfg["sync_threshold"],
                    self.loss_cfg["alpha"],
                    self.global_step,
                )
        self.log("val/alpha", self.alpha, sync_dist=False)
        if self.grid_batch is not None and not self.trainer.sanity_checking:
            root = Path(self.trainer.log_dir or self.trainer.default_root_dir)  # every rank: log_dir broadcasts
            if self.trainer.is_global_zero:
                self.render_grid(root / "samples" / f"step_{self.global_step:07d}.png")

    @torch.no_grad()
    def render_grid(self, path: Path) -> Path:
        """[reference | input | generated | target (| generated with another emotion)] PNG of the fixed batch."""
        from emotalk.lit.plots import save_sample_grid

        b = self.grid_batch
        assert b is not None
        was_training = self.generator.training
        self.generator.eval()
        fake = self.generator(b.indiv_mels, b.gen_input, self._emotion_input(b))
        cols, labels = [b.reference, b.masked, fake, b.target], ["reference", "input", "generated", "target"]
        titles = [EMOTIONS[int(e)] if int(e) >= 0 else "-" for e in b.emotion]
        if self.generator.use_emotion:
            other = (b.emotion.clamp(min=0) + 3) % len(EMOTIONS)
            cols.append(self.generator(b.indiv_mels, b.gen_input, other))
            labels.append("other emotion")
            titles = [f"{t}/{EMOTIONS[int(o)][:3]}" for t, o in zip(titles, other, strict=True)]
        self.generator.train(was_training)
        path = save_sample_grid(path, cols, labels, titles)
        for lg in self.loggers:
            if hasattr(lg, "log_image"):
                lg.log_image(key="val/samples", images=[str(path)], step=self.global_step)
        return path
