"""`emotalk preprocess`: videos → 25 fps face crops (96x96) + 16 kHz wav + mel, one folder per clip (data/clips.py).

    emotalk preprocess --dataset crema_d|lrs2|grid|folder --input DIR --out DIR [--workers N] [--limit K]
                       [--split-file [NAME=]PATH ...] [--min-face-fraction F] [--max-gap G]

Per clip (`process_clip`, one process-pool task; each worker builds its FaceDetector once):

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
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotalk.data.clips import CLIPS_DIR, FAILURES, MANIFEST, ClipMeta, is_done, scan_clips, write_clip, write_manifest
from emotalk.data.listing import SourceClip
from emotalk.data.sources import DATASETS, list_sources, parse_split_files
from emotalk.errors import EmotalkError, MediaDecodeError
from emotalk.fsutil import write_text
from emotalk.spec import DEFAULT_SPEC, AVSpec
from emotalk.video.track import FaceTrack

log = logging.getLogger(__name__)

MANIFEST_CSV = "manifest.csv"
LOCK = ".preprocess.lock"
#: Phrases in ffmpeg's error output that mean the file ends before its container says it does.
TRUNCATION_MARKERS: tuple[str, ...] = (
    "partial file",
    "moov atom not found",
    "truncat",
    "premature end",
    "unexpected end of file",
)
STAGES: tuple[str, ...] = ("probe", "audio", "decode", "detect", "crop", "mel", "write")


@dataclass(frozen=True)
class PreprocessOptions:
    """What a worker needs to process one clip (picklable)."""

    spec: AVSpec = DEFAULT_SPEC
    min_face_fraction: float = 0.5  # a clip with faces in fewer of its frames fails (`few_faces`)
    max_gap: int = 2  # interpolate boxes over at most this many missed frames between two detections; 0: never
    decode_max_side: int | None = 1280  # ffmpeg downscales larger frames before they reach Python
    detect_max_side: int = 320  # FaceDetector downscale before mediapipe (which works at 128-192 px)
    min_confidence: float = 0.5
    duration_tolerance_s: float = 0.5  # truncation check: allowed shortfall, the larger of this and
    duration_tolerance_frac: float = 0.10  # this fraction of the container's duration


class ClipFailure(EmotalkError):
    """One clip cannot be preprocessed; `kind` is a short category for the failure report."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass
class ClipResult:
    clip_id: str
    source: str
    ok: bool
    n_frames: int = 0
    n_noface: int = 0
    kind: str | None = None
    reason: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------------------
# One clip (runs in a worker process)

_WORKER: dict[str, Any] = {}


def _init_worker(opts: PreprocessOptions | None = None) -> None:
    """Process-pool initializer: one thread per worker for every library (the pool is the parallelism), then
    the imports and the FaceDetector that every clip needs, so that the per-clip timings measure clips."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's start-up chatter
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    _warm_up(opts or PreprocessOptions())


def _warm_up(opts: PreprocessOptions) -> None:
    import emotalk.audio.mel  # torch  # noqa: F401

    _detector(opts)


def _detector(opts: PreprocessOptions) -> Any:
    """This process's FaceDetector (built once, reused for every clip)."""
    key = (opts.min_confidence, opts.detect_max_side)
    if _WORKER.get("key") != key:
        from emotalk.video.faces import FaceDetector

        if "detector" in _WORKER:
            _WORKER["detector"].close()
        _WORKER["detector"] = FaceDetector(min_confidence=opts.min_confidence, max_side=opts.detect_max_side)
        _WORKER["key"] = key
    return _WORKER["detector"]


def _is_truncated(seconds: float, duration: float | None, opts: PreprocessOptions) -> bool:
    if not duration:
        return False
    return seconds < duration - max(opts.duration_tolerance_s, opts.duration_tolerance_frac * duration)


def process_clip(src: SourceClip, out: Path | str, opts: PreprocessOptions = PreprocessOptions()) -> ClipResult:
    """Preprocess one clip into `out/clips/<clip_id>`; never raises for bad input (the result says why)."""
    t: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    try:
        n, n_noface = _process(src, Path(out), opts, t)
        return ClipResult(src.clip_id, str(src.path), True, n, n_noface, seconds=t)
    except ClipFailure as exc:
        return ClipResult(src.clip_id, str(src.path), False, kind=exc.kind, reason=str(exc), seconds=t)
    except MediaDecodeError as exc:
        return ClipResult(src.clip_id, str(src.path), False, kind="corrupt", reason=str(exc), seconds=t)
    except Exception as exc:  # a bug or an unforeseen file: report it with the clip and go on with the others
        log.exception("unexpected error on %s", src.path)
        reason = f"unexpected {type(exc).__name__} on {src.path}: {exc}"
        return ClipResult(src.clip_id, str(src.path), False, kind="error", reason=reason, seconds=t)


def _process(src: SourceClip, out: Path, opts: PreprocessOptions, t: dict[str, float]) -> tuple[int, int]:
    from emotalk.audio.load import load_audio, write_wav
    from emotalk.audio.mel import melspectrogram
    from emotalk.ffmpeg import last_error_line, probe
    from emotalk.video.decode import VideoReader

    spec = opts.spec
    path = src.path
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        t[stage] += now - clock
        clock = now

    if not path.is_file():
        raise ClipFailure("missing", f"{path} does not exist")
    if path.stat().st_size == 0:
        raise ClipFailure("empty", f"{path} is an empty file (0 bytes)")
    try:
        info = probe(path)
    except MediaDecodeError as exc:
        raise ClipFailure("unreadable", str(exc)) from None
    if not info.has_video:
        raise ClipFailure("no_video", f"{path} has no video stream ({info.audio_codec or 'no'} audio only)")
    if info.is_image:
        raise ClipFailure("no_video", f"{path} is a still image, not a video")
    lap("probe")

    # the video's own audio track is decoded by the same ffmpeg pass as the frames (as load_audio would:
    # first audio stream, downmixed to mono, resampled to spec.sample_rate, float32); else CREMA-D's AudioWAV
    if info.has_audio:
        audio_source, audio_path = "video", path
    elif src.audio_fallback is not None:
        audio_source, audio_path = "AudioWAV", src.audio_fallback
        wav = load_audio(src.audio_fallback, spec.sample_rate)
    else:
        hint = " and no AudioWAV/<stem>.wav beside it" if src.dataset == "crema_d" else ""
        raise ClipFailure("no_audio", f"{path} has no audio track{hint}")
    lap("audio")

    detector = _detector(opts)
    track = FaceTrack(spec, opts.max_gap)
    # the audio goes to a temporary folder beside the clips, so a killed run's leftovers are cleaned by the next
    (out / CLIPS_DIR).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{src.clip_id}.tmp-audio-", dir=out / CLIPS_DIR) as tmp:
        audio_file = Path(tmp) / "audio.f32"
        extra = ["-map", "0:a:0", "-ac", "1", "-ar", str(spec.sample_rate), "-f", "f32le", str(audio_file)]
        reader = VideoReader(
            path, fps=spec.fps, max_side=opts.decode_max_side, info=info, extra_output=extra if info.has_audio else None
        )
        lap("probe")
        for frame in reader:
            lap("decode")
            faces = detector.detect(frame)
            lap("detect")
            track.push(frame, faces[0].as_array() if faces else None)
            lap("crop")
        lap("decode")
        if info.has_audio:
            wav = np.fromfile(audio_file, dtype="<f4") if audio_file.is_file() else np.zeros(0, np.float32)
            if wav.size == 0:
                raise ClipFailure("no_audio", f"{path} has an audio track with no samples")
            if not np.isfinite(wav).all():
                raise ClipFailure("bad_audio", f"{path} contains NaN or infinite audio samples")
    audio_seconds = len(wav) / spec.sample_rate
    lap("audio")
    track.finish()
    lap("crop")

    n = len(track.faces)
    video_seconds = n / spec.fps
    err = reader.stderr.lower()
    if any(m in err for m in TRUNCATION_MARKERS):
        raise ClipFailure(
            "truncated", f"{path} is truncated: ffmpeg says {last_error_line(reader.stderr.encode())!r} ({n} frames)"
        )
    if _is_truncated(video_seconds, info.duration, opts):
        raise ClipFailure(
            "truncated",
            f"{path} is truncated or damaged: decoded {video_seconds:.2f} s of video ({n} frames at {spec.fps:g} fps) "
            f"but the container says {info.duration:.2f} s",
        )
    if audio_source == "video" and _is_truncated(audio_seconds, info.duration, opts):
        raise ClipFailure(
            "truncated",
            f"{path} is truncated or damaged: its audio track ends at {audio_seconds:.2f} s "
            f"but the container says {info.duration:.2f} s",
        )
    has_face = np.array(track.has_face, dtype=bool)
    n_face = int(has_face.sum())
    if n_face == 0:
        raise ClipFailure("no_face", f"no face found in any of the {n} frames of {path}")
    if n_face < opts.min_face_fraction * n:
        raise ClipFailure(
            "few_faces",
            f"a face was found in only {n_face} of {n} frames ({n_face / n:.0%}) of {path}; "
            f"the minimum is {opts.min_face_fraction:.0%} (--min-face-fraction)",
        )

    mel = melspectrogram(wav, spec)
    lap("mel")
    sx, sy = info.size[0] / reader.width, info.size[1] / reader.height
    boxes = np.stack(track.boxes).astype(np.float64) * np.array([sx, sy, sx, sy])
    warnings = [ln.strip() for ln in reader.stderr.splitlines() if ln.strip()][:5]
    meta = ClipMeta(
        clip_id=src.clip_id,
        dataset=src.dataset,
        actor=src.actor,
        source=str(path),
        n_frames=n,
        n_noface=n - n_face,
        fps=spec.fps,
        sentence=src.sentence,
        emotion=src.emotion,
        level=src.level,
        split=src.split,
        width=info.width,
        height=info.height,
        extra={
            "audio_source": audio_source,
            "audio_path": str(audio_path),
            "audio_seconds": round(audio_seconds, 4),
            "duration": info.duration,
            "src_fps": info.fps,
            "video_codec": info.video_codec,
            "audio_codec": info.audio_codec,
            "decode_size": [reader.width, reader.height],
            "n_detected": track.n_detected,
            "max_gap": opts.max_gap,
            "filled_frames": track.filled,
            "box_smoothing": spec.box_smoothing,
            "face_pads": list(spec.face_pads),
            "boxes": "padded crop box x1,y1,x2,y2 in source pixels",
            "decode_warnings": warnings,
            "key": src.key,
            **src.extra,
        },
    )
    write_clip(
        out,
        meta,
        np.stack(track.faces),
        has_face,
        boxes.astype(np.float32),
        mel,
        lambda p: write_wav(p, wav, spec.sample_rate),
    )
    lap("write")
    return n, n - n_face


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
                _warm_up(opts)
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
        pool_args = {"mp_context": ctx, "initializer": _init_worker, "initargs": (opts,)}
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
