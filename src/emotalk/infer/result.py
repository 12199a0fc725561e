"""What a dub reports: `DubResult` (also written as JSON beside the output) and the totals of its segments."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emotalk.infer.gating import FACE_REASONS, NO_FACE
from emotalk.infer.inputs import DubInputs
from emotalk.infer.stream import SegmentStats, StreamRunner, Timer


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


def summary_path_for(out: Path) -> Path:
    """Where the JSON summary of `out` goes: ``O.mp4`` → ``O.mp4.json``."""
    return out.with_name(out.name + ".json")


def segment_totals(segments: list[SegmentStats]) -> dict[str, Any]:
    """Frames generated, with a face and passed through (per reason, and as merged [first, last, reason] runs)."""
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


def passthrough_notes(totals: dict[str, Any], n_out: int) -> list[str]:
    """Warning lines for frames passed through without a face or by the face checks."""
    notes = []
    n = totals["passed"].get(NO_FACE, 0)
    if n:
        notes.append(f"{n} of {n_out} frames had no face and were passed through unchanged")
    others = {k: v for k, v in totals["passed"].items() if k in FACE_REASONS and k != NO_FACE}
    if others:
        why = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(others.items()))
        notes.append(f"frames passed through by the face checks: {why}")
    return notes


def stage_times(
    runner: StreamRunner | None, gate_timer: Timer, t_audio: float, t_mux: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Wall and CPU seconds per stage: the stream's, the analysis pass's (``gate_*``), audio decoding and mux."""
    timings = dict(runner.timer.seconds) if runner else {}
    cpu = dict(runner.timer.cpu) if runner else {}
    for k, v in gate_timer.seconds.items():
        timings[f"gate_{k}"] = v
    for k, v in gate_timer.cpu.items():
        cpu[f"gate_{k}"] = v
    timings["audio"] = t_audio
    timings["mux"] = t_mux
    return timings, cpu


def frames_used(job: DubInputs, runner: StreamRunner | None, resumed: int) -> tuple[int, int, bool]:
    """(distinct input frames shown, output frames repeating the last one, whether the video's end was cut)."""
    vinfo, fps, n_out = job.vinfo, job.fps, job.n_out
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
    return used, repeated, bool(trimmed)


__all__ = ["DubResult", "frames_used", "passthrough_notes", "segment_totals", "stage_times", "summary_path_for"]
