"""The audio-visual constants of the paper in one frozen place.

Every checkpoint stores the `AVSpec` it was trained with, and inference refuses a mismatch
(as nanoGPT checks `model_args`), instead of the reference's global `hparams` bag.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

#: Class order of every label tensor and every published checkpoint (CREMA-D codes sorted alphabetically).
EMOTIONS: tuple[str, ...] = ("angry", "disgusted", "fearful", "happy", "neutral", "sad")
NEUTRAL: int = EMOTIONS.index("neutral")

#: Intensity levels (CREMA-D: XX unspecified, then LO/MD/HI), in the reference's index order.
LEVELS: tuple[str, ...] = ("unspecified", "low", "medium", "high")


@dataclass(frozen=True)
class AVSpec:
    """Audio front end (mission.md §2) and sample geometry (§3).

    >>> AVSpec().mel_fps, AVSpec().mel_per_frame
    (80.0, 3.2)
    """

    sample_rate: int = 16000
    n_fft: int = 800
    hop_length: int = 200
    win_length: int = 800
    n_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    preemphasis: float = 0.97
    ref_level_db: float = 20.0
    min_level_db: float = -100.0
    max_abs_value: float = 4.0
    fps: float = 25.0
    img_size: int = 96
    T: int = 5
    mel_step: int = 16
    channel_order: str = "bgr"  # the reference and its published weights use OpenCV's BGR, [0, 1]
    # Audio window of frame k starts at frame k + audio_offset_frames. 0 = the reference's inference convention;
    # -1 = its training convention (a known mismatch, reference-code.md Q3). One value serves both here.
    audio_offset_frames: int = 0
    # Face box padding (top, bottom, left, right) as fractions of the detected box's height/width, the same in
    # preprocessing and inference (the reference pads 10 px at inference only, reference-code.md Q10).
    face_pads: tuple[float, float, float, float] = (0.05, 0.10, 0.05, 0.05)
    # Centred temporal smoothing of face boxes, in frames (the reference's window looks forward only, Q11).
    box_smoothing: int = 5

    @property
    def mel_fps(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def mel_per_frame(self) -> float:
        return self.mel_fps / self.fps

    @property
    def samples_per_frame(self) -> float:
        return self.sample_rate / self.fps

    def mel_start(self, frame: int, fps: float | None = None) -> int:
        """First mel column of the audio window of `frame` (reference: int(i·80/fps))."""
        fps = self.fps if fps is None else fps
        return int((frame + self.audio_offset_frames) * self.mel_fps / fps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AVSpec:
        known = {f.name for f in fields(cls)}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known}
        return cls(**kw)


DEFAULT_SPEC = AVSpec()
