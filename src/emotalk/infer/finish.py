"""The end of a dub: join the segments with the audio into the tagged MP4, build its `DubResult`, write the summary.

`infer.pipeline.Dubber` calls these once its segments are done; they only read what the dub produced (the checked
inputs, the face plan, the runner's figures and the work folder) and the generator it ran.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import emotalk
from emotalk.fsutil import write_json
from emotalk.infer.gating import FacePlan, GateSettings
from emotalk.infer.gating import summarize as gate_warnings
from emotalk.infer.inputs import DubInputs
from emotalk.infer.model import LoadedGenerator
from emotalk.infer.result import DubResult, frames_used, passthrough_notes, stage_times, summary_path_for
from emotalk.infer.stream import StreamRunner, Timer, part_path
from emotalk.infer.workdir import WorkFolder
from emotalk.spec import AVSpec
from emotalk.video.encode import even_size


def provenance_tags(job: DubInputs, checkpoint: Path, model: LoadedGenerator, generated: int) -> dict[str, str]:
    """The MP4's metadata that marks it synthetic and says what made it (always written, watermark or not)."""
    desc = job.schedule.describe()
    return {
        "comment": f"SYNTHETIC: AI-generated face (lip-sync and emotion) made with emotalk; emotion {desc}",
        "description": (
            f"Synthetic video made by emotalk {emotalk.__version__} (talking-face dubbing): the face of "
            f"{job.video.name} re-rendered to speak {job.audio_path.name} with emotion {desc}; generator "
            f"{checkpoint.name} ({model.source}); {generated} of {job.n_out} frames generated"
        ),
    }


def mux_output(job: DubInputs, work: WorkFolder, checkpoint: Path, model: LoadedGenerator, generated: int) -> float:
    """Join the segments with the audio into the MP4, with the provenance tags; returns its seconds."""
    from emotalk.video.encode import mux

    t0 = time.perf_counter()
    parts = [part_path(work.path, s.index) for s in work.segments()]
    mux(parts, job.audio_path, job.out, provenance_tags(job, checkpoint, model, generated))
    return time.perf_counter() - t0


def dub_result(
    job: DubInputs,
    plan: FacePlan,
    gate_timer: Timer,
    runner: StreamRunner | None,
    totals: dict[str, Any],
    t_mux: float,
    resumed: int,
    *,
    model: LoadedGenerator,
    checkpoint: Path,
    device: str,
    batch_size: int | None,
    segments: int,
    gating: GateSettings,
    spec: AVSpec,
) -> DubResult:
    """The `DubResult` of a finished dub (its wall time is set by the caller).

    `batch_size` is the tuner's choice; None (not chosen yet) falls back to the largest batch the runner used.
    """
    timings, cpu = stage_times(runner, gate_timer, job.audio_seconds_load, t_mux)
    used, repeated, trimmed = frames_used(job, runner, resumed)
    vinfo, fps, n_out = job.vinfo, job.fps, job.n_out
    chosen = batch_size or (max(runner.batch_sizes) if runner and runner.batch_sizes else None)
    return DubResult(
        output=job.out,
        summary_path=summary_path_for(job.out),
        frames=n_out,
        generated=totals["generated"],
        passed_through=totals["passed"],
        passthrough_ranges=totals["runs"],
        frames_with_face=totals["with_face"],
        fps=float(fps),
        fps_exact=f"{fps.numerator}/{fps.denominator}",
        width=even_size(job.width, job.height)[0],
        height=even_size(job.width, job.height)[1],
        input_size=[job.width, job.height],
        input_frames_used=used,
        repeated_last_frame=repeated,
        video_trimmed=trimmed,
        still_image=vinfo.is_image,
        audio_seconds=len(job.wav) / spec.sample_rate,
        video_seconds=vinfo.duration if not vinfo.is_image else None,
        output_seconds=n_out / float(fps),
        emotion=job.schedule.describe(),
        mask_mode=model.mask_mode,
        checkpoint=str(checkpoint),
        generator_source=model.source,
        device=device,
        batch_size=chosen,
        segments=segments,
        resumed_segments=resumed,
        timings={k: round(v, 4) for k, v in timings.items()},
        cpu_seconds={k: round(v, 4) for k, v in cpu.items()},
        warnings=job.warnings + plan.notes + passthrough_notes(totals, n_out),
        face_warning="; ".join(gate_warnings(plan, gating)),
        face_mode=plan.face_mode,
        shot_starts=plan.shot_starts,
        speakers=plan.speakers,
        gating=asdict(gating),
    )


def write_summary(result: DubResult) -> None:
    """Write `result` as JSON beside the output (``<out>.json``), stamped with the emotalk version that made it."""
    write_json(result.summary_path, {"emotalk": emotalk.__version__, **result.to_dict()}, default=str)
