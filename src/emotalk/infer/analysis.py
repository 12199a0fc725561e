"""The analysis pass of a dub (`infer.gating`): every output frame's box or reason, before anything is generated.

It decodes the video at ≤ 640 px by the stream's length rules, detects and tracks faces (with landmarks and pose
when the gating asks), finds the cuts, and builds the `FacePlan` (the speaking face from the video's own audio,
silent frames under ``silence="keep"``). Also the mediapipe models, built with their C++ chatter silenced.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from emotalk.infer.audio import MelSource
from emotalk.infer.gating import FacePlan, GateSettings, analyze, build_plan, frame_energy
from emotalk.infer.stream import FaceSelector, Timer
from emotalk.spec import AVSpec


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
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


def quiet_detector(min_confidence: float, max_side: int) -> Any:
    """A FaceDetector, its start-up chatter on stderr silenced (its first call logs too, so it is made here)."""
    from emotalk.video.faces import FaceDetector

    with quiet_stderr():
        det = FaceDetector(min_confidence=min_confidence, max_side=max_side)
        det.detect(np.zeros((64, 64, 3), np.uint8))
    return det


def quiet_mesh() -> Any:
    """A FaceMesh for the landmark, pose and speaker checks, built quietly."""
    from emotalk.video.faces import FaceMesh

    with quiet_stderr():
        mesh = FaceMesh()
        mesh.landmarks(np.zeros((64, 64, 3), np.uint8), np.array([8.0, 8.0, 56.0, 56.0]))
    return mesh


def length_rule_frames(reader: Any, n_out: int, timer: Timer) -> Iterator[tuple[np.ndarray, bool]]:
    """The stream's length rules: (frame, is new) while the video lasts, then its last frame again, `n_out` in all."""
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


def analysis_pass(
    video: Path,
    vinfo: Any,
    audio: str | Path | None,
    wav: np.ndarray,
    fps: Fraction,
    n_out: int,
    selector: FaceSelector,
    silence: str,
    mel: MelSource,
    *,
    detector: Any,
    mesh: Any,
    gating: GateSettings,
    spec: AVSpec,
    silence_db: float,
    hook: Callable[[int, list[Any]], list[Any]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[FacePlan, Timer, bool]:
    """(every frame's box or reason, the pass's stage timer, whether any frame had a face).

    Args:
        audio: the driving audio as given (None: the video's own, which is `wav`); `--face auto` follows the
            energy of the video's own audio.
        mesh: a FaceMesh when `gating.landmarks`, else None.
        hook: `hook(frame index, boxes) -> boxes` on every frame's detections (tests inject false ones).
    """
    from emotalk.video.decode import VideoReader
    from emotalk.video.shots import ShotDetector

    timer = Timer()
    reader = VideoReader(video, fps=25.0 if vinfo.is_image else None, max_side=640, info=vinfo)
    width, height = vinfo.size
    scale = (width / reader.width, height / reader.height)
    analysis = analyze(
        length_rule_frames(reader, n_out, timer), n_out, detector, mesh, ShotDetector(gating.cut_threshold), gating,
        scale=scale, frame_hw=(height, width), hook=hook, timer=timer, progress=progress,
    )  # fmt: skip
    while len(analysis.faces) < n_out:  # a video that decodes to fewer frames than its header promised
        analysis.faces.append([])
        analysis.cuts.append(False)
    energy = None
    if selector.auto and vinfo.has_audio and not vinfo.is_image:
        from emotalk.audio.load import load_audio

        own = wav if audio is None else load_audio(video, spec.sample_rate)
        energy = frame_energy(own, float(fps), n_out, spec.sample_rate)
    silent = None
    if silence == "keep":
        silent = np.array([mel.rms_db(i) < silence_db for i in range(n_out)])
    with timer.stage("plan"):
        plan = build_plan(analysis, selector, gating, float(fps), energy, silent, spec.box_smoothing)
    return plan, timer, any(analysis.faces)


__all__ = ["analysis_pass", "length_rule_frames", "quiet_detector", "quiet_mesh", "quiet_stderr"]
