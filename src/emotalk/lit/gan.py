"""`GANModule`: the EmoGen generator (or the Wav2Lip base model) with its frozen expert and emotion classifier.

Generator loss (mission.md §5): α·sync + β·perceptual + γ·emotion (+ δ·adversarial) + (1 − α − β − γ − δ)·L1,
with manual optimisation (PL-GAN): a generator step (expert, VGG and classifier frozen), then the emotion
classifier is updated on the *real* clip only with its own Adam at 1e-6 (reference-code.md §8.4), then the
optional quality discriminator. α is 0 until the mean sync loss on the **held-out validation actors** falls
below the threshold, then the final α for good: one-way module state (a buffer), saved in checkpoints.
A term whose network is absent (no expert, classifier or VGG weights) is off, and says so at the start.

Term accounting (issue 12): a term is *live* once it has entered the generator's loss with a non-zero weight. The
first global step at which each term was live (-1: never) and the sync switch step are buffers, so they survive a
resume and reach the checkpoint; `term_accounting()` is what metrics.json and the ablation tables print.
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
from emotalk.models.discriminator import AdversarialLoss, QualityDiscriminator
from emotalk.models.generator import Generator
from emotalk.models.losses import (
    PerceptualLoss,
    emotion_loss,
    expert_face_features,
    feature_matching_loss,
    l1_loss,
    sync_loss,
)
from emotalk.models.pretrain import apply_pretrain
from emotalk.models.stages import load_net
from emotalk.models.syncnet import freeze
from emotalk.spec import EMOTIONS

log = logging.getLogger(__name__)


def _detached_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {**{k: v.detach() for k, v in module.named_parameters()}, **dict(module.named_buffers())}


def detached(module: torch.nn.Module) -> Any:
    """`module` called with detached parameters: gradients flow to its input, never into its weights."""
    return lambda *args: torch.func.functional_call(module, _detached_state(module), args)


DEFAULT_LOSS: dict[str, Any] = {
    "alpha": 0.03,
    "beta": 0.01,
    "gamma": 0.001,
    "adversarial": 0.0,
    "sync_threshold": 0.75,
    "sync_threshold_mode": "absolute",
    "sync_threshold_rel": 1.5,
}
#: The generator's loss terms, in the order of the `term_from_step` buffer.
TERMS: tuple[str, ...] = ("l1", "sync", "perceptual", "emotion", "adversarial")
#: ``model.perceptual.kind``: the paper's VGG19 (needs its weights file), or feature matching on a network the
#: suite trains itself (no download): the quality discriminator trained alongside, or the frozen expert SyncNet.
PERCEPTUAL_KINDS: tuple[str, ...] = ("vgg19", "disc_features", "expert_features")


class GANModule(EmotalkModule):
    """Train the talking-face generator.

    Args:
        generator: `Generator` kwargs (emotion, fusion, noise, width).
        loss: weights {alpha (final sync weight), beta (perceptual), gamma (emotion), adversarial} and the switch
            rule {sync_threshold (absolute, the paper's 0.75), sync_threshold_mode (absolute | relative),
            sync_threshold_rel (relative: switch below rel x the expert's own loss on the real target windows)}.
        expert: checkpoint of the expert SyncNet (experiment=syncnet, or Wav2Lip's lipsync_expert.pth); None: off.
        classifier: checkpoint of the emotion classifier (experiment=emotion_classifier, or EmoGen's); None: off.
        perceptual: {kind: vgg19 | disc_features | expert_features, weights: VGG19 file or None, required: bool,
            channel_order, imagenet_norm}. ``vgg19`` is the paper's loss (off, said loudly, without weights);
            ``disc_features`` matches the quality discriminator's features (the discriminator is then trained
            alongside, its adversarial weight unchanged); ``expert_features`` matches the frozen expert's
            face-encoder features (lower halves only).
        pretrain: {mode: none | init | frozen | whole | warm, checkpoint}: PRE initialises (and may freeze) the
            face encoder from a base model; `whole` starts every generator weight from another run's checkpoint
            (same architecture); `warm` from a generator with fewer inputs (default: the shipped real-face model).
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
        self.classifier = self._load_classifier(classifier, train_classifier)
        pcfg = {"kind": "vgg19", "weights": None, "required": False, **(perceptual or {})}
        self._check_choices(pcfg["kind"])
        self.perceptual_requested: str = pcfg["kind"]
        self._build_perceptual_and_adversarial(pcfg, quality_disc)
        self.warm_start = apply_pretrain(self.generator, {"mode": "none", "checkpoint": None, **(pretrain or {})})
        # α's one-way switch (mission.md §5): module state, checkpointed and restored on resume.
        self.register_buffer("sync_switched", torch.zeros((), dtype=torch.bool))
        # Term accounting: the global step of the switch and of each term's first live step (-1: never).
        self.register_buffer("sync_switch_step", torch.full((), -1, dtype=torch.long))
        self.register_buffer("term_from_step", torch.full((len(TERMS),), -1, dtype=torch.long))
        self.val_sync = MeanMetric()
        self.val_sync_real = MeanMetric()  # the expert's loss on the real target windows (relative threshold)
        self.grid_batch: GeneratorBatch | None = None
        self.active_terms = self._report_terms()

    # ---------------------------------------------------------------------------------------------- set-up

    def _load_classifier(self, classifier: str | None, train_classifier: bool) -> torch.nn.Module | None:
        """The emotion classifier (an emotion generator only), trainable on real clips or fixed."""
        if not (classifier and self.generator.use_emotion):
            return None
        net = load_net(classifier, "emotion", "emotion classifier", "emotion_classifier")
        net.train(train_classifier)
        for p in net.parameters():
            p.requires_grad_(train_classifier)
        return net

    def _check_choices(self, perceptual_kind: str) -> None:
        """Refuse an unknown perceptual kind or threshold mode before any network is built from them."""
        if perceptual_kind not in PERCEPTUAL_KINDS:
            raise ValueError(
                f"model.perceptual.kind must be one of {', '.join(PERCEPTUAL_KINDS)}, got {perceptual_kind!r}"
            )
        if self.loss_cfg["sync_threshold_mode"] not in ("absolute", "relative"):
            raise ValueError(
                f"loss.sync_threshold_mode must be absolute or relative, got {self.loss_cfg['sync_threshold_mode']!r}"
            )

    def _build_perceptual_and_adversarial(self, pcfg: dict[str, Any], quality_disc: bool) -> None:
        """The quality discriminator (asked for, or needed by ``disc_features``) and which perceptual term runs."""
        beta = self.loss_cfg["beta"] > 0
        disc_features = beta and pcfg["kind"] == "disc_features"
        self.adversarial = (
            AdversarialLoss(QualityDiscriminator(width=self.generator.config["width"]))
            if (quality_disc or disc_features)
            else None
        )
        # Which perceptual term runs: "vgg19", a feature-matching kind, or None (off).
        self.perceptual_kind: str | None = None
        if disc_features:
            self.perceptual_kind = "disc_features"
        elif beta and pcfg["kind"] == "expert_features" and self.expert is not None:
            self.perceptual_kind = "expert_features"
        # The frozen VGG is kept out of the module tree so its 80 MB never enter a checkpoint.
        self._perceptual: list[PerceptualLoss] = []
        if beta and pcfg["kind"] == "vgg19" and pcfg["weights"]:
            kw = {k: v for k, v in pcfg.items() if k not in ("kind", "weights", "required")}
            self._perceptual.append(PerceptualLoss(pcfg["weights"], **kw))
            self.perceptual_kind = "vgg19"
        elif beta and pcfg["kind"] == "vgg19" and pcfg["required"]:
            from emotalk.errors import MissingWeightsError

            raise MissingWeightsError(
                None,
                "VGG19 weights for the perceptual loss",
                "Set model.perceptual.weights=/path/to/vgg19-dcbb9e9d.pth (torchvision's "
                "ImageNet VGG19, https://download.pytorch.org/models/vgg19-dcbb9e9d.pth).",
            )

    # ---------------------------------------------------------------------------------------------- config

    def _report_terms(self) -> dict[str, bool]:
        c = self.loss_cfg
        terms = {
            "sync": self.expert is not None and c["alpha"] > 0,
            "perceptual": self.perceptual_kind is not None,
            "emotion": self.classifier is not None and c["gamma"] > 0,
            "adversarial": self.adversarial is not None and c["adversarial"] > 0,
        }
        off = {
            "sync": "no expert checkpoint (model.expert)",
            "perceptual": (
                "no expert SyncNet for model.perceptual.kind=expert_features"
                if self.perceptual_requested == "expert_features"
                else "no VGG19 weights (model.perceptual.weights; or model.perceptual.kind=disc_features)"
            ),
            "emotion": "no emotion classifier (model.classifier)" if self.generator.use_emotion else "base model",
            "adversarial": "no quality discriminator",
        }
        weights = {"sync": c["alpha"], "perceptual": c["beta"], "emotion": c["gamma"], "adversarial": c["adversarial"]}
        for name, on in terms.items():
            if not on and weights[name] > 0:
                log.warning("LOSS TERM OFF: %s (weight %g) — %s; its weight goes to L1", name, weights[name], off[name])
        if self.perceptual_kind not in (None, "vgg19"):
            log.warning(
                "perceptual term is %s feature matching (not the paper's VGG19 loss), weight %g",
                self.perceptual_kind,
                c["beta"],
            )
        return terms

    def term_accounting(self) -> dict[str, dict[str, Any]]:
        """Per term: requested weight, armed (its network is there), live (entered the loss), from_step or "never".

        Armed is not live: the sync term is armed from the start but live only after the α switch.
        """
        c = self.loss_cfg
        weights = {"sync": c["alpha"], "perceptual": c["beta"], "emotion": c["gamma"], "adversarial": c["adversarial"]}
        weights["l1"] = 1.0 - sum(weights.values())
        armed = {"l1": True, **self.active_terms}
        out: dict[str, dict[str, Any]] = {}
        for i, name in enumerate(TERMS):
            step = int(self.term_from_step[i])
            out[name] = {
                "weight": float(weights[name]),
                "armed": bool(armed[name]),
                "live": step >= 0,
                "from_step": step if step >= 0 else "never",
            }
        out["perceptual"]["kind"] = self.perceptual_kind or "off"
        switch = int(self.sync_switch_step)
        out["sync"]["switch_step"] = switch if switch >= 0 else ("unknown" if bool(self.sync_switched) else "never")
        return out

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Checkpoints from before term accounting lack its buffers: fill them with "never" (-1)."""
        sd = checkpoint.get("state_dict", {})
        for name, buf in (("sync_switch_step", self.sync_switch_step), ("term_from_step", self.term_from_step)):
            sd.setdefault(name, torch.full_like(buf, -1))

    @override
    def train(self, mode: bool = True) -> GANModule:
        """Keep the frozen expert in eval mode: its BatchNorm must not follow generated batches."""
        super().train(mode)
        if self.expert is not None:
            self.expert.eval()
        return self

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

    def _perceptual_term(self, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.perceptual_kind == "vgg19":
            assert self.perceptual is not None
            return self.perceptual(fake, target)
        if self.perceptual_kind == "disc_features":
            assert self.adversarial is not None
            disc = self.adversarial.discriminator
            # Detached weights: the discriminator learns from its own d_loss only (one backward for all nets).
            fake_feats = torch.func.functional_call(
                disc, _detached_state(disc), (fake,), {"return_features": True}, strict=True, tie_weights=False
            )
            with torch.no_grad():
                real_feats = disc.features(target)
            return feature_matching_loss(fake_feats, real_feats)
        assert self.perceptual_kind == "expert_features" and self.expert is not None
        with torch.no_grad():
            real_feats = expert_face_features(self.expert, target)
        return feature_matching_loss(expert_face_features(self.expert, fake), real_feats)

    def generator_losses(
        self, fake: torch.Tensor, batch: GeneratorBatch, train: bool
    ) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """Every term and the weighted total under "loss"; and the weights of the terms in that total (L1's too)."""
        c = self.loss_cfg
        out: dict[str, torch.Tensor] = {"l1": l1_loss(fake, batch.target)}
        weights: dict[str, float] = {}
        if self.expert is not None:
            active = train and self.alpha > 0
            with torch.set_grad_enabled(active and torch.is_grad_enabled()):
                out["sync"] = sync_loss(self.expert, fake, batch.mel)
            if active:
                weights["sync"] = self.alpha
        if self.perceptual_kind is not None:
            out["perceptual"] = self._perceptual_term(fake, batch.target)
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
        return out, {"l1": l1_w, **weights}

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
        losses, weights = self.generator_losses(fake, batch, train=True)
        total = losses["loss"]
        n = len(batch)
        for i, name in enumerate(TERMS):
            live = weights.get(name, 0.0) > 0
            if live and int(self.term_from_step[i]) < 0:
                self.term_from_step[i] = self.global_step
                log.info("loss term %s live from global step %d (weight %g)", name, self.global_step, weights[name])
            self.log(f"train/term_{name}", float(live), batch_size=n)
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
        losses, _ = self.generator_losses(fake, batch, train=False)
        # Lower-face error against copy-the-reference: the reference window as the prediction is the trivial
        # baseline a generator must beat (the mouth is what the audio decides).
        h = fake.shape[-2] // 2
        losses["l1_lower"] = l1_loss(fake[..., h:, :], batch.target[..., h:, :])
        losses["l1_lower_copy_ref"] = l1_loss(batch.reference[..., h:, :], batch.target[..., h:, :])
        if self.expert is not None:
            # The expert's own loss on the real, in-sync target windows: the yardstick of the relative threshold.
            losses["sync_real"] = sync_loss(self.expert, batch.target, batch.mel)
            if stage == "val":
                self.val_sync_real.update(losses["sync_real"], n)
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
            mean_real = self.val_sync_real.compute()
            self.val_sync.reset()
            self.val_sync_real.reset()
            threshold = self.sync_threshold(float(mean_real))
            self.log("val/sync_threshold", threshold, sync_dist=False)
            if not self.trainer.sanity_checking and not bool(self.sync_switched) and float(mean_sync) < threshold:
                self.sync_switched.fill_(True)
                self.sync_switch_step.fill_(self.global_step)
                log.info(
                    "val sync loss %.3f < %.3f (%s): sync weight α switched to %g for good (step %d)",
                    float(mean_sync),
                    threshold,
                    self.loss_cfg["sync_threshold_mode"],
                    self.loss_cfg["alpha"],
                    self.global_step,
                )
        self.log("val/alpha", self.alpha, sync_dist=False)
        self.log("val/sync_switch_step", float(self.sync_switch_step), sync_dist=False)
        if self.grid_batch is not None and not self.trainer.sanity_checking:
            root = Path(self.trainer.log_dir or self.trainer.default_root_dir)  # every rank: log_dir broadcasts
            if self.trainer.is_global_zero:
                self.render_grid(root / "samples" / f"step_{self.global_step:07d}.png")

    def sync_threshold(self, real_loss: float) -> float:
        """The switch threshold: the paper's absolute value, or ``sync_threshold_rel`` x the expert's loss on real
        in-sync windows (a small expert never reaches 0.75 even on real clips; its own real loss is what it can)."""
        c = self.loss_cfg
        if c["sync_threshold_mode"] == "relative":
            return float(c["sync_threshold_rel"]) * real_loss
        return float(c["sync_threshold"])

    @torch.no_grad()
    def render_grid(self, path: Path) -> Path:
        """[reference | input | generated | target (| generated with another emotion)] PNG of the fixed batch."""
        from emotalk.plots import save_sample_grid

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
