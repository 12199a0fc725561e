"""Training entry point: `python -m emotalk.train experiment=<name> [overrides]` (Hydra; -m for sweeps).

Each run folder holds the resolved config (config.yaml), checkpoints/, the metrics CSV, the wandb offline run
and metrics.json. A stage experiment (syncnet, emotion_classifier, base_lrs2, ...) also publishes its final
checkpoint as `<paths.stages_dir>/<stage_name>.ckpt`, where later stages find it by name.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

import emotalk  # noqa: F401  (sets the offline/quiet environment defaults)
from emotalk.errors import EmotalkError
from emotalk.fsutil import write_atomic

log = logging.getLogger("emotalk.train")
CONF_DIR = str(Path(__file__).resolve().parent / "conf")


def _absolute_paths(cfg: DictConfig) -> None:
    """Anchor relative paths at the launch directory (Hydra may run jobs elsewhere)."""
    from hydra.utils import get_original_cwd

    try:
        cwd = get_original_cwd()
    except ValueError:  # composed outside a Hydra app (tests)
        cwd = os.getcwd()
    for key in ("root_dir", "data_dir", "log_dir", "stages_dir"):
        v = cfg.paths.get(key)
        if v is not None and not os.path.isabs(str(v)):
            cfg.paths[key] = str(Path(cwd) / str(v))


def print_config(cfg: DictConfig) -> None:
    from rich.console import Console
    from rich.syntax import Syntax
    from rich.tree import Tree

    tree = Tree("config", guide_style="dim")
    for key in ("experiment_name", "data", "augment", "model", "loss", "trainer", "logger", "callbacks"):
        if key in cfg:
            node = cfg[key]
            text = OmegaConf.to_yaml(node, resolve=True) if isinstance(node, DictConfig) else str(node)
            tree.add(key).add(Syntax(text, "yaml"))
    Console(stderr=True).print(tree)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit (and optionally test) one configuration; return its final metrics."""
    import lightning as L
    import torch
    from hydra.utils import instantiate

    _absolute_paths(cfg)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    if cfg.get("print_config", True):
        print_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision("high")

    datamodule = _build(cfg.data)
    model = _build(cfg.model)
    callbacks = [instantiate(c, _convert_="all") for c in (cfg.get("callbacks") or {}).values() if c]
    if not cfg.trainer.get("enable_progress_bar", True):  # `trainer.enable_progress_bar=false` alone is enough
        callbacks = [c for c in callbacks if not isinstance(c, L.pytorch.callbacks.ProgressBar)]
    loggers = [instantiate(lg, _convert_="all") for lg in (cfg.get("logger") or {}).values() if lg]
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, _convert_="all")

    if cfg.get("validate_first") and not cfg.get("ckpt_path"):
        # The untrained model's validation metrics, logged at step 0: the baseline every curve is read against.
        untrained = trainer.validate(model, datamodule=datamodule)
        _reset_metrics(model)
    else:
        untrained = []
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    if cfg.get("test"):
        # The checkpoint that was best on the validation actors, scored once on the test actors.
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=False)
        metrics["test_checkpoint"] = best or "last weights"
        metrics.update(
            {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1 and k.startswith("test")}
        )
    metrics["global_step"] = trainer.global_step
    # The untrained model's validation metrics (validate_first): the baseline the tables print beside each run.
    metrics.update({f"untrained/{k}": float(v) for d in untrained for k, v in d.items()})
    if hasattr(model, "sync_switched"):
        metrics["sync_switched"] = bool(model.sync_switched)
    if hasattr(model, "term_accounting"):
        # term/<name>: live (entered the loss) at any step; _from: its first global step or "never".
        for name, t in model.term_accounting().items():
            metrics[f"term/{name}"] = t["live"]
            metrics[f"term/{name}_from"] = t["from_step"]
            metrics[f"term/{name}_weight"] = t["weight"]
            metrics[f"term/{name}_armed"] = t["armed"]
        metrics["term/perceptual_kind"] = model.perceptual_kind or "off"
        metrics["sync_switch_step"] = model.term_accounting()["sync"]["switch_step"]
    if trainer.is_global_zero:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
        publish_stage(cfg, trainer, out)
    return metrics


def compose(overrides: list[str]) -> DictConfig:
    """The training config for `overrides`, composed without a Hydra app (benchmarks, notebooks, tests)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return hydra_compose("train", overrides=overrides)


def _reset_metrics(model: Any) -> None:
    """Recreate torchmetrics states left as inference-mode tensors by `trainer.validate` (fit updates in place)."""
    from torchmetrics import Metric

    for m in model.modules():
        if isinstance(m, Metric):
            m.reset()


def _build(node: DictConfig) -> Any:
    """hydra.utils.instantiate, with our own errors unwrapped so the user sees the actionable message."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, _convert_="all")
    except InstantiationException as exc:
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, EmotalkError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


def publish_stage(cfg: DictConfig, trainer: Any, out: Path) -> Path | None:
    """Copy this run's last checkpoint to `<stages_dir>/<stage_name>.ckpt` (not for sweeps or debug runs)."""
    from hydra.core.hydra_config import HydraConfig

    name = cfg.get("stage_name")
    if not name or not cfg.get("publish_stage", True) or trainer.fast_dev_run:
        return None
    try:
        if HydraConfig.initialized() and str(HydraConfig.get().mode) == "RunMode.MULTIRUN":
            return None
    except ValueError:
        pass
    ckpts = sorted((out / "checkpoints").glob("last*.ckpt"), key=lambda p: p.stat().st_mtime)
    if not ckpts:
        log.warning("no checkpoint to publish for stage %s", name)
        return None
    dest = Path(cfg.paths.stages_dir) / f"{name}.ckpt"
    write_atomic(dest, lambda tmp: shutil.copyfile(ckpts[-1], tmp), mkdir=True)
    log.info("published stage %s -> %s", name, dest)
    return dest


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics = train(cfg)
    except EmotalkError as exc:
        print(f"emotalk train: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    value = metrics.get(cfg.get("optimized_metric") or "")
    return None if value is None or math.isnan(value) else value


def add_arguments(parser: Any) -> None:  # `emotalk train ...` hands its arguments to Hydra
    pass


def main_from_cli(argv: list[str]) -> int:
    sys.argv = ["emotalk train", *argv]
    main()
    return 0


if __name__ == "__main__":
    main()
