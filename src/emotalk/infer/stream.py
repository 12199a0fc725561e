"""The streaming dubbing engine: decode → detect → smooth → crop | generate | paste → encode, in bounded memory.

Before the stream starts, `infer.gating` has decided every frame (an analysis pass: detection, shot cuts, face
mesh, speaker; issue #14): the box to dub, or why the frame passes through, and the generated face's alpha on a
fade. Three threads then overlap the stages (mission.md §6, issue #5):

* a **producer** decodes frames (ffmpeg pipe), takes each frame's box from that `FacePlan`, crops the 96x96 faces
  and attaches each frame's mel window and emotion vector;
* the **main thread** batches the crops and hands each batch to one of `workers` generator threads (torch releases
  the GIL inside its kernels; on CPU, two single-threaded workers use two cores better than one two-threaded
  call, whose OpenMP barriers stall whenever another stage takes a core: benchmarks/inference.py);
* a **consumer** pastes the faces back (feathered mask, colour matching), draws the optional label and pipes the
  frames into an H.264 encoder, one MP4 segment of `segment_frames` frames at a time.

Queues between them hold a few dozen frames (fewer for large frames), so memory does not grow with the video's
length. A finished segment is renamed into place and recorded in the work folder's ``state.json``; a rerun with
the same inputs and settings skips the finished segments (`skip_until`).

Length rules (reference-code.md §11.4, with the paper's fix): output frame i shows input frame i while the video
lasts; once it ends, its last frame is repeated (not looped); a longer video is trimmed (decoding stops).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from emotalk.errors import ConfigError
from emotalk.infer.emotion import upper_face_weight
from emotalk.infer.gating import NO_FACE, FacePlan
from emotalk.spec import DEFAULT_SPEC, AVSpec
from emotalk.video.crop import crop_face, draw_label, label_overlay, pad_box, paste_face
from emotalk.video.faces import Box

log = logging.getLogger(__name__)

POSITIONS = ("largest", "left", "right", "top", "bottom", "center")


# ---------------------------------------------------------------------------------------------------- faces


class FaceSelector:
    """Which of a frame's faces to dub: the N-th largest (1 = largest), the one at a position, or ``auto``.

    Positions: left/right/top/bottom (the face whose centre is furthest that way), center (nearest the frame's
    centre). A frame with fewer than N faces counts as a frame without a face. ``auto``: the speaking face, chosen
    per shot by `infer.gating` (it picks like ``largest`` per frame here).
    """

    def __init__(self, face: int | str | None = None) -> None:
        self.auto = isinstance(face, str) and face.strip().lower() == "auto"
        if face is None or face == "largest" or self.auto:
            self.rank, self.position = 1, None
        elif isinstance(face, int) or (isinstance(face, str) and face.strip().isdigit()):
            self.rank, self.position = int(face), None
            if self.rank < 1:
                raise ConfigError(f"--face {face}: face numbers start at 1 (the largest face)")
        elif isinstance(face, str) and face.strip().lower() in POSITIONS:
            self.rank, self.position = 1, face.strip().lower()
        else:
            raise ConfigError(f"--face {face!r}: use auto (the speaking face), a number (1 = largest face, 2 = second "
                              f"largest, …) or one of {', '.join(POSITIONS)}")  # fmt: skip

    def describe(self) -> str:
        return "auto" if self.auto else (self.position or ("largest" if self.rank == 1 else str(self.rank)))

    def pick(self, faces: list[Box], frame_hw: tuple[int, int]) -> np.ndarray | None:
        """x1, y1, x2, y2 of the chosen face, or None. `faces` come largest first (FaceDetector)."""
        k = self.pick_index(faces, frame_hw)
        return None if k is None else faces[k].as_array()

    def pick_index(self, faces: list[Box], frame_hw: tuple[int, int]) -> int | None:
        """Index in `faces` (largest first) of the chosen face, or None."""
        if not faces:
            return None
        if self.position is None:
            return self.rank - 1 if len(faces) >= self.rank else None
        h, w = frame_hw
        key: dict[str, Callable[[Box], float]] = {
            "left": lambda b: b.center[0],
            "right": lambda b: -b.center[0],
            "top": lambda b: b.center[1],
            "bottom": lambda b: -b.center[1],
            "center": lambda b: (b.center[0] - w / 2) ** 2 + (b.center[1] - h / 2) ** 2,
        }
        return min(range(len(faces)), key=lambda k: key[self.position](faces[k]))  # type: ignore[index]


# ---------------------------------------------------------------------------------------------------- items


@dataclass
class FrameItem:
    """One output frame on its way through the pipeline."""

    index: int
    frame: np.ndarray  # BGR uint8 [H, W, 3], read-only (shared when the last frame repeats)
    box: np.ndarray | None = None  # padded crop box (ints as float32), None without a face
    crop: np.ndarray | None = None  # 96x96 input crop, only when the frame is generated
    mel: np.ndarray | None = None
    emotion: np.ndarray | None = None
    reason: str | None = None  # why it passes through (NO_FACE, SILENCE), None when generated
    face: np.ndarray | None = None  # the generated 96x96 face
    alpha: float = 1.0  # the generated face's weight (< 1 on a fade at the edge of a dubbed stretch)


@dataclass
class SegmentStats:
    """What one segment holds; saved in the work folder's state so a resumed run reports the whole video."""

    index: int
    frames: int = 0
    generated: int = 0
    with_face: int = 0
    passed: dict[str, int] = field(default_factory=dict)
    runs: list[list[Any]] = field(default_factory=list)  # [first, last, reason] of passed-through runs

    def add(self, item: FrameItem) -> None:
        self.frames += 1
        if item.box is not None:
            self.with_face += 1
        if item.reason is None:
            self.generated += 1
            return
        self.passed[item.reason] = self.passed.get(item.reason, 0) + 1
        if self.runs and self.runs[-1][2] == item.reason and self.runs[-1][1] == item.index - 1:
            self.runs[-1][1] = item.index
        else:
            self.runs.append([item.index, item.index, item.reason])

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "frames": self.frames,
            "generated": self.generated,
            "with_face": self.with_face,
            "passed": dict(self.passed),
            "runs": [list(r) for r in self.runs],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentStats:
        return cls(
            d["index"], d["frames"], d["generated"], d["with_face"], dict(d["passed"]), [list(r) for r in d["runs"]]
        )


class Timer:
    """Wall seconds and CPU seconds (of the calling thread) per stage, summed over calls (thread-safe).

    CPU time is what a stage costs whatever else runs on the machine; ffmpeg's decoding and x264's encoding run
    in their own processes and show up only as the time spent waiting on their pipes.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float, cpu: float = 0.0) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
            if cpu:
                self.cpu[stage] = self.cpu.get(stage, 0.0) + cpu

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0, time.thread_time() - c0)


# ---------------------------------------------------------------------------------------------------- batch size


class BatchTuner:
    """Pick the generator's batch size by timing real batches: each candidate runs twice (the first call of a
    shape builds oneDNN kernels), the fastest per frame wins and is kept for later runs of the same model."""

    def __init__(self, candidates: tuple[int, ...], fixed: int | None = None) -> None:
        self.candidates = candidates
        self.fixed = fixed
        self.trials: dict[int, list[float]] = {}
        self.chosen: int | None = fixed

    def next_size(self) -> int:
        if self.chosen is not None:
            return self.chosen
        for c in self.candidates:
            if len(self.trials.get(c, [])) < 2:
                return c
        self.chosen = min(self.candidates, key=lambda c: self.trials[c][-1])
        log.debug(
            "generator batch size %d chosen (ms/frame: %s)",
            self.chosen, ", ".join(f"{c}: {self.trials[c][-1] * 1000:.0f}" for c in self.candidates),
        )  # fmt: skip
        return self.chosen

    def record(self, size: int, n: int, seconds: float) -> None:
        if self.chosen is None and n == size and size in self.candidates:
            self.trials.setdefault(size, []).append(seconds / n)


# ---------------------------------------------------------------------------------------------------- the engine


class Stopped(Exception):
    """Raised inside a worker thread when another thread failed or the run was interrupted."""


@dataclass
class StreamJob:
    """Everything one streaming pass needs (built by `Dubber.dub`)."""

    video: Path
    is_image: bool
    n_out: int
    fps: Fraction
    width: int
    height: int
    mel: Any  # infer.audio.MelSource
    schedule: Any  # infer.emotion.EmotionSchedule
    generator: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    plan: FacePlan  # per frame: box or reason, and alpha (infer.gating)
    work: Path
    segment_frames: int
    skip_until: int = 0
    colour_match: bool = True
    paste_region: str = "face"  # video.crop.PASTE_REGIONS: "lower" for lower-half models, "emotion" for EmoGen
    watermark: bool = False
    crf: int = 18
    preset: str = "veryfast"
    spec: AVSpec = DEFAULT_SPEC
    tuner: BatchTuner | None = None
    workers: int = 1  # generator batches in flight at once (each in its own thread)
    queue_bytes: int = 96 << 20  # frames held in each queue, in bytes (bounded memory)
    on_segment: Callable[[SegmentStats], None] | None = None
    progress: Callable[[int], None] | None = None  # frames finished so far (called from the main thread)


def part_path(work: Path, segment: int) -> Path:
    return work / f"part_{segment:05d}.mp4"


class StreamRunner:
    """Runs one `StreamJob`; `run()` returns the stats of the segments it wrote, and the timings."""

    def __init__(self, job: StreamJob) -> None:
        self.job = job
        frame_bytes = max(1, job.width * job.height * 3)
        depth = int(max(4, min(64, job.queue_bytes // frame_bytes)))
        self.q_in: queue.Queue[FrameItem | None] = queue.Queue(depth)
        self.q_out: queue.Queue[FrameItem | None] = queue.Queue(depth)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.timer = Timer()
        self.done: list[SegmentStats] = []
        self.n_finished = 0
        self.n_video_frames = 0  # distinct input frames decoded (up to n_out)
        self.video_ended = False
        self.batch_sizes: set[int] = set()  # generator batch sizes asked for (the last batch may be smaller)

    # -------------------------------------------------------------------------------- helpers

    def _put(self, q: queue.Queue, item: FrameItem | None) -> None:
        while True:
            if self.stop.is_set():
                raise Stopped
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _get(self, q: queue.Queue, alive: threading.Thread) -> FrameItem | None:
        while True:
            if self.stop.is_set():
                raise Stopped
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if not alive.is_alive() and q.empty():
                    if self.errors:
                        raise Stopped from None
                    raise RuntimeError(f"{alive.name} ended without finishing its stream") from None

    def _guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def wrapped() -> None:
            try:
                fn()
            except Stopped:
                pass
            except BaseException as exc:  # handed to the main thread, which re-raises it
                self.errors.append(exc)
                self.stop.set()

        return wrapped

    # -------------------------------------------------------------------------------- producer

    def _frames(self) -> Iterator[tuple[int, np.ndarray, bool]]:
        """(output index, frame, is a new input frame) for every output frame, by the length rules."""
        from emotalk.video.decode import VideoReader

        job = self.job
        reader = VideoReader(job.video, fps=25.0 if job.is_image else None)
        it = iter(reader)
        last = None
        try:
            for i in range(job.n_out):
                if not self.video_ended:
                    with self.timer.stage("decode"):
                        frame = next(it, None)
                    if frame is None:
                        self.video_ended = True
                    else:
                        last = frame
                        self.n_video_frames += 1
                        yield i, frame, True
                        continue
                assert last is not None
                yield i, last, False
        finally:
            it.close()  # stops ffmpeg when the video is longer than the audio

    def _produce(self) -> None:
        job = self.job
        frames = self._frames()
        try:
            for i, frame, _ in frames:
                if self.stop.is_set():
                    raise Stopped
                if i >= job.skip_until:
                    self._emit(i, frame)
        finally:
            frames.close()
        self._put(self.q_in, None)

    def _emit(self, j: int, frame: np.ndarray) -> None:
        job = self.job
        plan = job.plan
        with self.timer.stage("crop"):
            item = FrameItem(j, frame, reason=plan.reasons[j], alpha=float(plan.weights[j]))
            box = plan.boxes[j]
            if not np.isnan(box).any():
                padded = pad_box(box, frame.shape[:2], job.spec)
                if padded[2] - padded[0] >= 2 and padded[3] - padded[1] >= 2:
                    item.box = padded
            if item.box is None and item.reason is None:
                item.reason = NO_FACE
            if item.reason is None:
                item.crop = crop_face(frame, item.box, job.spec.img_size)
                item.mel = job.mel.window(j)
                item.emotion = job.schedule([j])[0]
        self._put(self.q_in, item)

    # -------------------------------------------------------------------------------- consumer

    def _consume(self) -> None:
        job = self.job
        from emotalk.video.encode import SegmentEncoder

        overlay = label_overlay(job.width, job.height) if job.watermark else None
        encoder: SegmentEncoder | None = None
        stats: SegmentStats | None = None
        try:
            while True:
                item = self._get(self.q_out, self._main_thread)
                if item is None:
                    break
                seg = item.index // job.segment_frames
                if encoder is None:
                    encoder = SegmentEncoder(
                        part_path(job.work, seg), job.width, job.height, job.fps, job.crf, job.preset
                    )
                    stats = SegmentStats(seg)
                assert stats is not None
                with self.timer.stage("paste"):
                    frame = item.frame
                    if item.face is not None or overlay is not None:
                        frame = frame.copy()
                    if item.face is not None:
                        assert item.box is not None
                        paste_face(
                            frame,
                            item.face,
                            item.box,
                            reference=item.crop if job.colour_match else None,
                            region=job.paste_region,
                            upper=upper_face_weight(item.emotion),
                        )
                        if item.alpha < 1.0:  # fading in or out: blend towards the original inside the box
                            x1, y1, x2, y2 = (int(v) for v in item.box)
                            orig = item.frame[y1:y2, x1:x2].astype(np.float32)
                            mixed = orig + item.alpha * (frame[y1:y2, x1:x2].astype(np.float32) - orig)
                            frame[y1:y2, x1:x2] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
                    if overlay is not None:
                        draw_label(frame, overlay)
                with self.timer.stage("encode"):
                    encoder.write(frame)
                stats.add(item)
                self.n_finished += 1
                last_of_segment = item.index == min(job.n_out, (seg + 1) * job.segment_frames) - 1
                if last_of_segment:
                    with self.timer.stage("encode"):
                        encoder.close()
                    encoder = None
                    self.done.append(stats)
                    if job.on_segment is not None:
                        job.on_segment(stats)
                    stats = None
            if encoder is not None:
                raise RuntimeError(f"the stream ended inside segment {stats.index if stats else '?'}")
        finally:
            if encoder is not None:
                encoder.abort()

    # -------------------------------------------------------------------------------- main thread

    def _generate(self, items: list[FrameItem], size: int) -> list[FrameItem]:
        """Run the generator on the items that need it (in a worker thread); returns all items, in order."""
        todo = [it for it in items if it.reason is None]
        if todo:
            t0, c0 = time.perf_counter(), time.thread_time()
            faces = self.job.generator(
                np.stack([it.crop for it in todo]),
                np.stack([it.mel for it in todo]),
                np.stack([it.emotion for it in todo]),
            )
            dt = time.perf_counter() - t0
            self.timer.add("generate", dt, time.thread_time() - c0)
            self.batch_sizes.add(size)
            if self.job.tuner is not None:
                self.job.tuner.record(size, len(todo), dt)
            for it, face in zip(todo, faces, strict=True):
                it.face = face
        return items

    def run(self) -> list[SegmentStats]:
        job = self.job
        self._main_thread = threading.current_thread()
        producer = threading.Thread(target=self._guard(self._produce), name="emotalk-decode-detect", daemon=True)
        consumer = threading.Thread(target=self._guard(self._consume), name="emotalk-paste-encode", daemon=True)
        pool = ThreadPoolExecutor(max(1, job.workers), thread_name_prefix="emotalk-generate")
        inflight: deque[Future[list[FrameItem]]] = deque()

        def deliver(block: bool) -> None:
            """Hand finished batches to the consumer in order (the oldest first)."""
            while inflight and (block or inflight[0].done() or len(inflight) >= max(1, job.workers)):
                t0 = time.perf_counter()
                items = inflight.popleft().result()
                self.timer.add("wait_generate", time.perf_counter() - t0)
                for it in items:
                    self._put(self.q_out, it)
                block = False

        producer.start()
        consumer.start()
        try:
            pending: list[FrameItem] = []
            n_gen = 0
            size = job.tuner.next_size() if job.tuner else 16
            while True:
                t0 = time.perf_counter()
                item = self._get(self.q_in, producer)
                self.timer.add("wait_input", time.perf_counter() - t0)
                if item is None:
                    break
                pending.append(item)
                n_gen += item.reason is None
                if n_gen >= size:
                    inflight.append(pool.submit(self._generate, pending, size))
                    pending, n_gen = [], 0
                    size = job.tuner.next_size() if job.tuner else size
                    deliver(block=False)
                    if job.progress is not None:
                        job.progress(self.n_finished)
            inflight.append(pool.submit(self._generate, pending, size))
            while inflight:
                deliver(block=True)
            self._put(self.q_out, None)
            while consumer.is_alive():
                consumer.join(timeout=0.1)
                if job.progress is not None:
                    job.progress(self.n_finished)
        except BaseException as exc:
            self.stop.set()
            producer.join(timeout=10)
            consumer.join(timeout=10)
            if self.errors and isinstance(exc, Stopped | RuntimeError):
                raise self.errors[0] from None
            raise
        finally:
            self.stop.set()
            for f in inflight:
                f.cancel()
            pool.shutdown(wait=True)
            producer.join(timeout=10)
            consumer.join(timeout=10)
        if self.errors:
            raise self.errors[0]
        return self.done
