"""The face gating's vocabulary (gating.py): why a frame passes through, the thresholds, and the records the
analysis pass and the plan hand on (a frame's faces, the whole video's analysis, the plan per frame)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emotalk.video.faces import Box, MeshGeometry

NO_FACE = "no_face"
LOW_CONFIDENCE = "low_confidence"
SMALL_FACE = "small_face"
LANDMARKS = "landmarks"
POSE = "pose"
TRANSIENT = "transient"
OFF_SCREEN = "off_screen_speaker"
SILENCE = "silence"
#: Reasons that come from the faces (not from the audio): what the pass-through warning counts.
FACE_REASONS = (NO_FACE, LOW_CONFIDENCE, SMALL_FACE, LANDMARKS, POSE, TRANSIENT, OFF_SCREEN)


@dataclass(frozen=True)
class GateSettings:
    """Thresholds of the face gating (CLI flags ``--min-face-confidence`` … and `Dubber` options).

    Defaults: mediapipe scores real frontal faces 0.85-0.97 and falls to 0.6-0.75 for squeezed or partly hidden
    ones; the mesh estimates the pose of the real clips in shared/media at |yaw| ≤ 17°, |pitch| ≤ 14°.
    """

    min_confidence: float = 0.6
    min_face: int = 40  # pixels, shorter side of the detection box in the input frame
    landmarks: bool = True  # run the face mesh (landmark, pose and speaker checks); False: detection only
    max_yaw: float = 35.0
    max_pitch: float = 30.0
    max_roll: float = 30.0  # in-plane tilt (an upside-down face is 180)
    mesh_every: int = 2  # frames between mesh runs within a shot (the first frame of a shot always runs)
    max_faces: int = 4  # largest faces per frame given to the mesh
    min_run: int = 3  # a face must be accepted on this many frames of a run to be dubbed
    max_gap: int = 2  # missed frames interpolated inside a run (as preprocessing)
    fade: float = 0.16  # seconds of alpha ramp at the edges of a dubbed stretch inside a shot
    cut_threshold: float = 0.15  # histogram distance of a shot cut (video.shots)
    speaker_window: float = 3.0  # seconds per speaker decision within a shot
    min_mouth_std: float = 0.01  # mouth-opening std below which a face is not speaking
    warn_share: float = 0.3  # warn when more than this share of frames passes through for face reasons

    def key(self) -> list[Any]:
        return [getattr(self, f) for f in self.__dataclass_fields__]


@dataclass
class Face:
    """One detection in one frame, in input-frame pixels, with its mesh verdict when the mesh ran on it."""

    box: np.ndarray  # x1, y1, x2, y2
    score: float
    geom: MeshGeometry | None = None
    meshed: bool = False
    track: int = -1

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))

    def as_box(self) -> Box:
        return Box(*(float(v) for v in self.box[:4]), score=self.score)


@dataclass
class Analysis:
    """Per output frame: its faces (largest first) and whether it starts a shot."""

    faces: list[list[Face]]
    cuts: list[bool]
    frame_hw: tuple[int, int]

    @property
    def shot_starts(self) -> list[int]:
        return [i for i, c in enumerate(self.cuts) if c]


@dataclass
class FacePlan:
    """What the stream does with each output frame (`build_plan`)."""

    boxes: np.ndarray  # [N, 4] smoothed face boxes (before `pad_box`), NaN where the frame passes through
    reasons: list[str | None]
    weights: np.ndarray  # [N] alpha of the generated face (1, or less on a fade)
    shot_starts: list[int]
    face_mode: str
    notes: list[str] = field(default_factory=list)
    speakers: list[list[Any]] = field(default_factory=list)  # [first, last, track or None, verdict] per window
    landmark_doubts: int = 0  # frames whose chosen face failed the landmark check
    tracks: int = 0  # distinct face tracks seen
    faces_per_frame: list[int] = field(default_factory=list)  # detections per frame (before any check)
    timer: Any = None  # the analysis pass's stage timings (infer.stream.Timer), when `Dubber.plan` made it
