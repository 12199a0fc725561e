"""`emotalk preprocess`: videos → 25 fps face crops (96x96) + 16 kHz wav + mel, one folder per clip (data/clips.py).

    emotalk preprocess --dataset crema_d|lrs2|grid|folder --input DIR --out DIR [--workers N] [--limit K]
                       [--split-file [NAME=]PATH ...] [--min-face-fraction F] [--max-gap G]

Per clip (`process_clip` in data/preprocess_clip.py, one process-pool task; each worker builds its FaceDetector once):

1. probe the file with ffmpeg (an empty file, a text file named .flv or an unreadable container fails here);
2. audio: the video's own track, else CREMA-D's `AudioWAV/<stem>.wav` (`load_audio`); which one was used is
   recorded in `meta.extra["audio_source"]`; neither → failure `no_audio`. The own track is decoded by the same
   ffmpeg pass as the frames, with `load_audio`'s arguments (first audio stream, mono, 16 kHz, float32; the
   samples are identical, tests/video/test_decode.py), which saves two ffmpeg starts per clip;
3. video: streamed at 25 fps by ffmpeg (`VideoReader(fps=25)`; frames larger than `--decode-max-side` are
   downscaled by ffmpeg, boxes are stored in source pixels), mediapipe face detection per frame (largest face,
   on a copy downscaled to `detect_max_side` = 320 px: mediapipe itself works at 128-192 px);
4. boxes: gaps of at most `--max-gap` (default 2) frames *between two detections* are filled by linear
   interpolation (listed in `meta.extra["filled_frames"]`), then a centred moving average over
   `spec.box_smoothing` frames, then `pad_box(spec.face_pads)` and a 96x96 crop. Only `lookahead` frames are held
   in memory (`FaceTrack`), whatever the video's length;
5. checks: decoded video (and the video's own audio) must cover the container's duration within
   max(0.5 s, 10 %), and ffmpeg must not report a partial file → otherwise failure `truncated`; a clip with no
   face, or faces in fewer than `--min-face-fraction` of its frames, fails (`no_face` / `few_faces`);
6. `write_clip` (atomic): faces, has_face, boxes (the padded crop box, source pixels, NaN without a face),
   mel = melspectrogram(wav), audio.wav, meta.json.

Frames without a face keep their index: has_face False, a zero crop, a NaN box. Nothing is renumbered.

Resumable: a clip whose folder has meta.json is skipped; temporary folders of a killed run are removed at start;
failed clips are not "done" and are tried again by the next run. At the end: manifest.jsonl (+ manifest.csv)
of every finished clip under --out, and failures.jsonl (`{"clip_id", "source", "kind", "reason"}`) of the clips
that failed, in this run or in an earlier one if this run did not try them again (--limit).

Speed (src/emotalk/benchmarks/preprocess.py): ~150 frames/s steady state with 2 workers on 2 busy cores for
480x360 CREMA-D; per frame ≈ 4 ms detection, 2-3 ms decoding, 1 ms probing, 0.5 ms crop, under 0.5 ms mel + write.
Workers are spawned (not forked) and import torch + mediapipe once each (a few seconds of start-up); a script
that calls `preprocess(workers>1)` needs the usual `if __name__ == "__main__":` guard.

Exit status: 0 when failures.jsonl is empty (every listed clip is in the manifest); 1 when the run finished
but some clips failed (the table printed at the end and failures.jsonl say which and why); 2 for an error that
stops the whole run (no input folder, no video found, another run writing to the same --out).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emotalk.data.clips import CLIPS_DIR, FAILURES, MANIFEST, ClipMeta, is_done, scan_clips, write_manifest
from emotalk.data.listing import SourceClip
from emotalk.data.preprocess_clip import (  # noqa: F401  (TRUNCATION_MARKERS, ClipFailure: re-exported)
    STAGES,
    TRUNCATION_MARKERS,
    ClipFailure,
    ClipResult,
    PreprocessOptions,
    init_worker,
    process_clip,
    warm_up,
)
from emotalk.data.sources import DATASETS, list_sources, parse_split_files
from emotalk.errors import EmotalkError
from emotalk.fsutil import write_text

log = logging.getLogger(__name__)

MANIFEST_CSV = "manifest.csv"
LOCK = ".preprocess.lock"
# ----------------------------------------------------------------------------------------------------------------
# The run: listing, pool, progress, manifest and failure report


@dataclass
class PreprocessReport:
    out: Path
    n_listed: int = 0
    n_skipped: int = 0  # already done before this run
    n_done: int = 0  # finished in this run
    frames: int = 0  # frames of the clips finished in this run
    noface_frames: int = 0  # of those, frames without a face crop
    wall_s: float = 0.0
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))  # summed over workers
    failures: list[dict[str, Any]] = field(default_factory=list)  # everything in failures.jsonl
    new_failures: int = 0  # failures found in this run

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


def _failure(clip_id: str, source: str, kind: str, reason: str, dataset: str) -> dict[str, Any]:
    return {"clip_id": clip_id, "source": source, "kind": kind, "reason": reason, "dataset": dataset}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def write_manifest_csv(root: Path | str, metas: Sequence[ClipMeta]) -> Path:
    """A spreadsheet-friendly copy of the manifest (no `extra`)."""
    import io

    path = Path(root) / MANIFEST_CSV
    cols = [k for k in asdict(ClipMeta("", "", "", "", 0, 0)) if k != "extra"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for m in metas:
        w.writerow({k: ("" if v is None else v) for k, v in asdict(m).items()})
    write_text(path, buf.getvalue())
    return path


def clean_temporary(out: Path | str) -> list[Path]:
    """Remove the half-written clip folders (`.<id>.tmp-<pid>`) and temp files a killed run left behind."""
    out = Path(out)
    removed = []
    base = out / CLIPS_DIR
    for d in base.iterdir() if base.is_dir() else []:
        if d.name.startswith(".") and ".tmp-" in d.name:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    for f in out.glob(".*.tmp"):
        f.unlink(missing_ok=True)
        removed.append(f)
    if removed:
        log.info("removed %d temporary item(s) left by an interrupted run", len(removed))
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _acquire_lock(out: Path) -> Path:
    lock = out / LOCK
    try:
        pid = int(lock.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid and pid != os.getpid() and _pid_alive(pid):
        raise EmotalkError(
            f"another preprocess run (pid {pid}) is writing to {out}; wait for it, or delete {lock} if it is gone"
        )
    lock.write_text(str(os.getpid()))
    return lock


def preprocess(
    dataset: str,
    input_dir: Path | str,
    out: Path | str,
    *,
    workers: int = 2,
    limit: int | None = None,
    split_files: dict[str, Path] | None = None,
    options: PreprocessOptions = PreprocessOptions(),
    progress: bool = True,
    on_result: Callable[[ClipResult], None] | None = None,
) -> PreprocessReport:
    """Preprocess every clip of `dataset` under `input_dir` into `out` (see the module docstring)."""
    out = Path(out)
    clips, problems = list_sources(dataset, input_dir, split_files)
    listed_ids = {c.clip_id for c in clips} | {p.clip_id for p in problems}
    if limit is not None:
        clips = clips[: max(limit, 0)]
    out.mkdir(parents=True, exist_ok=True)
    lock = _acquire_lock(out)
    report = PreprocessReport(out=out, n_listed=len(clips))
    started = time.perf_counter()
    try:
        clean_temporary(out)
        todo = [c for c in clips if not is_done(out, c.clip_id)]
        report.n_skipped = len(clips) - len(todo)
        if report.n_skipped:
            log.info("%d of %d clips are already done in %s; skipping them", report.n_skipped, len(clips), out)
        failures = [_failure(p.clip_id, str(p.path), p.kind, p.reason, dataset) for p in problems]
        results: list[ClipResult] = []

        def collect(r: ClipResult) -> None:
            results.append(r)
            for k, v in r.seconds.items():
                report.seconds[k] = report.seconds.get(k, 0.0) + v
            if r.ok:
                report.n_done += 1
                report.frames += r.n_frames
                report.noface_frames += r.n_noface
            else:
                failures.append(_failure(r.clip_id, r.source, r.kind or "error", r.reason or "", dataset))
                log.debug("failed: %s: %s", r.clip_id, r.reason)
            if on_result is not None:
                on_result(r)

        try:
            _run_all(todo, out, options, workers, progress, collect, started, report)
        finally:
            attempted = {r.clip_id for r in results} | {p.clip_id for p in problems}
            done_ids = {m.clip_id for m in scan_clips(out)}
            old = [
                f
                for f in _read_jsonl(out / FAILURES)
                if f.get("clip_id") in listed_ids and f.get("clip_id") not in attempted | done_ids
            ]
            report.new_failures = len(failures)
            report.failures = sorted(old + failures, key=lambda f: f["clip_id"])
            write_text(out / FAILURES, "".join(json.dumps(f, sort_keys=True) + "\n" for f in report.failures))
            metas = scan_clips(out)
            write_manifest(out, metas)
            write_manifest_csv(out, metas)
            report.wall_s = time.perf_counter() - started
    finally:
        lock.unlink(missing_ok=True)
    return report


def _run_all(
    todo: list[SourceClip],
    out: Path,
    opts: PreprocessOptions,
    workers: int,
    show: bool,
    collect: Callable[[ClipResult], None],
    started: float,
    report: PreprocessReport,
) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]preprocess"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:.0f} frames/s"),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    console = Console(stderr=True)
    with Progress(*columns, console=console, disable=not show or not todo, transient=False) as bar:
        task = bar.add_task("clips", total=len(todo), fps=0.0, failed=0)
        n_failed = 0

        def done(r: ClipResult) -> None:
            nonlocal n_failed
            collect(r)
            n_failed += not r.ok
            elapsed = time.perf_counter() - started
            bar.update(task, advance=1, fps=report.frames / max(elapsed, 1e-9), failed=n_failed)

        if workers <= 1 or len(todo) <= 1:
            if todo:
                warm_up(opts)
            for c in todo:
                done(process_clip(c, out, opts))
            return
        _run_pool(todo, out, opts, workers, done)


def _run_pool(
    todo: list[SourceClip], out: Path, opts: PreprocessOptions, workers: int, done: Callable[[ClipResult], None]
) -> None:
    """Run `process_clip` over a spawn-context process pool, at most 2 tasks in flight per worker.

    If a worker dies (a crash inside ffmpeg/mediapipe, out of memory), the clips in flight are reported as
    `crashed` and the remaining ones go on in a fresh pool.
    """
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")  # workers start clean: no forked torch/mediapipe threads
    n_workers = min(workers, len(todo))
    remaining = deque(todo)

    def crashed(c: SourceClip) -> ClipResult:
        reason = (
            f"a worker process died while {c.path} was in its queue (a crash in ffmpeg/mediapipe, or out of "
            "memory); run again to retry"
        )
        return ClipResult(c.clip_id, str(c.path), False, kind="crashed", reason=reason)

    while remaining:
        pool_args = {"mp_context": ctx, "initializer": init_worker, "initargs": (opts,)}
        with ProcessPoolExecutor(max_workers=n_workers, **pool_args) as pool:
            inflight: dict[Any, SourceClip] = {}
            broken = False
            try:
                while (remaining or inflight) and not broken:
                    while remaining and len(inflight) < 2 * n_workers:
                        c = remaining.popleft()
                        try:
                            inflight[pool.submit(process_clip, c, out, opts)] = c
                        except BrokenProcessPool:
                            done(crashed(c))
                            broken = True
                            break
                    if not inflight:
                        break
                    finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        c = inflight.pop(fut)
                        try:
                            done(fut.result())
                        except BrokenProcessPool:
                            done(crashed(c))
                            broken = True
                for c in inflight.values():  # only left over when the pool broke
                    done(crashed(c))
                if broken:
                    log.warning("a worker process died; continuing with a fresh pool")
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # let running clips end before the manifest
                raise


# ----------------------------------------------------------------------------------------------------------------
# CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=DATASETS, help="layout of --input")
    p.add_argument("--input", required=True, type=Path, help="data set folder (CREMA-D root, LRS2 root, any folder)")
    p.add_argument("--out", required=True, type=Path, help="output folder (clips/, manifest.jsonl, failures.jsonl)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (1: in-process)")
    p.add_argument("--limit", type=int, default=None, help="only the first K clips (sorted by clip id)")
    p.add_argument(
        "--split-file",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="filelist of clip keys (LRS2 speaker/clip) for split NAME (default: the file's stem); repeatable. "
        "LRS2 default: train.txt/val.txt/test.txt in --input",
    )
    d = PreprocessOptions()
    p.add_argument("--min-face-fraction", type=float, default=d.min_face_fraction, help="fail clips with fewer faces")
    p.add_argument("--max-gap", type=int, default=d.max_gap, help="interpolate boxes over up to G missed frames")
    p.add_argument(
        "--decode-max-side", type=int, default=d.decode_max_side, help="downscale larger frames on decode (0: never)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    opts = PreprocessOptions(
        min_face_fraction=args.min_face_fraction,
        max_gap=args.max_gap,
        decode_max_side=args.decode_max_side or None,
    )
    report = preprocess(
        args.dataset,
        args.input,
        args.out,
        workers=args.workers,
        limit=args.limit,
        split_files=parse_split_files(args.split_file) if args.split_file else None,
        options=opts,
        progress=not args.no_progress,
    )
    console = Console()
    faces = 1 - report.noface_frames / report.frames if report.frames else 0.0
    console.print(
        f"preprocess: {report.n_done} clips done ({report.frames} frames, faces in {faces:.1%} of them, "
        f"{report.frames_per_s:.0f} frames/s), {report.n_skipped} already done, {report.new_failures} failed in "
        f"this run -> {report.out}"
    )
    if report.failures:
        table = Table(title=f"{len(report.failures)} clip(s) failed (details: {report.out / FAILURES})")
        table.add_column("clip")
        table.add_column("kind")
        table.add_column("reason", overflow="fold")
        for f in report.failures[:50]:
            table.add_row(f["clip_id"], f.get("kind", ""), f.get("reason", ""))
        if len(report.failures) > 50:
            table.add_row("...", "", f"{len(report.failures) - 50} more in {FAILURES}")
        console.print(table)
        console.print("failed clips are retried when the same command runs again")
        return 1
    console.print(f"manifest: {report.out / MANIFEST}")
    return 0
