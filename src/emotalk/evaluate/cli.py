"""`emotalk evaluate`: the paper's table for a set of experiments (a thin layer over protocol.evaluate_experiments).

    emotalk evaluate --experiments seq=outputs/stages/seq.ckpt pl_da=outputs/stages/pl_da.ckpt \\
        --data data/cremad_pre --raw data/CREMA-D/VideoFlash \\
        --syncnet-v2 weights/syncnet_v2.model --inception weights/pt_inception-2015-12-05-6726825d.pth \\
        --classifier outputs/stages/emotion_classifier.ckpt --out outputs/eval [--seed 0 --max-clips 30 --min-track 25]

    emotalk evaluate --lse-videos a.mp4 b.mp4 --syncnet-v2 weights/syncnet_v2.model [--min-track 25 | --cropped]

    emotalk evaluate --dataset grid --data data/grid_pre --checkpoint G.ckpt --expert syncnet_grid.ckpt \
        --speech a.wav b.wav [--others data/people_pre] [--max-clips 40] --out outputs/eval_grid

The second form scores LSE-D / LSE-C of any videos (syncnet_python's calculate_scores_real_videos). The third is
the real-face lip-sync protocol (evaluate/realface.py): self-reenactment against copy-the-reference, dubbing with
other speech judged by the expert, lip leakage in silence, and other real people.
A metric whose weights are not given is reported as "n/a (no <file>)"; the command lists them at the end.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from emotalk.errors import ConfigError

log = logging.getLogger(__name__)


def parse_experiments(items: list[str]) -> dict[str, Path]:
    """["seq=a.ckpt", "b.ckpt"] → {"seq": a.ckpt, "b": b.ckpt} (a bare path is named after its stem)."""
    out: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).stem, item
        if not name or not path:
            raise ConfigError(f"--experiments expects NAME=CHECKPOINT, got {item!r}")
        if name in out:
            raise ConfigError(f"experiment name {name!r} given twice in --experiments")
        out[name] = Path(path)
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    from emotalk.cremad import TEST_ACTORS
    from emotalk.evaluate.lse import DEFAULT_MIN_FACE_SIZE, DEFAULT_MIN_TRACK

    p.add_argument("--experiments", nargs="+", metavar="NAME=CKPT", help="generator checkpoints, one table row each")
    p.add_argument("--data", type=Path, help="preprocessed CREMA-D root with the test actors (emotalk preprocess)")
    p.add_argument("--raw", type=Path, help="folder with the source videos (<clip_id>.<ext>, e.g. VideoFlash/)")
    p.add_argument("--syncnet-v2", type=Path, help="syncnet_python's syncnet_v2.model (LSE-D / LSE-C)")
    p.add_argument("--inception", type=Path, help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (FID)")
    p.add_argument("--classifier", type=Path, help="emotion_classifier checkpoint or EmoGen DISCEMO file (EmoAcc)")
    p.add_argument("--out", type=Path, default=Path("outputs/eval"), help="results folder (default outputs/eval)")
    p.add_argument("--seed", type=int, default=0, help="seed of the audio draws, the clip subset and the bootstrap")
    p.add_argument("--max-clips", type=int, default=None, help="evaluate a seeded random subset of the test clips")
    p.add_argument("--actors", nargs="+", default=list(TEST_ACTORS), help="test actors (default: the paper's five)")
    p.add_argument(
        "--min-track",
        type=int,
        default=DEFAULT_MIN_TRACK,
        help=f"LSE face tracks need more than this many detections (default {DEFAULT_MIN_TRACK}; reference 100)",
    )
    p.add_argument("--min-face-size", type=float, default=DEFAULT_MIN_FACE_SIZE, help="LSE minimum face size (px)")
    p.add_argument("--cropped", action="store_true", help="LSE: the videos are already face crops (resize to 224)")
    p.add_argument("--force", action="store_true", help="use an EmoAcc classifier below the 90 %% gate anyway")
    p.add_argument("--aggregate", choices=("mean", "vote"), default="mean", help="per-video EmoAcc decision")
    p.add_argument("--gray", action="store_true", help="SSIM / PSNR on grayscale (EmoGen's img_eval.py)")
    p.add_argument("--no-reconstruction", action="store_true", help="skip the own-audio dubs (SSIM/PSNR on swaps)")
    p.add_argument("--strength", type=float, default=1.0, help="emotion strength passed to the dubber")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the 95 %% intervals")
    p.add_argument("--fid-boot", type=int, default=50, help="bootstrap resamples for FID (each costs 6 FIDs)")
    p.add_argument("--fid-stride", type=int, default=1, help="FID on every k-th face frame (default: all)")
    p.add_argument("--tsne-actor", default="1011", help="actor of the t-SNE figure (the paper's: 1011)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    p.add_argument("--lse-videos", nargs="+", type=Path, metavar="VIDEO", help="only score LSE of these videos")
    real = p.add_argument_group("real-face protocol (--dataset grid)")
    real.add_argument("--dataset", choices=("crema_d", "grid"), default="crema_d", help="protocol (default crema_d)")
    real.add_argument("--checkpoint", type=Path, help="generator (default: $EMOTALK_CHECKPOINT or the shipped model)")
    real.add_argument("--expert", type=Path, help="expert SyncNet checkpoint (default: the shipped GRID expert)")
    real.add_argument("--speech", nargs="+", type=Path, help="speech files of other speakers to dub with")
    real.add_argument("--others", type=Path, help="preprocessed folder of other real people (never trained on)")


def run(args: argparse.Namespace) -> int:
    if args.lse_videos:
        return _run_lse(args)
    if args.dataset == "grid":
        return _run_realface(args)
    missing = [f"--{n}" for n in ("experiments", "data", "raw") if not getattr(args, n)]
    if missing:
        raise ConfigError(f"emotalk evaluate needs {', '.join(missing)} (or --lse-videos to score single videos)")
    from emotalk.evaluate.protocol import EvalConfig, evaluate_experiments

    cfg = EvalConfig(
        actors=tuple(args.actors),
        seed=args.seed,
        max_clips=args.max_clips,
        min_track=args.min_track,
        min_face_size=args.min_face_size,
        lse_mode="cropped" if args.cropped else "track",
        n_boot=args.n_boot,
        fid_boot=args.fid_boot,
        fid_stride=args.fid_stride,
        force=args.force,
        aggregate=args.aggregate,
        gray=args.gray,
        reconstruction=not args.no_reconstruction,
        strength=args.strength,
        tsne_actor=args.tsne_actor,
        device=args.device,
    )
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        results = evaluate_experiments(
            parse_experiments(args.experiments),
            args.data,
            args.raw,
            args.out,
            syncnet_v2=args.syncnet_v2,
            inception=args.inception,
            classifier=args.classifier,
            config=cfg,
            progress=progress,
        )
    print((args.out / "results.md").read_text())
    for metric, note in sorted(results["unavailable"].items()):
        print(f"{metric}: {note}")
    print(f"results: {args.out / 'results.md'}, results.csv, results.json; figures in {args.out / 'figures'}")
    return 0


def _run_realface(args: argparse.Namespace) -> int:
    from emotalk.evaluate.realface import evaluate_realface
    from emotalk.infer.model import SHIPPED_EXPERT, default_checkpoint

    checkpoint, source = default_checkpoint(args.checkpoint)
    expert = args.expert or SHIPPED_EXPERT
    missing = [n for n, v in (("--data", args.data), ("--speech", args.speech), ("--checkpoint", checkpoint)) if not v]
    if missing:
        raise ConfigError(f"emotalk evaluate --dataset grid needs {', '.join(missing)}")
    for what, path in (("generator", checkpoint), ("expert", expert), *(("speech", p) for p in args.speech)):
        if not Path(path).is_file():
            raise ConfigError(f"{what} file not found: {path}")
    print(f"model: {checkpoint} ({source}); expert: {expert}")
    res = evaluate_realface(
        checkpoint,
        expert,
        args.data,
        args.speech,
        args.out,
        others=args.others,
        max_clips=args.max_clips,
        seed=args.seed,
        device=_device(args.device),
    )
    print((args.out / "results.md").read_text())
    print(f"results: {args.out / 'results.md'}, results.json, samples.png ({res.wall_seconds:.0f} s)")
    return 0


def _run_lse(args: argparse.Namespace) -> int:
    from emotalk.evaluate.lse import LSEEvaluator, mean_over_videos

    ev = LSEEvaluator(
        args.syncnet_v2,
        mode="cropped" if args.cropped else "track",
        min_track=args.min_track,
        min_face_size=args.min_face_size,
        device=_device(args.device),
    )
    results = []
    print(f"LSE (syncnet_python protocol, {ev.mode} front end, min_track {ev.min_track}, 25 fps)")
    print("video\tLSE-D\tLSE-C\toffset")
    for v in args.lse_videos:
        r = ev.score_video(v)
        results.append(r)
        if r.score is None:
            print(f"{v}\tn/a\tn/a\t({r.reason})")
        else:
            print(f"{v}\t{r.score.lse_d:.3f}\t{r.score.lse_c:.3f}\t{r.score.offset}")
    m = mean_over_videos(results)
    print(f"mean over {m['n']} videos\t{m['lse_d']:.3f}\t{m['lse_c']:.3f}")
    return 0


def _device(device: str) -> str:
    """--device: "auto" is cuda when available, else cpu; anything else as given."""
    if device != "auto":
        return device
    return "cuda" if _cuda() else "cpu"


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
