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
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

import emotalk
from emotalk.errors import AudioTooShortError, ConfigError, MediaDecodeError, NoFaceError
from emotalk.ffmpeg import probe
from emotalk.fsutil import write_json
from emotalk.infer.audio import MelSource, n_output_frames
from emotalk.infer.emotion import DEFAULT_CROSSFADE_S, EmotionSchedule
from emotalk.infer.gating import FACE_REASONS, NO_FACE, FacePlan, GateSettings, analyze, build_plan, frame_energy
from emotalk.infer.gating import summarize as gate_warnings
from emotalk.infer.model import LoadedGenerator, load_generator
from emotalk.infer.quantize import CALIBRATION_FRAMES, record_feeds
from emotalk.infer.stream import (
    BatchTuner,
    FaceSelector,
    SegmentStats,
    StreamJob,
    StreamRunner,
    Timer,
    part_path,
)
from emotalk.spec import DEFAULT_SPEC, AVSpec
from emotalk.video.crop import paste_region_for
from emotalk.video.encode import even_size

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
SILENCE_MODES = ("generate", "keep")
STATE_VERSION = 1
STILL_FPS = Fraction(25)
#: Rates that containers print rounded (29.97) but mean exactly (30000/1001).
_NTSC = tuple(Fraction(b * 1000, 1001) for b in (24, 30, 48, 60, 120))


def exact_fps(fps: float) -> Fraction:
    """The exact frame rate behind ffmpeg's rounded figure: 29.97 → 30000/1001; others as given."""
    for r in _NTSC:
        if abs(fps - float(r)) < 0.006:
            return r
    return Fraction(fps).limit_denominator(1001)


@dataclass
class DubResult:
    """Summary of one dub (also written as JSON beside the output)."""

    output: Path
    summary_path: Path
    frames: int  # output frames
    generated: int
    passed_through: dict[str, int]  # reason (infer.gating: "no_face", "pose", …, "silence") -> frames
    passthrough_ranges: list[list[Any]]  # [first, last, reason] runs of passed-through frames (output indices)
    frames_with_face: int
    fps: float
    fps_exact: str  # e.g. "30000/1001"
    width: int  # output size: the input's, odd dimensions + 1 (yuv420p)
    height: int
    input_size: list[int]  # [width, height] of the input
    input_frames_used: int  # distinct video frames shown (the rest repeat the last one)
    repeated_last_frame: int  # output frames that repeat the video's last frame (audio longer than video)
    video_trimmed: bool  # audio shorter than the video: the video's end was cut
    still_image: bool
    audio_seconds: float
    video_seconds: float | None  # the input's duration as its container says
    output_seconds: float
    emotion: str
    mask_mode: str
    checkpoint: str
    generator_source: str
    device: str
    batch_size: int | None  # the generator batch size chosen (largest used while still measuring)
    segments: int
    resumed_segments: int
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per stage (summed within threads)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # CPU seconds per stage (its threads only)
    wall_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    face_warning: str = ""  # one line when many frames passed through or the only face is doubted ("" if fine)
    face_mode: str = ""  # auto (the speaking face), largest, 2, left, …
    shot_starts: list[int] = field(default_factory=list)  # first frame of each shot (cuts)
    speakers: list[list[Any]] = field(default_factory=list)  # --face auto: [first, last, track, verdict]
    gating: dict[str, Any] = field(default_factory=dict)  # the thresholds used (infer.gating.GateSettings)

    @property
    def frames_per_second(self) -> float:
        """Processing speed of this run (frames written by this run / wall time)."""
        return self.frames / self.wall_seconds if self.wall_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["output"], d["summary_path"] = str(self.output), str(self.summary_path)
        return d


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment: mediapipe's C++ logs (absl, TFLite) ignore every
    Python and environment setting."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded, pytest capture without fd): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _file_id(path: Path) -> list[Any]:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def summary_path_for(out: Path) -> Path:
    """Where the JSON summary of `out` goes: ``O.mp4`` → ``O.mp4.json``."""
    return out.with_name(out.name + ".json")


def work_dir_for(out: Path) -> Path:
    """The resumable work folder of `out`: ``.O.mp4.parts`` beside it."""
    return out.with_name(f".{out.name}.parts")


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
            calibration_clips=calibration_clips, capture=capture_calibration,
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
            from emotalk.video.faces import FaceDetector

            with _quiet_stderr():
                det = FaceDetector(min_confidence=self.min_confidence, max_side=self.detect_max_side)
                det.detect(np.zeros((64, 64, 3), np.uint8))  # its first call logs too
            self._detector = det
        return self._detector

    def mesh(self) -> Any:
        """The FaceMesh of the landmark, pose and speaker checks (built on first use, quietly)."""
        if self._mesh is None:
            from emotalk.video.faces import FaceMesh

            with _quiet_stderr():
                mesh = FaceMesh()
                mesh.landmarks(np.zeros((64, 64, 3), np.uint8), np.array([8.0, 8.0, 56.0, 56.0]))
            self._mesh = mesh
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
        t_start = time.perf_counter()
        report = progress or (lambda f, s: None)
        report(0.0, "prepare")
        spec = self.spec
        warnings: list[str] = []

        # ---- validate everything before anything is written
        if out is None:
            raise ConfigError("no output path given (--out)")
        out = Path(out)
        if out.is_dir():
            raise ConfigError(f"the output {out} is a folder; give a file name such as {out / 'dubbed.mp4'}")
        video = Path(video)
        vinfo = probe(video)
        if not vinfo.has_video:
            raise MediaDecodeError(f"{video} has no video stream (an audio file was given as the video?)")
        if silence not in SILENCE_MODES:
            raise ConfigError(f"silence must be one of {', '.join(SILENCE_MODES)}, got {silence!r}")
        selector = FaceSelector("auto" if face is None else face)
        if vinfo.is_image:
            fps = STILL_FPS
        elif vinfo.fps:
            fps = exact_fps(vinfo.fps)
        else:
            raise MediaDecodeError(f"{video}: its frame rate cannot be read; re-encode it, e.g. ffmpeg -i IN -r 25 OUT")
        schedule = EmotionSchedule(float(fps), emotion, strength, timeline, self.crossfade)
        audio_path = Path(audio) if audio is not None else video
        if audio is None and not vinfo.has_audio:
            raise MediaDecodeError(f"{video} has no audio track of its own; give the speech with --audio")
        for src in {video, audio_path}:
            if out.resolve() == src.resolve():
                raise ConfigError(f"the output {out} would overwrite an input; choose another --out")
        if out.suffix.lower() not in (".mp4", ".m4v", ".mov"):
            warnings.append(f"{out.name}: the file is an MP4 whatever its extension")
        from emotalk.audio.load import load_audio

        t0 = time.perf_counter()
        wav = load_audio(audio_path, spec.sample_rate)
        t_audio = time.perf_counter() - t0
        if len(wav) < spec.sample_rate / float(fps):
            raise AudioTooShortError(
                f"{audio_path} holds {1000 * len(wav) / spec.sample_rate:.1f} ms of audio, shorter than one video "
                f"frame ({1000 / float(fps):.1f} ms at {float(fps):.3f} fps); give at least one frame of speech"
            )
        n_out = n_output_frames(len(wav), float(fps), spec)
        width, height = vinfo.size
        if even_size(width, height) != (width, height):
            ow, oh = even_size(width, height)
            warnings.append(
                f"{width}x{height} is odd-sized, which H.264 (yuv420p) cannot hold: the output is {ow}x{oh}, the "
                "last column/row repeated"
            )
        if not self.model.uses_emotion and (schedule.ranges or emotion not in ("neutral", "NEU")):
            warnings.append(f"{self.checkpoint.name} is a Wav2Lip model without emotion input: emotion is ignored")

        # ---- the work folder: resume finished segments when everything that shapes the output is the same
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the output folder {out.parent}: {exc.strerror or exc}") from None
        work = work_dir_for(out)
        key = {
            "version": STATE_VERSION,
            "video": _file_id(video),
            "audio": _file_id(audio_path),
            "checkpoint": _file_id(self.checkpoint),
            "emotion": [str(emotion), float(strength), timeline or "", self.crossfade],
            "face": selector.describe(),
            "silence": [silence, self.silence_db],
            "watermark": bool(watermark),
            "colour_match": bool(colour_match),
            "segment_frames": self.segment_frames,
            "encoder": [self.crf, self.preset],
            "n_out": n_out,
            "fps": str(fps),
            "detect": [self.detect_max_side, self.min_confidence, self.max_gap],
            "gating": self.gating.key(),
            "spec": spec.to_dict(),
        }
        key = json.loads(json.dumps(key))
        try:
            done = self._resume(work, key)
            state = {"key": key, "segments": [s.to_dict() for s in done]}
            write_json(work / "state.json", state, default=str)
        except OSError as exc:
            raise ConfigError(f"cannot write beside the output {out}: {exc.strerror or exc}") from None
        n_segments = -(-n_out // self.segment_frames)

        def segment_done(stats: SegmentStats) -> None:
            state["segments"].append(stats.to_dict())
            write_json(work / "state.json", state, default=str)
            if self.on_segment is not None:
                self.on_segment(stats)

        skip_until = len(done) * self.segment_frames
        resumed = len(done)
        if resumed:
            log.info("resuming %s: %d of %d segments already done", out.name, resumed, n_segments)
        mel = MelSource(wav, float(fps), spec)
        runner = None
        try:
            plan, gate_timer, any_face = self._plan(
                video, vinfo, audio, wav, fps, n_out, selector, silence, mel, warnings,
                progress=lambda i: report(0.1 * i / n_out, "prepare"),
            )  # fmt: skip
            if not any_face and not allow_no_face:
                raise NoFaceError(
                    f"no face found in any frame of {video}; use a video showing a face, or pass "
                    "--allow-no-face to pass the whole video through"
                )
            if skip_until < n_out:
                job = StreamJob(
                    video=video,
                    is_image=vinfo.is_image,
                    n_out=n_out,
                    fps=fps,
                    width=width,
                    height=height,
                    mel=mel,
                    schedule=schedule,
                    generator=self.model,
                    plan=plan,
                    work=work,
                    segment_frames=self.segment_frames,
                    skip_until=skip_until,
                    colour_match=colour_match,
                    paste_region=paste_region_for(self.model.mask_mode, self.model.uses_emotion),
                    watermark=watermark,
                    crf=self.crf,
                    preset=self.preset,
                    spec=spec,
                    tuner=self.tuner,
                    workers=self.workers,
                    on_segment=segment_done,
                    progress=lambda n: report(0.1 + 0.85 * (skip_until + n) / n_out, "dub"),
                )
                runner = StreamRunner(job)
                runner.run()
            segments = [SegmentStats.from_dict(d) for d in state["segments"]]
            totals = _totals(segments)
            totals["with_face"] = sum(1 for c in plan.faces_per_frame if c)
            report(0.96, "mux")
            from emotalk.video.encode import mux

            t0 = time.perf_counter()
            parts = [part_path(work, s.index) for s in segments]
            desc = schedule.describe()
            metadata = {
                "comment": f"SYNTHETIC: AI-generated face (lip-sync and emotion) made with emotalk; emotion {desc}",
                "description": (
                    f"Synthetic video made by emotalk {emotalk.__version__} (talking-face dubbing): the face of "
                    f"{video.name} re-rendered to speak {audio_path.name} with emotion {desc}; generator "
                    f"{self.checkpoint.name} ({self.model.source}); {totals['generated']} of {n_out} frames generated"
                ),
            }
            mux(parts, audio_path, out, metadata)
            t_mux = time.perf_counter() - t0
        except BaseException as exc:
            from emotalk.errors import EmotalkError

            if isinstance(exc, EmotalkError):  # bad input: nothing to resume
                shutil.rmtree(work, ignore_errors=True)
            raise

        # ---- summary
        timings = dict(runner.timer.seconds) if runner else {}
        cpu = dict(runner.timer.cpu) if runner else {}
        for k, v in gate_timer.seconds.items():
            timings[f"gate_{k}"] = v
        for k, v in gate_timer.cpu.items():
            cpu[f"gate_{k}"] = v
        face_lines = gate_warnings(plan, self.gating)
        timings["audio"] = t_audio
        timings["mux"] = t_mux
        n_used = runner.n_video_frames if runner else 0
        video_ended = runner.video_ended if runner else False
        if vinfo.is_image:
            used, repeated = 1, n_out - 1
        elif runner is not None and not resumed:
            used = n_used
            repeated = n_out - n_used
        else:  # resumed: estimate from the container's duration
            est = round((vinfo.duration or 0) * float(fps)) or n_out
            used, repeated = min(n_out, est), max(0, n_out - est)
        trimmed = (not vinfo.is_image) and runner is not None and not video_ended and not resumed
        if trimmed and vinfo.duration:
            trimmed = vinfo.duration * float(fps) > n_out + 0.5
        result = DubResult(
            output=out,
            summary_path=summary_path_for(out),
            frames=n_out,
            generated=totals["generated"],
            passed_through=totals["passed"],
            passthrough_ranges=totals["runs"],
            frames_with_face=totals["with_face"],
            fps=float(fps),
            fps_exact=f"{fps.numerator}/{fps.denominator}",
            width=even_size(width, height)[0],
            height=even_size(width, height)[1],
            input_size=[width, height],
            input_frames_used=used,
            repeated_last_frame=repeated,
            video_trimmed=bool(trimmed),
            still_image=vinfo.is_image,
            audio_seconds=len(wav) / spec.sample_rate,
            video_seconds=vinfo.duration if not vinfo.is_image else None,
            output_seconds=n_out / float(fps),
            emotion=schedule.describe(),
            mask_mode=self.model.mask_mode,
            checkpoint=str(self.checkpoint),
            generator_source=self.model.source,
            device=self.device,
            batch_size=self.tuner.chosen or (max(runner.batch_sizes) if runner and runner.batch_sizes else None),
            segments=n_segments,
            resumed_segments=resumed,
            timings={k: round(v, 4) for k, v in timings.items()},
            cpu_seconds={k: round(v, 4) for k, v in cpu.items()},
            wall_seconds=time.perf_counter() - t_start,
            warnings=warnings + plan.notes + _passthrough_notes(totals, n_out),
            face_warning="; ".join(face_lines),
            face_mode=plan.face_mode,
            shot_starts=plan.shot_starts,
            speakers=plan.speakers,
            gating=asdict(self.gating),
        )
        write_json(result.summary_path, {"emotalk": emotalk.__version__, **result.to_dict()}, default=str)
        shutil.rmtree(work, ignore_errors=True)
        report(1.0, "done")
        return result

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
            plan, timer, _ = self._plan(video, vinfo, audio, wav, fps, n_out, selector, silence, mel, [])
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
        warnings: list[str],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[FacePlan, Timer, bool]:
        """The analysis pass (`infer.gating`): every frame's box or reason, before anything is generated."""
        from emotalk.video.decode import VideoReader
        from emotalk.video.shots import ShotDetector

        timer = Timer()
        reader = VideoReader(video, fps=25.0 if vinfo.is_image else None, max_side=640, info=vinfo)
        width, height = vinfo.size
        scale = (width / reader.width, height / reader.height)

        def frames() -> Iterator[tuple[np.ndarray, bool]]:
            """The stream's length rules: frames while the video lasts, then its last frame again."""
            it = iter(reader)
            last, ended = None, False
            try:
                for _ in range(n_out):
                    if not ended:
                        with timer.stage("decode"):
                            frame = next(it, None)
                        if frame is not None:
                            last = frame
                            yield frame, True
                            continue
                        ended = True
                    if last is None:
                        return
                    yield last, False
            finally:
                it.close()

        mesh = self.mesh() if self.gating.landmarks else None
        analysis = analyze(
            frames(), n_out, self.detector(), mesh, ShotDetector(self.gating.cut_threshold), self.gating,
            scale=scale, frame_hw=(height, width), hook=self.detect_hook, timer=timer, progress=progress,
        )  # fmt: skip
        while len(analysis.faces) < n_out:  # a video that decodes to fewer frames than its header promised
            analysis.faces.append([])
            analysis.cuts.append(False)
        energy = None
        if selector.auto and vinfo.has_audio and not vinfo.is_image:
            from emotalk.audio.load import load_audio

            own = wav if audio is None else load_audio(video, self.spec.sample_rate)
            energy = frame_energy(own, float(fps), n_out, self.spec.sample_rate)
        silent = None
        if silence == "keep":
            silent = np.array([mel.rms_db(i) < self.silence_db for i in range(n_out)])
        with timer.stage("plan"):
            plan = build_plan(analysis, selector, self.gating, float(fps), energy, silent, self.spec.box_smoothing)
        return plan, timer, any(analysis.faces)

    def _resume(self, work: Path, key: dict[str, Any]) -> list[SegmentStats]:
        """Finished segments of an earlier run with the same key (a contiguous prefix whose files exist)."""
        state_file = work / "state.json"
        done: list[SegmentStats] = []
        if state_file.is_file():
            try:
                state = json.loads(state_file.read_text())
            except (OSError, ValueError):
                state = {}
            if state.get("key") == key:
                for i, d in enumerate(state.get("segments", [])):
                    try:
                        stats = SegmentStats.from_dict(d)
                    except (KeyError, TypeError):
                        break
                    if stats.index != i or not part_path(work, i).is_file():
                        break
                    done.append(stats)
            else:
                log.info("%s holds another job's segments; starting afresh", work)
        if not done and work.exists():
            shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True, exist_ok=True)
        for p in work.glob("part_*.mp4"):  # segments after the resumable prefix are redone
            with contextlib.suppress(ValueError):
                if int(p.stem.split("_")[1]) >= len(done):
                    p.unlink()
        for p in work.glob(".*.tmp"):
            p.unlink(missing_ok=True)
        return done


def capture_calibration(
    checkpoint: str | Path, clips: list[Path] | list[str], frames: int = CALIBRATION_FRAMES
) -> list[dict[str, np.ndarray]]:
    """int8 calibration feeds: the generator's inputs while the fp32 torch model of `checkpoint` dubs `clips`
    (each in another emotion), at most `frames` (`infer.quantize.record_feeds`)."""
    from emotalk.infer.backends import input_names

    with Dubber(checkpoint, "cpu", batch_size=8) as dubber:
        return record_feeds(dubber, input_names(dubber.model.net), clips, frames)


def _totals(segments: list[SegmentStats]) -> dict[str, Any]:
    passed: dict[str, int] = {}
    runs: list[list[Any]] = []
    for s in segments:
        for k, v in s.passed.items():
            passed[k] = passed.get(k, 0) + v
        for r in s.runs:
            if runs and runs[-1][2] == r[2] and runs[-1][1] == r[0] - 1:
                runs[-1][1] = r[1]
            else:
                runs.append(list(r))
    return {
        "generated": sum(s.generated for s in segments),
        "with_face": sum(s.with_face for s in segments),
        "passed": passed,
        "runs": runs,
    }


def _passthrough_notes(totals: dict[str, Any], n_out: int) -> list[str]:
    notes = []
    n = totals["passed"].get(NO_FACE, 0)
    if n:
        notes.append(f"{n} of {n_out} frames had no face and were passed through unchanged")
    others = {k: v for k, v in totals["passed"].items() if k in FACE_REASONS and k != NO_FACE}
    if others:
        why = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(others.items()))
        notes.append(f"frames passed through by the face checks: {why}")
    return notes


__all__ = ["DubResult", "Dubber", "capture_calibration", "exact_fps", "summary_path_for", "work_dir_for"]
