"""`emotalk infer`: dub a video (or a photo) with new speech and an emotion.

    emotalk infer --video V --audio A --emotion happy --checkpoint C --out O.mp4
                  [--strength 0.7] [--timeline "0-2.5:happy,2.5-6:sad@0.6"] [--face 2|left|…]
                  [--silence keep] [--watermark] [--no-colour-match] [--allow-no-face]
    emotalk infer --batch jobs.csv --checkpoint C      # columns video,audio,emotion,output[,strength,timeline]

Without --audio the video's own audio drives it. The output is an MP4 (H.264 + AAC) at the input's frame rate and
size, tagged as synthetic; a JSON summary is written beside it (O.mp4.json). An interrupted run resumes from its
finished segments when run again with the same arguments. Exit status: 0 done; 1 some batch rows failed;
2 bad input or settings (one line on stderr, no output written); 130 interrupted.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from emotalk.errors import ConfigError, EmotalkError

log = logging.getLogger(__name__)

BATCH_COLUMNS = ("video", "audio", "emotion", "output")
BATCH_OPTIONAL = ("strength", "timeline", "face")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = __doc__.split("\n\n", 1)[1] if __doc__ else None
    io = p.add_argument_group("inputs and output")
    io.add_argument("--video", "-i", type=Path, help="video file (any container ffmpeg reads) or a still image")
    io.add_argument("--audio", "-a", type=Path, help="speech: any audio or video file (default: the video's own)")
    io.add_argument("--out", "-o", type=Path, help="output MP4")
    io.add_argument("--compare", type=Path, metavar="PNG", help="also write a before/after picture of the dub")
    io.add_argument(
        "--batch", type=Path, metavar="CSV", help="run every row of a CSV (video,audio,emotion,output[,strength,"
        "timeline,face]; relative paths are relative to the CSV); rows whose output exists are skipped"
    )  # fmt: skip
    io.add_argument(
        "--checkpoint", "-c", type=Path, default=None,
        help="generator checkpoint: ours (.ckpt), EmoGen's or Wav2Lip's (default: $EMOTALK_CHECKPOINT, else the "
        "real-face model shipped in the package)",
    )  # fmt: skip
    emo = p.add_argument_group("emotion")
    emo.add_argument("--emotion", "-e", default="neutral", help="angry|disgusted|fearful|happy|neutral|sad or a "
                     "CREMA-D code (ANG, …); the default outside timeline ranges")  # fmt: skip
    emo.add_argument("--strength", type=float, default=1.0, help="0..1: blend of the emotion with neutral")
    emo.add_argument("--timeline", help='emotion over time, "START-END:EMOTION[@STRENGTH],..." in seconds')
    emo.add_argument("--crossfade", type=float, default=0.3, help="seconds over which timeline changes ramp")
    faces = p.add_argument_group("faces and frames")
    faces.add_argument("--face", default=None, help="which face: auto (default: per shot, the face that speaks the "
                       "video's own audio; the largest without it), 1 = largest, 2 = second largest, …, or "
                       "left|right|top|bottom|center")  # fmt: skip
    gate = p.add_argument_group("face checks (frames that fail pass through untouched; docs/inference.md)")
    gate.add_argument("--min-face-confidence", type=float, default=0.6, help="detector score floor (0.6)")
    gate.add_argument("--min-face", type=int, default=40, help="smallest face box side in pixels (40)")
    gate.add_argument("--max-yaw", type=float, default=35.0, help="largest head turn in degrees (35)")
    gate.add_argument("--max-pitch", type=float, default=30.0, help="largest head tilt up/down in degrees (30)")
    gate.add_argument("--max-roll", type=float, default=30.0, help="largest in-plane head tilt in degrees (30)")
    gate.add_argument("--no-landmarks", dest="landmarks", action="store_false", help="no face-mesh checks (landmarks, "
                      "pose, speaker): detection only")  # fmt: skip
    gate.add_argument("--mesh-every", type=int, default=2, help="run the face mesh every N frames (2)")
    gate.add_argument("--min-run", type=int, default=3, help="frames a face must last to be dubbed (3)")
    gate.add_argument("--fade", type=float, default=0.16, help="seconds of fade at the edges of a dubbed stretch")
    gate.add_argument("--cut-threshold", type=float, default=0.15, help="histogram distance of a shot cut (0.15)")
    faces.add_argument("--allow-no-face", action="store_true", help="pass a video without any face through "
                       "instead of failing")  # fmt: skip
    faces.add_argument(
        "--silence",
        choices=("generate", "keep"),
        default="generate",
        help="keep: original frames where the new audio is silent (default: generate everywhere)",
    )
    faces.add_argument("--silence-db", type=float, default=-40.0, help="silence threshold, dBFS per frame window")
    faces.add_argument(
        "--no-colour-match",
        "--no-color-match",
        dest="colour_match",
        action="store_false",
        help="do not match the generated face's colours to the original",
    )
    faces.add_argument("--watermark", action="store_true", help='draw a visible "SYNTHETIC · emotalk" label')
    run = p.add_argument_group("speed and encoding")
    run.add_argument("--device", default="auto", help="cpu | cuda | auto (default)")
    run.add_argument("--batch-size", type=int, default=None, help="generator batch (default: measured)")
    run.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    from emotalk.infer.backend_options import add_arguments as add_backend_arguments

    add_backend_arguments(run, "torch")
    run.add_argument(
        "--calibrate",
        type=Path,
        nargs="+",
        metavar="CLIP",
        help="int8 calibration clips like the model's training data (once; the result is cached)",
    )
    run.add_argument("--segment-frames", type=int, default=300, help="frames per resumable segment")
    run.add_argument("--crf", type=int, default=18, help="H.264 quality (lower = better, larger)")
    run.add_argument("--preset", default="veryfast", help="x264 preset")
    run.add_argument("--no-progress", dest="show_progress", action="store_false", help="no progress bar")
    run.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")


def _parse_face(value: str | None) -> int | str | None:
    if value is None:
        return None
    v = str(value).strip()
    return int(v) if v.isdigit() else v


def _progress_bar(enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled,
    )


def _dubber(args: argparse.Namespace) -> Any:
    from emotalk.infer.model import default_checkpoint

    args.checkpoint, source = default_checkpoint(args.checkpoint)
    if not args.checkpoint:
        raise ConfigError("no generator checkpoint: pass --checkpoint (or set EMOTALK_CHECKPOINT)")
    import torch

    from emotalk.infer.pipeline import Dubber

    if args.threads:
        torch.set_num_threads(args.threads)
    dubber = Dubber(
        args.checkpoint,
        device=args.device,
        batch_size=args.batch_size,
        segment_frames=args.segment_frames,
        crf=args.crf,
        preset=args.preset,
        silence_db=args.silence_db,
        crossfade=args.crossfade,
        allow_no_face=args.allow_no_face,
        gating=gate_settings(args),
        backend=args.backend,
        precision=args.precision,
        calibration_clips=args.calibrate,
        compile_net=args.compile,
    )
    print(f"model: {args.checkpoint} ({source})")  # stdout: stderr is kept for errors and warnings
    return dubber


def gate_settings(args: argparse.Namespace) -> Any:
    """`GateSettings` from the face-check flags (a bad value is a ConfigError)."""
    from emotalk.infer.gating import GateSettings

    g = GateSettings(
        min_confidence=args.min_face_confidence,
        min_face=args.min_face,
        landmarks=args.landmarks,
        max_yaw=args.max_yaw,
        max_pitch=args.max_pitch,
        max_roll=args.max_roll,
        mesh_every=args.mesh_every,
        min_run=args.min_run,
        fade=args.fade,
        cut_threshold=args.cut_threshold,
    )
    if not 0 <= g.min_confidence <= 1 or g.min_face < 0 or g.mesh_every < 1 or g.min_run < 1 or g.fade < 0:
        raise ConfigError("face checks: --min-face-confidence in 0..1, --min-face/--fade >= 0, --mesh-every >= 1")
    return g


def _dub_one(dubber: Any, progress: Any, label: str, **kw: Any) -> Any:
    task = progress.add_task(label, total=1.0)

    def report(fraction: float, stage: str) -> None:
        progress.update(task, completed=fraction, description=f"{label} [dim]{stage}")

    try:
        return dubber.dub(progress=report, **kw)
    finally:
        progress.remove_task(task)


def _describe(r: Any) -> str:
    passed = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in sorted(r.passed_through.items()))
    return (
        f"{r.output}: {r.frames} frames at {r.fps:.3f} fps, {r.width}x{r.height}, {r.output_seconds:.2f} s "
        f"({r.generated} generated{'; passed through: ' + passed if passed else ''}) in {r.wall_seconds:.1f} s "
        f"({r.frames_per_second:.1f} frames/s); summary {r.summary_path.name}"
    )


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (EmotalkError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a bug or an environment problem: one line unless --debug
        if getattr(args, "debug", False):
            raise
        log.debug("unexpected failure", exc_info=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise EmotalkError(f"unexpected {type(exc).__name__}: {first} (rerun with --debug for details)") from exc


def _run(args: argparse.Namespace) -> int:
    if args.batch:
        if args.video or args.out or args.audio:
            raise ConfigError("--batch takes the videos, audio and outputs from the CSV; drop --video/--audio/--out")
        return run_batch(args)
    if not args.video:
        raise ConfigError("give the video to dub with --video (or a CSV of jobs with --batch)")
    if not args.out:
        raise ConfigError("give the output file with --out")
    check_arguments(args)
    dubber = _dubber(args)
    with dubber, _progress_bar(args.show_progress) as progress:
        result = _dub_one(
            dubber,
            progress,
            args.video.name,
            video=args.video,
            audio=args.audio,
            emotion=args.emotion,
            out=args.out,
            strength=args.strength,
            timeline=args.timeline,
            face=_parse_face(args.face),
            silence=args.silence,
            watermark=args.watermark,
            colour_match=args.colour_match,
        )
    for w in result.warnings:
        print(f"note: {w}", file=sys.stderr)
    if result.face_warning:
        print(f"warning: {result.face_warning}", file=sys.stderr)
    print(_describe(result))
    if args.compare:
        from emotalk.infer.compare import before_after

        print(f"before/after: {before_after(args.video, args.out, args.compare)}")
    return 0


def check_arguments(args: argparse.Namespace) -> None:
    """The cheap checks, before the model loads: emotion, strength, timeline, face, readable inputs."""
    from emotalk.errors import MediaDecodeError
    from emotalk.ffmpeg import probe
    from emotalk.infer.emotion import EmotionSchedule
    from emotalk.infer.stream import FaceSelector

    EmotionSchedule(25.0, args.emotion, args.strength, args.timeline, args.crossfade)
    FaceSelector(_parse_face(args.face))
    if not probe(args.video).has_video:
        raise MediaDecodeError(f"{args.video} has no video stream (an audio file was given as the video?)")
    if args.audio is not None and not probe(args.audio).has_audio:
        raise MediaDecodeError(f"{args.audio} has no audio track")
    if args.checkpoint and not Path(args.checkpoint).is_file():
        raise ConfigError(f"generator checkpoint not found: {args.checkpoint}")


def read_jobs(path: Path) -> list[dict[str, str]]:
    """Rows of a batch CSV, with paths resolved against the CSV's folder; a bad file is a ConfigError."""
    if not path.is_file():
        raise ConfigError(f"batch file not found: {path}")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        cols = [c.strip().lower() for c in (reader.fieldnames or [])]
        missing = [c for c in BATCH_COLUMNS if c not in cols]
        if missing:
            raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}; the header must name "
                              f"{','.join(BATCH_COLUMNS)}[,{','.join(BATCH_OPTIONAL)}]")  # fmt: skip
        rows = []
        for raw in reader:
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
            if not any(row.values()):
                continue
            for k in ("video", "audio", "output"):
                if row.get(k):
                    p = Path(row[k]).expanduser()
                    row[k] = str(p if p.is_absolute() else path.parent / p)
            rows.append(row)
    if not rows:
        raise ConfigError(f"{path} has no jobs")
    return rows


def run_batch(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    jobs = read_jobs(args.batch)
    dubber = _dubber(args)
    results: list[tuple[int, str, str]] = []
    t0 = time.perf_counter()
    with dubber, _progress_bar(args.show_progress) as progress:
        overall = progress.add_task(f"{args.batch.name}", total=len(jobs))
        for n, row in enumerate(jobs, start=1):
            out = Path(row["output"]) if row.get("output") else None
            if out is not None and out.exists():
                results.append((n, "skipped", f"{out} exists"))
                progress.advance(overall)
                continue
            try:
                if not row.get("video"):
                    raise ConfigError("no video in this row")
                if out is None:
                    raise ConfigError("no output in this row")
                strength = float(row["strength"]) if row.get("strength") else args.strength
                result = _dub_one(
                    dubber,
                    progress,
                    f"row {n}: {Path(row['video']).name}",
                    video=row["video"],
                    audio=row.get("audio") or None,
                    emotion=row.get("emotion") or args.emotion,
                    out=out,
                    strength=strength,
                    timeline=row.get("timeline") or args.timeline,
                    face=_parse_face(row.get("face") or args.face),
                    silence=args.silence,
                    watermark=args.watermark,
                    colour_match=args.colour_match,
                )
                results.append((n, "done", _describe(result)))
            except KeyboardInterrupt:
                raise
            except EmotalkError as exc:
                results.append((n, "failed", str(exc)))
            except ValueError as exc:  # e.g. a strength that is not a number
                results.append((n, "failed", f"bad value: {exc}"))
            except Exception as exc:
                if args.debug:
                    traceback.print_exc()
                results.append((n, "failed", f"unexpected {type(exc).__name__}: {exc}"))
            progress.advance(overall)
    table = Table(title=f"{args.batch}: {len(jobs)} jobs in {time.perf_counter() - t0:.1f} s")
    for col in ("row", "status", "detail"):
        table.add_column(col, overflow="fold")
    for n, status, detail in results:
        colour = {"done": "green", "skipped": "yellow", "failed": "red"}[status]
        table.add_row(str(n), f"[{colour}]{status}", detail)
    Console().print(table)
    n_failed = sum(s == "failed" for _, s, _ in results)
    if n_failed:
        print(f"emotalk infer: {n_failed} of {len(jobs)} jobs failed (see the table above)", file=sys.stderr)
    return 1 if n_failed else 0
