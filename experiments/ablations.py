"""`make ablations`: the paper's stage chain and ablation table, then the evaluation protocol.

syncnet -> emotion_classifier -> base_lrs2, base_lrs2_fullface -> end, seq, pl_da, pre, pre_init, noise (+ our
pl_da_cf). On the synthetic set (default) every stage runs at scale=tiny in minutes; with real data
(`make ablations DATA=<preprocessed CREMA-D> RAW=<CREMA-D VideoFlash> LRS2=<preprocessed LRS2> SCALE=paper`) the
same chain trains the paper-size models. Ends with a training table (validation metrics of every run) and the
evaluation table of `emotalk evaluate` (metrics whose weights are missing are reported as n/a, never faked).

Generator rows also show the untrained model (``validate_first``) and chance beside the trained one, and which loss
terms were live and from which step (metrics.json ``term/*``). A row whose defining terms never ran (PL+DA without
a perceptual term, sync never switched) is marked, never printed as if it were the paper's row.
`python experiments/ablations.py --render experiments/results/ablations-<...>.json` re-renders a recorded run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from emotalk.benchmarks.learning import JUDGE_RECIPES
from emotalk.spec import EMOTIONS

STAGES = ["syncnet", "emotion_classifier", "base_lrs2", "base_lrs2_fullface"]
ABLATIONS = ["end", "seq", "pl_da", "pre", "pre_init", "noise", "pl_da_cf"]
COLUMNS = [
    "val/loss_l1",
    "val/loss_sync",
    "val/emotion_acc",
    "val/emotion_acc_requested",
    "val/emotion_delta",
    "val/acc",
    "test/acc",
    "test/clip_acc",
    "global_step",
]
#: Generator metrics shown as "untrained → trained" (the untrained value is validate_first's).
BASELINED = ["val/loss_l1", "val/loss_l1_lower", "val/loss_sync", "val/emotion_acc", "val/emotion_acc_requested"]
TERMS = ["l1", "sync", "perceptual", "emotion", "adversarial"]
#: The terms that define each row of the paper's table (mission.md §5); beyond these, any term given a weight.
DEFINING: dict[str, set[str]] = {
    "base_lrs2": {"l1", "sync"},
    "base_lrs2_fullface": {"l1", "sync"},
    "end": {"l1", "sync", "emotion"},
    "seq": {"l1", "sync", "emotion"},
    **{e: {"l1", "sync", "emotion", "perceptual"} for e in ("pl_da", "pre", "pre_init", "noise", "pl_da_cf", "smoke")},
}
CHANCE = 1 / len(EMOTIONS)


def tiny_generator_defaults(env: dict[str, str] | os._Environ = os.environ) -> list[str]:
    """Generator overrides at scale=tiny (before the user's --gen, which win): a quarter-width expert never brings
    the validation sync loss near the paper's absolute 0.75, so α switches relative to the expert's own loss on the
    real in-sync windows (issue #12 item 3); and with no VGG19 weights the perceptual rows use the frozen expert's
    face features, recorded as term/perceptual_kind=expert_features, instead of silently dropping the term."""
    out = ["loss.sync_threshold_mode=relative"]
    if not env.get("EMOTALK_VGG19"):
        out.append("model.perceptual.kind=expert_features")
    return out


def _last_run(exp: str, log_dir: Path) -> Path | None:
    runs = sorted((log_dir / "train" / exp).glob("*/metrics.json"), key=lambda p: p.stat().st_mtime)
    return runs[-1] if runs else None


def run_stage(exp: str, args: argparse.Namespace, log_dir: Path) -> dict:
    data = args.lrs2 if exp.startswith("base_") and args.lrs2 else args.data
    stages = log_dir / ("stages_tiny" if args.scale == "tiny" else "stages")
    done = _last_run(exp, log_dir)
    if exp in args.reuse and done is not None and (stages / f"{exp}.ckpt").is_file():
        print(f"\n=== {exp}: reused {done.parent} (--reuse)", flush=True)
        metrics = json.loads(done.read_text())
        return {**metrics, "run_dir": str(done.parent), "reused": True}
    cmd = [
        sys.executable,
        "-m",
        "emotalk.train",
        f"experiment={exp}",
        f"scale={args.scale}",
        f"data.root={Path(data).resolve()}",
        f"paths.log_dir={log_dir}",
        "print_config=false",
        f"logger={args.logger}",
        # At scale=tiny the judges train with the benchmark's recipe, which passes the targets.
        *(JUDGE_RECIPES.get(exp, []) if args.scale == "tiny" else []),
        # Generators: validate the untrained model first, the baseline the table prints beside the trained one.
        *([] if exp in JUDGE_RECIPES else ["validate_first=true"]),
        *([] if exp in JUDGE_RECIPES or args.scale != "tiny" else tiny_generator_defaults()),
        *([] if exp in JUDGE_RECIPES else args.gen),
        *args.overrides,
    ]
    print(f"\n=== {exp}: {' '.join(cmd[2:])}", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    run = _last_run(exp, log_dir)
    assert run is not None, f"{exp} wrote no metrics.json under {log_dir}"
    metrics = json.loads(run.read_text())
    metrics["run_dir"] = str(run.parent)
    metrics["minutes"] = round((time.perf_counter() - t0) / 60, 2)
    return metrics


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))


def term_status(m: dict) -> dict[str, tuple[bool | None, str]]:
    """Per term: (live? — None when the run predates term accounting, cell text). Never "on" for an off term."""
    out: dict[str, tuple[bool | None, str]] = {}
    for t in TERMS:
        if f"term/{t}_from" in m:
            start, weight = m[f"term/{t}_from"], m.get(f"term/{t}_weight", 0.0)
            if start != "never":
                kind = m.get("term/perceptual_kind", "") if t == "perceptual" else ""
                out[t] = (True, f"{kind + ' ' if kind and kind != 'vgg19' else ''}from {start}")
            elif weight and weight > 0:
                out[t] = (False, "NEVER" if m.get(f"term/{t}_armed") else "OFF (no network)")
            else:
                out[t] = (False, "-")
        elif t == "sync" and "sync_switched" in m:  # recorded before term accounting: the switch flag only
            out[t] = (bool(m["sync_switched"]), "on (step ?)" if m["sync_switched"] else "NEVER")
        elif f"term/{t}" in m:  # before accounting term/<name> meant "configured": live only if weighted
            out[t] = (None, "configured (step ?)" if m[f"term/{t}"] else "OFF")
        elif t == "l1" and "val/loss_l1" in m:
            out[t] = (True, "on")
        else:
            out[t] = (None, "?")
    return out


def flags(exp: str, m: dict) -> list[str]:
    """Why a row is not the row its name promises: defining terms that never ran; EmoAcc at chance."""
    status = term_status(m)
    wanted = set(DEFINING.get(exp, set()))
    wanted |= {t for t in TERMS if (m.get(f"term/{t}_weight") or 0) > 0}
    out = []
    for t in sorted(wanted, key=TERMS.index):
        live, text = status[t]
        if live is False:
            out.append(f"{t} never ran" if text != "OFF (no network)" else f"{t} off (no network)")
        elif live is None and text.startswith("OFF"):
            out.append(f"{t} off")
    acc = m.get("val/emotion_acc_requested")
    if isinstance(acc, float) and "emotion" in wanted and acc <= CHANCE + 0.05:
        out.append(f"requested-emotion acc {acc:.2f} at/below chance {CHANCE:.2f}")
    return out


def table(results: dict[str, dict]) -> str:
    """Markdown: stage metrics, then generator rows with untrained → trained, chance, live terms and flags."""
    lines = ["| experiment | " + " | ".join(COLUMNS) + " | minutes |", "|---" * (len(COLUMNS) + 2) + "|"]
    for exp, m in results.items():
        cells = [_fmt(m.get(c)) for c in COLUMNS]
        took = "reused" if m.get("reused") else m.get("minutes", "")
        lines.append(f"| {exp} | " + " | ".join(cells) + f" | {took} |")
    gens = {e: m for e, m in results.items() if "val/loss_l1" in m}
    if not gens:
        return "\n".join(lines) + "\n"
    head = ["experiment", *[f"{c} (untrained → trained)" for c in BASELINED], "copy-ref lower L1"]
    head += ["expert on real (val/loss_sync_real)"]
    head += ["chance (emotion)", *[f"term {t}" for t in TERMS], "sync switch step", "flags"]
    lines += ["", "Generators: untrained (validate_first) → trained; loss terms live from global step", ""]
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for exp, m in gens.items():
        status = term_status(m)
        flagged = flags(exp, m)
        name = f"⚠ {exp}" if flagged else exp
        cells = [name]
        for c in BASELINED:
            base = m.get(f"untrained/{c}")
            cells.append(f"{_fmt(base) or '?'} → {_fmt(m.get(c))}" if c in m else "")
        cells += [_fmt(m.get("val/loss_l1_lower_copy_ref")), _fmt(m.get("val/loss_sync_real")), f"{CHANCE:.3f}"]
        cells += [status[t][1] for t in TERMS]
        cells += [_fmt(m.get("sync_switch_step", "?")), "; ".join(flagged) or "ok"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "⚠: a defining term of the row never entered the loss (or its network was missing), or the requested "
        "emotion is recognised at chance: the row does not measure what its name says."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/synthetic_pre", help="preprocessed CREMA-D (or the synthetic set)")
    ap.add_argument("--raw", default="data/synthetic/VideoFlash", help="source videos of --data, for evaluation")
    ap.add_argument("--lrs2", default="", help="preprocessed LRS2 for the base stages (default: --data)")
    ap.add_argument("--scale", default="tiny", choices=["tiny", "paper"])
    ap.add_argument("--logger", default="csv")
    ap.add_argument("--out", default="outputs/ablations")
    ap.add_argument("--only", nargs="*", help="run only these experiments (earlier stages must exist)")
    ap.add_argument("--no-eval", action="store_true", help="skip the evaluation protocol")
    ap.add_argument("--max-clips", type=int, default=6, help="evaluation: test clips per experiment (0 = all)")
    ap.add_argument("--render", metavar="JSON", help="only re-render the tables of a recorded results JSON")
    ap.add_argument(
        "--reuse",
        nargs="*",
        default=[],
        help="stages taken from their last run under --out instead of retrained (e.g. the judges)",
    )
    ap.add_argument(
        "--gen",
        action="append",
        default=[],
        metavar="OVERRIDE",
        help="a Hydra override for the generator stages only (repeatable): --gen loss.sync_threshold_mode=relative",
    )
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every stage")
    args = ap.parse_args(argv)
    if args.render:
        print(table(json.loads(Path(args.render).read_text())))
        return 0
    out = Path(args.out).resolve()
    log_dir = out / "runs"
    results: dict[str, dict] = {}
    for exp in args.only or STAGES + ABLATIONS:
        results[exp] = run_stage(exp, args, log_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    res_dir = Path("experiments/results")
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / f"ablations-{args.scale}-{stamp}.json").write_text(json.dumps(results, indent=2))
    md = table(results)
    (out / "training_table.md").write_text(md)
    (res_dir / f"ablations-{args.scale}-{stamp}-training.md").write_text(md)
    print("\nTraining (validation/test actors)\n" + md)
    if args.no_eval:
        return 0
    from emotalk.evaluate.protocol import EvalConfig, evaluate_experiments

    stages = log_dir / ("stages_tiny" if args.scale == "tiny" else "stages")
    gens = {e: stages / f"{e}.ckpt" for e in ABLATIONS if (stages / f"{e}.ckpt").is_file()}
    env = os.environ
    evaluate_experiments(
        gens,
        args.data,
        args.raw,
        out / "evaluation",
        syncnet_v2=env.get("EMOTALK_SYNCNET_V2") or None,
        inception=env.get("EMOTALK_INCEPTION") or None,
        classifier=stages / "emotion_classifier.ckpt",
        # A tiny classifier rarely passes the 90 % EmoAcc gate; the table then says the judge was forced.
        config=EvalConfig(max_clips=args.max_clips or None, force=args.scale == "tiny"),
    )
    flagged = {e: flags(e, results[e]) for e in gens if e in results and flags(e, results[e])}
    if flagged:  # the evaluation table must not read as the paper's rows either
        notes = "\n".join(f"- ⚠ {e}: {'; '.join(f)}" for e, f in flagged.items())
        with open(out / "evaluation" / "results.md", "a") as f:
            f.write(f"\n## Rows whose defining loss terms never ran in training\n\n{notes}\n")
    print(f"\nEvaluation table: {out / 'evaluation' / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
