"""Learning on held-out synthetic actors: the long versions of tests/lit/test_learning.py, with the issue's targets.

Data: the synthetic CREMA-D of `make data` (24 actors: 21 train, validation actors 1006 and 1024, test actor 1011)
when `data/synthetic_pre` holds it, otherwise the same set generated once into ~/.cache/emotalk/bench-learning. Each
stage trains at scale=tiny (quarter width) on the CPU and is scored once on the test actor with its best validation
checkpoint:

* expert SyncNet: in-sync vs off-sync accuracy (target >= 0.8);
* emotion classifier: six-way accuracy per window and per clip, and the EmoAcc gate of `emotalk evaluate` run on the
  saved checkpoint (per clip, all non-overlapping windows, target > 0.9);
* smoke generator (PL+DA, counterfactual references): validation L1 before and after training, how much the face
  changes with the requested emotion, and how often the classifier recognises the requested emotion (chance 1/6);
* the same generator on whole clips of the test actor (`judge_generated`, issue 12's targets): each clip
  regenerated from its own audio with a reference from *another* clip of the actor, once per requested emotion;
  the classifier's per-clip verdict must be the requested emotion (target >= 0.85), and the expert's sync
  confidence on the generated clips must reach 80 % of its confidence on the real clips with the same audio, by
  the expert it trained against and by a second one (seed 7) it never saw.

``EMOTALK_BENCH_STAGES=<folder with syncnet.ckpt and emotion_classifier.ckpt>`` reuses judges trained with the
recipes below instead of training them again (the rows then say so); ``EMOTALK_BENCH_SMOKE`` overrides the
generator's recipe (space-separated Hydra overrides).
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import open_dict

if TYPE_CHECKING:
    from emotalk.evaluate.emotion_acc import GateResult

log = logging.getLogger("emotalk.benchmarks.learning")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emotalk" / "bench-learning"


def _actors(root: Path) -> set[str]:
    from emotalk.data.clips import read_manifest

    return {m.actor for m in read_manifest(root)} if (root / "manifest.jsonl").is_file() else set()


#: The tiny judges' recipes on the synthetic set (experiments/ablations.py trains them the same way at scale=tiny).
#: Light augmentation (the classifier experiment's) and our cosine decay lifted the classifier from 0.864 to 0.875
#: per window on the 12-actor set; the 24-actor set then took it to 0.92 per window, 0.91 per clip.
JUDGE_RECIPES: dict[str, list[str]] = {
    "syncnet": ["trainer.max_epochs=20", "augment=none", "model.lr=5e-4", "data.batch_size=32"],
    "emotion_classifier": ["trainer.max_epochs=30", "model.schedule=cosine", "model.lr=5e-4", "data.batch_size=32"],
}
#: A second classifier the generator never trains against (another seed and the paper's stronger augmentation),
#: published under its own name: the generator can learn a texture that its own classifier reads as the requested
#: emotion (issue #12: a checkerboard scored 0.81), so the benchmark's target is scored by this one.
INDEPENDENT = "emotion_classifier_independent"
INDEPENDENT_RECIPE = [*JUDGE_RECIPES["emotion_classifier"], "seed=7", "augment=paper", f"stage_name={INDEPENDENT}"]
#: Likewise a second expert (another seed) scores the sync target: a generator trained against an expert can please
#: it (its confidence on generated clips rose to 1.2x real's), so the share is also reported by one it never saw.
INDEPENDENT_SYNC = "syncnet_independent"
INDEPENDENT_SYNC_RECIPE = [*JUDGE_RECIPES["syncnet"], "seed=7", f"stage_name={INDEPENDENT_SYNC}"]
SMOKE_EPOCHS = 12
#: The smoke generator's recipe (tiny, CPU): batch 8 and lr 1e-3 for more, faster steps than the paper's 16 / 1e-4.
SMOKE_RECIPE: list[str] = ["validate_first=true", "model.lr=1e-3", "data.batch_size=8"]
#: Issue 12's benchmark targets on whole generated clips of held-out actors.
REQUESTED_ACC_TARGET = 0.85
SYNC_CONF_SHARE_TARGET = 0.8


def recipe(stage: str, quick: bool = False) -> list[str]:
    """A judge's overrides; `quick` trains 4 epochs instead."""
    overrides = {INDEPENDENT: INDEPENDENT_RECIPE, INDEPENDENT_SYNC: INDEPENDENT_SYNC_RECIPE}.get(stage)
    overrides = overrides or JUDGE_RECIPES[stage]
    if quick:
        overrides = [o for o in overrides if not o.startswith("trainer.max_epochs=")] + ["trainer.max_epochs=4"]
    return overrides


def dataset() -> Path:
    """A preprocessed synthetic set of the default size (made once)."""
    from emotalk.data.synthetic import DEFAULT_ACTORS

    made = Path("data/synthetic_pre")
    if len(_actors(made)) >= DEFAULT_ACTORS:
        return made.resolve()
    pre = CACHE / "synthetic_pre"
    if len(_actors(pre)) < DEFAULT_ACTORS:
        from emotalk.cli import main as cli

        raw = CACHE / "synthetic"
        cli(["synth", "--out", str(raw), "--actors", str(DEFAULT_ACTORS), "--seed", "0", "--no-progress"])
        cli(["preprocess", "--dataset", "crema_d", "--input", str(raw), "--out", str(pre), "--workers", "2"])
    return pre


def fit(experiment: str, overrides: list[str], data: Path, tmp: Path, name: str | None = None) -> tuple[dict, Path]:
    from emotalk.train import compose, train

    out = tmp / (name or experiment)
    cfg = compose(
        [
            f"experiment={experiment}",
            "scale=tiny",
            f"data.root={data}",
            f"paths.output_dir={out}",
            f"paths.stages_dir={tmp / 'stages'}",
            "logger=csv",
            "print_config=false",
            "trainer.enable_model_summary=false",
            *overrides,
        ]
    )
    with open_dict(cfg):
        cfg.paths.root_dir = str(out)
    t0 = time.perf_counter()
    metrics = train(cfg)
    metrics["minutes"] = (time.perf_counter() - t0) / 60
    return metrics, out


def classifier_gate(checkpoint: Path, data: Path) -> GateResult:
    """The `emotalk evaluate` gate (evaluate/emotion_acc.py) on the real clips of the test actors, never raising."""
    from emotalk.cremad import TEST_ACTORS
    from emotalk.evaluate.emotion_acc import check_classifier, load_classifier
    from emotalk.evaluate.protocol import load_faces, test_clips
    from emotalk.spec import EMOTIONS

    metas = test_clips(data, sorted(set(TEST_ACTORS) & _actors(data)))
    clips = ((*load_faces(data, m), EMOTIONS.index(m.emotion or "")) for m in metas)
    result = check_classifier(load_classifier(checkpoint), clips, force=True)
    log.info("%s", result.describe())
    return result


def _load_judges(stages: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Experts and classifiers by key suffix: "" (trained against) and "_independent" (when `stages` holds one)."""
    from emotalk.evaluate.emotion_acc import load_classifier
    from emotalk.evaluate.realface import SyncJudge
    from emotalk.models.stages import load_net

    experts = {"": SyncJudge(load_net(stages / "syncnet.ckpt", "syncnet", "expert SyncNet", "syncnet"))}
    if (stages / f"{INDEPENDENT_SYNC}.ckpt").is_file():
        net = load_net(stages / f"{INDEPENDENT_SYNC}.ckpt", "syncnet", "independent SyncNet", INDEPENDENT_SYNC)
        experts["_independent"] = SyncJudge(net)
    judges = {"": load_classifier(stages / "emotion_classifier.ckpt")}
    if (stages / f"{INDEPENDENT}.ckpt").is_file():
        judges["_independent"] = load_classifier(stages / f"{INDEPENDENT}.ckpt")
    return experts, judges


def judge_generated(
    checkpoint: Path,
    stages: Path,
    data: Path,
    actors: list[str] | None = None,
    precision: str = "fp32",
    calibration_clips: list[Path] | None = None,
    max_clips: int | None = None,
) -> dict[str, float]:
    """Requested-emotion accuracy and the expert's sync confidence on whole generated clips of held-out actors.

    Every labelled clip of `actors` (default: the test actors present) is regenerated from its own audio, with the
    reference frames of the next clip of the same actor (run back and forth to the clip's length: the generator
    must draw the mouth from the audio, not copy it), once per requested emotion. The classifier judges each
    generated clip as EmoAcc does (mean logits over non-overlapping windows), and so does the independent one
    (`INDEPENDENT`) when `stages` holds it; the expert's confidence (max − median of its offset curve,
    `evaluate.realface`) is compared with the real clip's with the same audio, and so is the independent expert's
    (`INDEPENDENT_SYNC`, keys ending in `_independent`) when `stages` holds it. `precision` other than fp32 runs the
    generator on OpenVINO (int8 calibrated on `calibration_clips`): issue #15's emotion gate. `max_clips` keeps the
    first clips only (tests).
    """
    import numpy as np

    from emotalk.cremad import TEST_ACTORS
    from emotalk.evaluate.emotion_acc import classify_video
    from emotalk.evaluate.protocol import test_clips
    from emotalk.evaluate.realface import FaceClip, generate_frames, mel_windows, offset_and_confidence, pingpong
    from emotalk.infer.model import load_generator
    from emotalk.spec import EMOTIONS

    model = load_generator(checkpoint, device="cpu")
    if precision != "fp32":
        from emotalk.infer.backends import runtime_for
        from emotalk.infer.pipeline import capture_calibration

        model = runtime_for(
            model, "openvino", precision, calibration_clips=calibration_clips, capture=capture_calibration
        )
    experts, judges = _load_judges(stages)
    metas = test_clips(data, actors or sorted(set(TEST_ACTORS) & _actors(data)))[:max_clips]
    clips = [FaceClip.load(data, m) for m in metas]
    hits = dict.fromkeys(judges, 0)
    hits_other = dict.fromkeys(judges, 0)
    n_other = 0
    conf_real: dict[str, list[float]] = {key: [] for key in experts}
    conf_fake: dict[str, list[float]] = {key: [] for key in experts}
    for i, clip in enumerate(clips):
        same = [k % len(clips) for k in range(i + 1, i + len(clips)) if clips[k % len(clips)].actor == clip.actor]
        j = same[0] if same else i
        n = len(clip.faces)
        refs = clips[j].faces[pingpong(len(clips[j].faces), n)]
        mels = mel_windows(clip.wav, n, clip.fps)
        for key, judge in experts.items():
            conf_real[key].append(offset_and_confidence(judge.curve(clip.faces, mels))[1])
        for e, name in enumerate(EMOTIONS):
            fake = generate_frames(model, clip.faces, refs, mels, e)
            unlike = name != metas[j].emotion  # the reference shows another emotion than the one requested
            n_other += unlike
            for key, classifier in judges.items():
                hit = classify_video(classifier, fake).prediction == e
                hits[key] += hit
                hits_other[key] += hit and unlike
            for key, judge in experts.items():
                conf_fake[key].append(offset_and_confidence(judge.curve(fake, mels))[1])
    scores: dict[str, float] = {"clips": len(clips)}
    for key in judges:
        scores[f"requested_acc{key}"] = hits[key] / (len(clips) * len(EMOTIONS))
        scores[f"requested_acc_unlike_reference{key}"] = hits_other[key] / max(n_other, 1)
    for key in experts:
        real, fake_conf = float(np.mean(conf_real[key])), float(np.mean(conf_fake[key]))
        scores[f"sync_conf_real{key}"] = real
        scores[f"sync_conf_generated{key}"] = fake_conf
        scores[f"sync_conf_share{key}"] = fake_conf / real if real > 0 else float("nan")
    return scores


def _column(out: Path, key: str) -> list[float]:
    with open(next(out.rglob("metrics.csv"))) as f:
        return [float(r[key]) for r in csv.DictReader(f) if r.get(key)]


def train_judges(data: Path, tmp: Path, quick: bool) -> tuple[Path, list[dict]]:
    """Train the expert, the classifier and the independent classifier (or reuse EMOTALK_BENCH_STAGES); rows."""
    reuse = os.environ.get("EMOTALK_BENCH_STAGES")
    if reuse:
        stages = Path(reuse).resolve()
        g = classifier_gate(stages / "emotion_classifier.ckpt", data)
        return stages, [
            {"name": f"judges reused from {stages} (not trained by this run)", "value": 0, "unit": ""},
            {
                "name": f"EmoAcc gate of emotalk evaluate: accuracy on the {g.n_clips} test-actor clips",
                "value": g.accuracy,
                "unit": "",
                "target": f"> {g.threshold}",
            },
        ]
    evaluation = ["data.val_windows_per_clip=4", "test=true"]
    m, _ = fit("syncnet", [*recipe("syncnet", quick), *evaluation], data, tmp)
    rows = [
        {"name": "expert in/off-sync accuracy, test actor", "value": m["test/acc"], "unit": "", "target": ">= 0.8"},
        {"name": "expert training time", "value": m["minutes"], "unit": "min"},
    ]
    m, _ = fit("syncnet", [*recipe(INDEPENDENT_SYNC, quick), *evaluation], data, tmp, name=INDEPENDENT_SYNC)
    rows.append({"name": "independent expert (seed 7) in/off-sync accuracy, test actor", "value": m["test/acc"],
                 "unit": ""})  # fmt: skip
    m, _ = fit("emotion_classifier", [*recipe("emotion_classifier", quick), *evaluation], data, tmp)
    g = classifier_gate(tmp / "stages" / "emotion_classifier.ckpt", data)
    rows += [
        {"name": "classifier accuracy per window, test actor", "value": m["test/acc"], "unit": ""},
        {"name": "classifier accuracy per clip, test actor", "value": m["test/clip_acc"], "unit": ""},
        {
            "name": f"EmoAcc gate of emotalk evaluate: accuracy on the {g.n_clips} test-actor clips",
            "value": g.accuracy,
            "unit": "",
            "target": f"> {g.threshold}",
        },
        {"name": "classifier training time", "value": m["minutes"], "unit": "min"},
    ]
    m, _ = fit("emotion_classifier", [*recipe(INDEPENDENT, quick), *evaluation], data, tmp, name=INDEPENDENT)
    name = "independent classifier (seed 7, paper augmentation) accuracy per clip, test actor"
    rows.append({"name": name, "value": m["test/clip_acc"], "unit": ""})
    return tmp / "stages", rows


def run(quick: bool = False) -> list[dict]:
    data = dataset()
    with tempfile.TemporaryDirectory(prefix="emotalk-bench-learning-") as tmp:
        tmp_path = Path(tmp)
        stages, rows = train_judges(data, tmp_path, quick)
        smoke = os.environ.get("EMOTALK_BENCH_SMOKE", "").split() or SMOKE_RECIPE
        smoke_epochs = 1 if quick else SMOKE_EPOCHS
        m, out = fit(
            "smoke",
            [
                f"trainer.max_epochs={smoke_epochs}",
                f"model.expert={stages / 'syncnet.ckpt'}",
                f"model.classifier={stages / 'emotion_classifier.ckpt'}",
                *smoke,
            ],
            data,
            tmp_path,
        )
        l1 = _column(out, "val/loss_l1")
        rows += [
            {"name": f"generator recipe: {smoke_epochs} epochs, {' '.join(smoke)}", "value": 0, "unit": ""},
            {"name": "generator val L1, untrained", "value": l1[0], "unit": ""},
            {"name": "generator val L1, trained", "value": l1[-1], "unit": "", "target": f"< {l1[0] / 2:.4f}"},
            {"name": "generator mean |change| across requested emotions", "value": m["val/emotion_delta"], "unit": ""},
            {
                "name": "classifier recognises the requested emotion on generated validation windows",
                "value": m["val/emotion_acc_requested"],
                "unit": "",
                "target": f"> {1 / 6:.4f}",
            },
            {"name": "generator training time", "value": m["minutes"], "unit": "min"},
        ]
        t0 = time.perf_counter()
        j = judge_generated(tmp_path / "stages" / "smoke.ckpt", stages, data)
        rows += [
            {
                "name": f"requested emotion recognised on whole generated test-actor clips ({j['clips']} x 6), "
                "by the classifier the generator trained against",
                "value": j["requested_acc"],
                "unit": "",
            },
            {
                "name": "same, by the independent classifier",
                "value": j.get("requested_acc_independent", float("nan")),
                "unit": "",
                "target": f">= {REQUESTED_ACC_TARGET}",
            },
            {
                "name": "independent classifier, only requests unlike the reference clip's emotion",
                "value": j.get("requested_acc_unlike_reference_independent", float("nan")),
                "unit": "",
            },
            {"name": "expert sync confidence, real test-actor clips", "value": j["sync_conf_real"], "unit": ""},
            {"name": "expert sync confidence, generated clips", "value": j["sync_conf_generated"], "unit": ""},
            {
                "name": "expert sync confidence, generated / real",
                "value": j["sync_conf_share"],
                "unit": "",
                "target": f">= {SYNC_CONF_SHARE_TARGET}",
            },
            {
                "name": "same, by the independent expert (never trained against)",
                "value": j.get("sync_conf_share_independent", float("nan")),
                "unit": "",
                "target": f">= {SYNC_CONF_SHARE_TARGET}",
            },
            {"name": "whole-clip judging time", "value": (time.perf_counter() - t0) / 60, "unit": "min"},
        ]
    return rows


if __name__ == "__main__":
    import json
    import sys

    logging.basicConfig(level=logging.INFO)
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
