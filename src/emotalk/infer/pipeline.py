"""`Dubber`: the Python API of inference (the CLI, the web server and the evaluation suite all call it).

    from emotalk.infer.pipeline import Dubber
    dubber = Dubber("pl_da.ckpt", device="cpu")          # loads the generator once
    result = dubber.dub("clip.mp4", "speech.wav", emotion="happy", out="dubbed.mp4",
                        strength=0.8, timeline="0-2:happy,2-4:sad@0.6", progress=print)
    result.generated, result.passed_through            # frames generated / passed through, and why

What a dub does (mission.md §6, issue #5): probe and validate every input before writing anything; decode the
driving audio (16 kHz mono) and fix the output length by the paper's rules; stream the video through detection,
generation, paste-back and encoding (`infer.stream`), one resumable segment at a time in a work folder beside the
output (``.<name>.parts/``); join the segments with the audio into the MP4 (H.264 + AAC) with provenance tags;
write a JSON summary beside it (``<out>.json``); remove the work folder. Bad input raises an `EmotalkError` with a
one-line message and leaves no output; an interrupted run (Ctrl-C, a crash, an exception raised by `progress`)
keeps its finished segments, and the same call later continues from them.

The steps live beside it: `infer.inputs` (probe and check), `infer.gating` (the analysis pass), `infer.stream`
(the streaming engine), `infer.workdir` (the resumable work folder), `infer.finish` (the tagged MP4 and the
summary), `infer.result` (the summary's fields).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from emotalk.errors import ConfigError, NoFaceError
from emotalk.ffmpeg import probe
from emotalk.infer.analysis import analysis_pass, quiet_detector, quiet_mesh
from emotalk.infer.audio import MelSource, n_output_frames
from emotalk.infer.emotion import DEFAULT_CROSSFADE_S
from emotalk.infer.finish import dub_result, mux_output, write_summary
from emotalk.infer.gating import FacePlan, GateSettings
from emotalk.infer.inputs import SILENCE_MODES, STILL_FPS, DubInputs, check_inputs, exact_fps
from emotalk.infer.model import LoadedGenerator, load_generator
from emotalk.infer.quantize import CALIBRATION_FRAMES, record_feeds
from emotalk.infer.result import DubResult, segment_totals, summary_path_for
from emotalk.infer.stream import (
    BatchTuner,
    FaceSelector,
    SegmentStats,
    StreamJob,
    StreamRunner,
    Timer,
)
from emotalk.infer.workdir import WorkFolder, file_id, work_dir_for
from emotalk.spec import DEFAULT_SPEC, AVSpec
from emotalk.video.crop import paste_region_for

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


class Dubber:
    """Load a generator once and dub any number of videos with it.

    Args:
        checkpoint: our generator checkpoint (.ckpt), or a published EmoGen / Wav2Lip generator file.
        device: "cpu", "cuda" (or "cuda:N"), or "auto".
        batch_size: frames per generator call; None measures 8/16 (CPU) or 32/64/128 (CUDA) on the first
            batches of real work and keeps the fastest.
        segment_frames: frames per resumable segment (each is one H.264 file in the work folder).
        crf, preset: libx264 quality and speed.
        silence_db: loudness (dBFS of a frame's audio window) under which ``silence="keep"`` keeps a frame.
        crossfade: seconds over which emotion changes of a timeline ramp.
        allow_no_face: when no frame has a face, pass the whole video through instead of raising NoFaceError.
        detect_max_side, min_confidence, max_gap: face detection and tracking, as in preprocessing.
        gating: which frames may be dubbed (confidence floor, size, landmarks, pose, transients, cuts, speaker;
            `infer.gating.GateSettings`); its max_gap is this max_gap.
        workers: generator batches run at once, each in its own thread (default: 2 on CPU with 2+ cores, else 1).
        threads: torch intra-op threads per worker on CPU (default: cores // workers); set for the duration of
            each dub and restored after it.
        backend, precision, calibration_clips: the generator's runtime on CPU (torch | onnx | openvino | auto;
            fp32 | bf16 | int8 | auto; int8's calibration clips), `infer.backends.runtime_for`.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        device: str = "cpu",
        batch_size: int | None = None,
        *,
        segment_frames: int = 300,
        crf: int = 18,
        preset: str = "veryfast",
        silence_db: float = -40.0,
        crossfade: float = DEFAULT_CROSSFADE_S,
        allow_no_face: bool = False,
        detect_max_side: int = 320,
        min_confidence: float = 0.5,
        max_gap: int = 2,
        gating: GateSettings | None = None,
        workers: int | None = None,
        threads: int | None = None,
        spec: AVSpec = DEFAULT_SPEC,
        backend: str = "torch",
        precision: str = "auto",
        calibration_clips: list[Path] | None = None,
        compile_net: bool = False,
    ) -> None:
        if batch_size is not None and int(batch_size) < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        if int(segment_frames) < 1:
            raise ConfigError(f"segment_frames must be at least 1, got {segment_frames}")
        if not 0 <= int(crf) <= 51:
            raise ConfigError(f"crf must be in 0..51, got {crf}")
        self.spec = spec
        self.model: LoadedGenerator = load_generator(checkpoint, device, spec)
        self.device = str(self.model.device)
        self.checkpoint = Path(checkpoint)
        # CPU: two single-threaded workers peak at batch 8-16 (32 is slower and costs ~300 MB more at width 1.0,
        # benchmarks/inference.py); a GPU wants large batches
        cands = (32, 64, 128) if self.model.device.type == "cuda" else (8, 16)
        self.tuner = BatchTuner(cands, fixed=int(batch_size) if batch_size else None)
        self.segment_frames = int(segment_frames)
        self.crf, self.preset = int(crf), str(preset)
        self.silence_db = float(silence_db)
        self.crossfade = float(crossfade)
        self.allow_no_face = bool(allow_no_face)
        self.detect_max_side, self.min_confidence, self.max_gap = detect_max_side, min_confidence, max_gap
        cores = os.cpu_count() or 1
        on_cpu = self.model.device.type == "cpu"
        self.workers = int(workers) if workers else (min(2, cores) if on_cpu else 1)
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        self.threads = int(threads) if threads else max(1, cores // self.workers)
        from emotalk.infer.backends import RuntimeNet, release_memory, runtime_for

        self.model = runtime_for(
            self.model, backend, precision, workers=self.workers, threads=self.threads,
            calibration_clips=calibration_clips, capture=capture_calibration, compile_net=compile_net,
        )  # fmt: skip
        if isinstance(self.model.net, RuntimeNet):
            release_memory()
            # batch 16 costs ~100 MB more peak RSS at width 1.0 (OpenVINO bf16, 2 workers), and the tuner's
            # trials would pay it even when 8 wins: the ≤ 1 GB target of issue #15 wants the fixed 8
            if not batch_size:
                self.tuner = BatchTuner((8,), fixed=8)
        from dataclasses import replace

        self.gating = replace(gating or GateSettings(), max_gap=int(max_gap))
        self._detector: Any = None
        self._mesh: Any = None
        #: `hook(frame index, boxes) -> boxes` applied to every frame's detections (tests inject false ones).
        self.detect_hook: Callable[[int, list[Any]], list[Any]] | None = None
        self._lock = threading.Lock()
        #: Called (from the encoder thread) after each finished segment with its `SegmentStats`.
        self.on_segment: Callable[[SegmentStats], None] | None = None

    @property
    def batch_size(self) -> int | None:
        return self.tuner.chosen

    def detector(self) -> Any:
        """The FaceDetector (built on first use; mediapipe's start-up chatter on stderr is silenced)."""
        if self._detector is None:
            self._detector = quiet_detector(self.min_confidence, self.detect_max_side)
        return self._detector

    def mesh(self) -> Any:
        """The FaceMesh of the landmark, pose and speaker checks (built on first use, quietly)."""
        if self._mesh is None:
            self._mesh = quiet_mesh()
        return self._mesh

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def __enter__(self) -> Dubber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------ dub

    def dub(
        self,
        video: str | Path,
        audio: str | Path | None = None,
        emotion: str | int = "neutral",
        out: str | Path | None = None,
        strength: float = 1.0,
        timeline: str | None = None,
        face: int | str | None = None,
        silence: str = "generate",
        watermark: bool = False,
        colour_match: bool = True,
        progress: Progress | None = None,
        allow_no_face: bool | None = None,
    ) -> DubResult:
        """Dub `video` with `audio` (default: the video's own) in `emotion`, writing the MP4 `out`.

        Args:
            video: any video ffmpeg reads, or a still image (dubbed at 25 fps).
            emotion: name ("happy"), CREMA-D code ("HAP") or index; the default outside timeline ranges.
            strength: 0..1, blends the emotion's one-hot with neutral.
            timeline: "START-END:EMOTION[@STRENGTH],..." in seconds (see infer.emotion).
            face: which face: "auto" (default: the face that speaks the video's own audio, per shot; the largest
                when the video has no audio), 1 = largest, 2 = second largest, …, or left/right/top/bottom/center.
            silence: "generate" (everywhere) or "keep" (original frames where the audio window is silent).
            watermark: draw a visible "SYNTHETIC · emotalk" label (the metadata tags are always written).
            colour_match: match each generated face's LAB mean/std to the original crop's.
            progress: called as progress(fraction 0..1, stage) from this thread; raising in it cancels the
                dub (finished segments are kept for a resume).
            allow_no_face: override the Dubber's setting for this call.
        """
        import torch

        with self._lock:
            saved = torch.get_num_threads()
            if self.model.device.type == "cpu":
                torch.set_num_threads(self.threads)
            try:
                no_face_ok = self.allow_no_face if allow_no_face is None else allow_no_face
                return self._dub(
                    video, audio, emotion, out, strength, timeline, face, silence, watermark, colour_match, progress,
                    no_face_ok,
                )  # fmt: skip
            finally:
                torch.set_num_threads(saved)

    def _dub(
        self,
        video: str | Path,
        audio: str | Path | None,
        emotion: str | int,
        out: str | Path | None,
        strength: float,
        timeline: str | None,
        face: int | str | None,
        silence: str,
        watermark: bool,
        colour_match: bool,
        progress: Progress | None,
        allow_no_face: bool,
    ) -> DubResult:
        """The steps of `dub`: check the inputs, open the work folder, plan, generate, mux, summarize."""
        t_start = time.perf_counter()
        report = progress or (lambda f, s: None)
        report(0.0, "prepare")
        job = check_inputs(video, audio, out, emotion, strength, timeline, face, silence, self.crossfade, self.spec)
        if not self.model.uses_emotion and (job.schedule.ranges or emotion not in ("neutral", "NEU")):
            job.warnings.append(f"{self.checkpoint.name} is a Wav2Lip model without emotion input: emotion is ignored")
        key = self._job_key(job, emotion, strength, timeline, watermark, colour_match)
        work = WorkFolder(job.out, key, self._segment_done)
        resumed = len(work.done)
        if resumed:
            log.info("resuming %s: %d of %d segments already done", job.out.name, resumed, self._n_segments(job))
        mel = MelSource(job.wav, float(job.fps), self.spec)
        runner = None
        try:
            plan, gate_timer, any_face = self._plan(
                job.video, job.vinfo, job.audio, job.wav, job.fps, job.n_out, job.selector, job.silence, mel,
                progress=lambda i: report(0.1 * i / job.n_out, "prepare"),
            )  # fmt: skip
            if not any_face and not allow_no_face:
                raise NoFaceError(
                    f"no face found in any frame of {job.video}; use a video showing a face, or pass "
                    "--allow-no-face to pass the whole video through"
                )
            skip_until = resumed * self.segment_frames
            if skip_until < job.n_out:
                runner = self._generate(job, mel, plan, work, skip_until, watermark, colour_match, report)
            totals = segment_totals(work.segments())
            totals["with_face"] = sum(1 for c in plan.faces_per_frame if c)
            report(0.96, "mux")
            t_mux = mux_output(job, work, self.checkpoint, self.model, totals["generated"])
        except BaseException as exc:
            from emotalk.errors import EmotalkError

            if isinstance(exc, EmotalkError):  # bad input: nothing to resume
                work.remove()
            raise
        result = dub_result(
            job, plan, gate_timer, runner, totals, t_mux, resumed,
            model=self.model, checkpoint=self.checkpoint, device=self.device, batch_size=self.tuner.chosen,
            segments=self._n_segments(job), gating=self.gating, spec=self.spec,
        )  # fmt: skip
        result.wall_seconds = time.perf_counter() - t_start
        write_summary(result)
        work.remove()
        report(1.0, "done")
        return result

    def _n_segments(self, job: DubInputs) -> int:
        return -(-job.n_out // self.segment_frames)

    def _segment_done(self, stats: SegmentStats) -> None:
        if self.on_segment is not None:
            self.on_segment(stats)

    def _job_key(
        self,
        job: DubInputs,
        emotion: str | int,
        strength: float,
        timeline: str | None,
        watermark: bool,
        colour_match: bool,
    ) -> dict[str, Any]:
        """Everything that shapes the output: a resume continues only a run with the same key."""
        return {
            "video": file_id(job.video),
            "audio": file_id(job.audio_path),
            "checkpoint": file_id(self.checkpoint),
            "emotion": [str(emotion), float(strength), timeline or "", self.crossfade],
            "face": job.selector.describe(),
            "silence": [job.silence, self.silence_db],
            "watermark": bool(watermark),
            "colour_match": bool(colour_match),
            "segment_frames": self.segment_frames,
            "encoder": [self.crf, self.preset],
            "n_out": job.n_out,
            "fps": str(job.fps),
            "detect": [self.detect_max_side, self.min_confidence, self.max_gap],
            "gating": self.gating.key(),
            "spec": self.spec.to_dict(),
        }

    def _generate(
        self,
        job: DubInputs,
        mel: MelSource,
        plan: FacePlan,
        work: WorkFolder,
        skip_until: int,
        watermark: bool,
        colour_match: bool,
        report: Progress,
    ) -> StreamRunner:
        """Stream the frames after the resumed segments through generation, paste-back and encoding."""
        stream = StreamJob(
            video=job.video,
            is_image=job.vinfo.is_image,
            n_out=job.n_out,
            fps=job.fps,
            width=job.width,
            height=job.height,
            mel=mel,
            schedule=job.schedule,
            generator=self.model,
            plan=plan,
            work=work.path,
            segment_frames=self.segment_frames,
            skip_until=skip_until,
            colour_match=colour_match,
            paste_region=paste_region_for(self.model.mask_mode, self.model.uses_emotion),
            watermark=watermark,
            crf=self.crf,
            preset=self.preset,
            spec=self.spec,
            tuner=self.tuner,
            workers=self.workers,
            on_segment=work.segment_done,
            progress=lambda n: report(0.1 + 0.85 * (skip_until + n) / job.n_out, "dub"),
        )
        runner = StreamRunner(stream)
        runner.run()
        return runner

    def plan(
        self,
        video: str | Path,
        audio: str | Path | None = None,
        face: int | str | None = None,
        silence: str = "generate",
    ) -> FacePlan:
        """Only the analysis pass of `dub`: what each frame of a dub of `video` with `audio` would get (box or
        reason), without generating anything (for checks, tests and the benchmark of the gating's cost)."""
        from emotalk.audio.load import load_audio

        video = Path(video)
        vinfo = probe(video)
        fps = STILL_FPS if vinfo.is_image else exact_fps(vinfo.fps or 25.0)
        wav = load_audio(Path(audio) if audio is not None else video, self.spec.sample_rate)
        n_out = n_output_frames(len(wav), float(fps), self.spec)
        mel = MelSource(wav, float(fps), self.spec)
        selector = FaceSelector("auto" if face is None else face)
        with self._lock:  # mediapipe's graphs are not for two threads at once
            plan, timer, _ = self._plan(video, vinfo, audio, wav, fps, n_out, selector, silence, mel)
        plan.timer = timer
        return plan

    def _plan(
        self,
        video: Path,
        vinfo: Any,
        audio: str | Path | None,
        wav: np.ndarray,
        fps: Fraction,
        n_out: int,
        selector: FaceSelector,
        silence: str,
        mel: MelSource,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[FacePlan, Timer, bool]:
        """The analysis pass (`infer.analysis`) with this Dubber's models and settings."""
        return analysis_pass(
            video, vinfo, audio, wav, fps, n_out, selector, silence, mel,
            detector=self.detector(), mesh=self.mesh() if self.gating.landmarks else None, gating=self.gating,
            spec=self.spec, silence_db=self.silence_db, hook=self.detect_hook, progress=progress,
        )  # fmt: skip


def capture_calibration(
    checkpoint: str | Path, clips: list[Path] | list[str], frames: int = CALIBRATION_FRAMES
) -> list[dict[str, np.ndarray]]:
    """int8 calibration feeds: the generator's inputs while the fp32 torch model of `checkpoint` dubs `clips`
    (each in another emotion), at most `frames` (`infer.quantize.record_feeds`)."""
    from emotalk.infer.backends import input_names

    with Dubber(checkpoint, "cpu", batch_size=8) as dubber:
        return record_feeds(dubber, input_names(dubber.model.net), clips, frames)


__all__ = [
    "SILENCE_MODES",
    "STILL_FPS",
    "DubResult",
    "Dubber",
    "capture_calibration",
    "exact_fps",
    "summary_path_for",
    "work_dir_for",
]
