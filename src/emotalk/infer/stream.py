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
The face selector lives in face_select.py and the engine's parts (frame items, segment stats, the timer, the batch
tuner) in stream_parts.py; this module re-exports them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from emotalk.infer.emotion import upper_face_weight
from emotalk.infer.face_plan import NO_FACE, FacePlan
from emotalk.infer.face_select import POSITIONS, FaceSelector
from emotalk.infer.stream_parts import BatchTuner, FrameItem, SegmentStats, Timer
from emotalk.spec import DEFAULT_SPEC, AVSpec
from emotalk.video.crop import crop_face, draw_label, label_overlay, pad_box, paste_face

log = logging.getLogger(__name__)


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
    """Where segment `segment` of a dub is encoded in its work folder."""
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
                    frame = self._paste(item, overlay)
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

    def _paste(self, item: FrameItem, overlay: tuple[Any, np.ndarray, np.ndarray] | None) -> np.ndarray:
        """The output frame: the generated face pasted back (faded towards the original at a stretch's edges) and
        the optional label drawn, on a copy; the decoded frame itself when neither applies."""
        job = self.job
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
        return frame

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


__all__ = [
    "POSITIONS",
    "BatchTuner",
    "FaceSelector",
    "FrameItem",
    "SegmentStats",
    "Stopped",
    "StreamJob",
    "StreamRunner",
    "Timer",
    "part_path",
]
