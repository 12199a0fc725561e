"""The data set on disk: actor ids and clip names in CREMA-D's scheme, one clip written as FLV + WAV
(`write_clip`, atomic), and the resumable process pool that writes them all (`synthesize`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

import cv2

from emotalk.audio.load import write_wav
from emotalk.cremad import ACTORS, SENTENCES, TEST_ACTORS, VAL_ACTORS, format_name, parse_name
from emotalk.data.synthetic.actors import (
    AUDIO_DIR,
    DEFAULT_ACTORS,
    DEFAULT_DURATION,
    MP3_DELAY,
    MUX_AUDIO_RATE,
    SAMPLE_RATE,
    VIDEO_DIR,
)
from emotalk.data.synthetic.plan import clip_plan
from emotalk.errors import EmotalkError, MediaDecodeError
from emotalk.ffmpeg import ffmpeg_exe, last_error_line
from emotalk.spec import EMOTIONS

log = logging.getLogger(__name__)


def actor_ids(n: int) -> list[str]:
    """`n` CREMA-D actor ids: 1001, the first validation actor, the first test actor, then 1002, 1003, ...

    >>> actor_ids(5)
    ['1001', '1006', '1011', '1002', '1003']
    """
    if not 1 <= n <= len(ACTORS):
        raise EmotalkError(f"--actors must be between 1 and {len(ACTORS)} (CREMA-D has {len(ACTORS)} actors), got {n}")
    first = ["1001", VAL_ACTORS[0], TEST_ACTORS[0]]
    rest = [a for a in ACTORS if a not in first]
    return (first + rest)[:n]


def clip_names(actors: Sequence[str], sentences: int = 2, clips_per_actor: int | None = None) -> list[str]:
    """The clip stems of each actor, CREMA-D's scheme over the first `sentences` sentences (IEO gets LO/MD/HI).

    `clips_per_actor` keeps that many, taking the emotions in turn (XX and MD before LO and HI).

    >>> clip_names(["1001"], sentences=2)[:3]
    ['1001_IEO_ANG_LO', '1001_IEO_ANG_MD', '1001_IEO_ANG_HI']
    >>> len(clip_names(["1001"], sentences=2)), clip_names(["1001"], sentences=2, clips_per_actor=6)[3:]
    (22, ['1001_IEO_HAP_MD', '1001_IEO_NEU_XX', '1001_IEO_SAD_MD'])
    """
    if not 1 <= sentences <= len(SENTENCES):
        raise EmotalkError(f"--sentences must be between 1 and {len(SENTENCES)}, got {sentences}")
    out = []
    for actor in actors:
        per_emotion: dict[str, list[tuple[int, str]]] = {e: [] for e in EMOTIONS}
        for si, sentence in enumerate(SENTENCES[:sentences]):
            for emotion in EMOTIONS:
                graded = sentence == "IEO" and emotion != "neutral"
                for level in ("low", "medium", "high") if graded else ("unspecified",):
                    rank = {"unspecified": 0, "medium": 0, "low": 1, "high": 2}[level] * 100 + si
                    per_emotion[emotion].append((rank, format_name(actor, sentence, emotion, level)))
        names = [nm for e in EMOTIONS for _, nm in per_emotion[e]]
        if clips_per_actor is not None:
            queues = [sorted(per_emotion[e]) for e in EMOTIONS]
            chosen: set[str] = set()
            depth = 0
            while len(chosen) < min(clips_per_actor, len(names)):
                for q in queues:
                    if depth < len(q) and len(chosen) < clips_per_actor:
                        chosen.add(q[depth][1])
                depth += 1
            names = [nm for nm in names if nm in chosen]
        out.extend(names)
    return out


def clip_paths(out: Path | str, name: str) -> tuple[Path, Path]:
    out = Path(out)
    return out / VIDEO_DIR / f"{name}.flv", out / AUDIO_DIR / f"{name}.wav"


def is_done(out: Path | str, name: str) -> bool:
    video, audio = clip_paths(out, name)
    return video.is_file() and audio.is_file()


def write_clip(
    out: Path | str, name: str, seed: int = 0, duration: float | tuple[float, float] = DEFAULT_DURATION
) -> Path:
    """Render, encode and write one clip unless it exists; return the video path.

    The WAV is written first (atomically); ffmpeg reads it while the frames stream in through a pipe (raw I420)
    and writes the FLV under a temporary name that is renamed into place last, so a finished clip is one whose
    video exists.
    """
    video, audio = clip_paths(out, name)
    if is_done(out, name):
        return video
    c = parse_name(name)
    plan = clip_plan(c.actor, c.sentence, c.emotion, c.level, seed, duration)
    video.parent.mkdir(parents=True, exist_ok=True)
    audio.parent.mkdir(parents=True, exist_ok=True)
    write_wav(audio, plan.wav, SAMPLE_RATE)
    tmp = video.with_name(f".{video.name}.{os.getpid()}.tmp")
    w, h = plan.size
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", str(plan.fps), "-i", "-",
        "-i", str(audio),
        "-map", "0:v:0", "-map", "1:a:0",
        "-c:v", "flv", "-q:v", "3", "-g", "30", "-pix_fmt", "yuv420p",
        "-af", f"aresample={MUX_AUDIO_RATE},atrim=start_sample={MP3_DELAY},asetpts=PTS-STARTPTS",
        "-c:a", "libmp3lame", "-b:a", "64k", "-ar", str(MUX_AUDIO_RATE), "-ac", "1",
        "-threads", "1", "-fflags", "+bitexact", "-flags", "+bitexact",
        "-f", "flv", str(tmp),
    ]  # fmt: skip
    # ffmpeg in its own session: Ctrl-C reaches this process (which stops it below and reports an interruption),
    # not ffmpeg (which would die mid-write and look like an encoding error)
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdin is not None and proc.stderr is not None
    try:
        try:
            for frame in plan.frames():
                # BT.601 limited range, as ffmpeg's own conversion; converting here saves ffmpeg a third of its time
                proc.stdin.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
        except BrokenPipeError:
            pass  # ffmpeg died: its error is reported below
        finally:
            proc.stdin.close()
        err = proc.stderr.read()
        code = proc.wait()
        if code != 0:
            raise MediaDecodeError(f"ffmpeg could not encode {video}: {last_error_line(err)}")
        os.replace(tmp, video)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tmp.unlink(missing_ok=True)
    return video


def _write_clip_job(out: str, name: str, seed: int, duration: float | tuple[float, float]) -> tuple[str, bool]:
    cv2.setNumThreads(1)
    existed = is_done(out, name)
    write_clip(out, name, seed, duration)
    return name, existed


def synthesize(
    out: Path | str,
    actors: int | Sequence[str] = DEFAULT_ACTORS,
    seed: int = 0,
    sentences: int = 2,
    clips_per_actor: int | None = None,
    duration: float | tuple[float, float] = DEFAULT_DURATION,
    workers: int = 2,
    progress: bool = True,
) -> list[Path]:
    """Write the synthetic data set to `out` (resumable: finished clips are kept); return every clip's video path.

    Args:
        actors: how many (ids from `actor_ids`) or which actor ids.
        duration: seconds per clip, fixed or a (min, max) range drawn per clip.
        workers: processes rendering and encoding clips in parallel (1: in this process).
    """
    out = Path(out)
    ids = actor_ids(actors) if isinstance(actors, int) else [str(a) for a in actors]
    for a in ids:
        if a not in ACTORS:
            raise EmotalkError(f"actor id {a!r} is not a CREMA-D actor (1001-1091)")
    names = clip_names(ids, sentences, clips_per_actor)
    for sub in (VIDEO_DIR, AUDIO_DIR):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for stale in (out / sub).glob(".*.tmp"):  # left by a killed run (one run per folder at a time)
            stale.unlink(missing_ok=True)
    todo = [n for n in names if not is_done(out, n)]
    t0 = time.perf_counter()
    log.info("synth: %d clips of %d actors in %s (%d to write, %d done)", len(names), len(ids), out,
             len(todo), len(names) - len(todo))  # fmt: skip
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress or not todo) as bar:
        task = bar.add_task("clips", total=len(todo))
        if workers <= 1 or len(todo) <= 1:
            for n in todo:
                _write_clip_job(str(out), n, seed, duration)
                bar.advance(task)
        else:
            ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent (rich, torch)
            pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx)
            try:
                pending: set[Future] = {pool.submit(_write_clip_job, str(out), n, seed, duration) for n in todo}
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()
                        bar.advance(task)
            finally:  # on an error or Ctrl-C, drop the queued clips instead of rendering them all first
                pool.shutdown(wait=True, cancel_futures=True)
    dt = time.perf_counter() - t0
    if todo:
        log.info("synth: wrote %d clips in %.1f s (%.2f clips/s)", len(todo), dt, len(todo) / max(dt, 1e-9))
    return [clip_paths(out, n)[0] for n in names]
