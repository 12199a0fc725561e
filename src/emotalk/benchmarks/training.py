"""Training speed: samples/s of each module at its paper batch size, and the data pipeline's share of a step.

Each stage runs through `emotalk.train.train` exactly as `python -m emotalk.train experiment=<name>` would (same
configs, DataLoader with 2 workers and the paper augmentation, Lightning loop), for a few steps with validation off,
timed by `emotalk.lit.timing.StepTimer`. The expert and classifier runs publish their checkpoints, which the
generator GAN run then loads (frozen expert, classifier trained on real clips). The data are the datamodule
benchmark's textured clips: speed does not depend on what the pixels show.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import torch

from emotalk.benchmarks.datamodule import make_dataset

#: experiment, paper batch size (reference-code.md: expert 128 in EmoGen, classifier 64, generator 16)
STAGES = (("syncnet", 128), ("emotion_classifier", 64), ("pl_da", 16))


def time_stage(
    experiment: str, batch: int, width: float, steps: int, tmp: Path, data: Path, workers: int = 2
) -> dict[str, float]:
    """Run `steps` (+2 warm-up) training steps of one experiment; return StepTimer's summary."""
    from omegaconf import open_dict

    from emotalk.train import compose, train

    out, stages, timing = tmp / f"{experiment}-{width}", tmp / f"stages-{width}", tmp / f"{experiment}-{width}.json"
    cfg = compose(
        [
            f"experiment={experiment}",
            f"trainer={'gpu' if torch.cuda.is_available() else 'cpu'}",
            f"width={width}",
            f"data.root={data}",
            f"data.batch_size={batch}",
            f"data.num_workers={workers}",
            f"data.samples_per_epoch={batch * (steps + 2)}",
            "data.split.test_actors=[]",
            "data.split.val_actors=[]",
            "augment=paper",
            "logger=none",
            "print_config=false",
            f"paths.output_dir={out}",
            f"paths.stages_dir={stages}",
            "trainer.max_epochs=1",
            "+trainer.limit_val_batches=0",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            "callbacks.model_checkpoint=null",
            "+callbacks.step_timer._target_=emotalk.lit.timing.StepTimer",
            f"+callbacks.step_timer.out={timing}",
            "test=false",
        ]
    )
    with open_dict(cfg):
        cfg.paths.root_dir = str(out)
    train(cfg)
    return json.loads(timing.read_text())


def run(quick: bool = False) -> list[dict]:
    widths = (0.25,) if quick else (1.0, 0.25)
    steps = 3 if quick else 8
    rows: list[dict] = []
    quiet = [logging.getLogger(n) for n in ("emotalk.data", "lightning", "lightning.pytorch", "emotalk.lit")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory(prefix="emotalk-bench-train-") as tmp:
            data = Path(tmp) / "data"
            make_dataset(data, n_actors=2 if quick else 4)
            for width in widths:
                for experiment, batch in STAGES:
                    s = time_stage(experiment, batch, width, steps, Path(tmp), data)
                    device = "cuda" if torch.cuda.is_available() else "cpu"
                    label = f"{experiment} (width {width}, batch {batch}, {device})"
                    rows.append({"name": f"{label} samples/s", "value": s["samples_per_s"], "unit": "samples/s"})
                    rows.append({"name": f"{label} step time", "value": s["step_s"], "unit": "s"})
                    rows.append({"name": f"{label} data share of step", "value": s["data_share"], "unit": "fraction"})
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)
    return rows


if __name__ == "__main__":
    for r in run(quick=True):
        print(r)
