"""One clip of `emotalk preprocess` (data/preprocess.py), in a worker process: probe → audio → decode + face track →
checks → mel → `write_clip`. Never raises for bad input: `process_clip` returns a `ClipResult` that says why.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotalk.data.clips import CLIPS_DIR, ClipMeta, write_clip
from emotalk.data.listing import SourceClip
from emotalk.errors import EmotalkError, MediaDecodeError
from emotalk.spec import DEFAULT_SPEC, AVSpec
from emotalk.video.track import FaceTrack

log = logging.getLogger(__name__)

#: Phrases in ffmpeg's error output that mean the file ends before its container says it does.
TRUNCATION_MARKERS: tuple[str, ...] = (
    "partial file",
    "moov atom not found",
    "truncat",
    "premature end",
    "unexpected end of file",
)
STAGES: tuple[str, ...] = ("probe", "audio", "decode", "detect", "crop", "mel", "write")


@dataclass(frozen=True)
class PreprocessOptions:
    """What a worker needs to process one clip (picklable)."""

    spec: AVSpec = DEFAULT_SPEC
    min_face_fraction: float = 0.5  # a clip with faces in fewer of its frames fails (`few_faces`)
    max_gap: int = 2  # interpolate boxes over at most this many missed frames between two detections; 0: never
    decode_max_side: int | None = 1280  # ffmpeg downscales larger frames before they reach Python
    detect_max_side: int = 320  # FaceDetector downscale before mediapipe (which works at 128-192 px)
    min_confidence: float = 0.5
    duration_tolerance_s: float = 0.5  # truncation check: allowed shortfall, the larger of this and
    duration_tolerance_frac: float = 0.10  # this fraction of the container's duration


class ClipFailure(EmotalkError):
    """One clip cannot be preprocessed; `kind` is a short category for the failure report."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass
class ClipResult:
    clip_id: str
    source: str
    ok: bool
    n_frames: int = 0
    n_noface: int = 0
    kind: str | None = None
    reason: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


_WORKER: dict[str, Any] = {}


def init_worker(opts: PreprocessOptions | None = None) -> None:
    """Process-pool initializer: one thread per worker for every library (the pool is the parallelism), then
    the imports and the FaceDetector that every clip needs, so that the per-clip timings measure clips."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's start-up chatter
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    warm_up(opts or PreprocessOptions())


def warm_up(opts: PreprocessOptions) -> None:
    """Import torch's mel code and build the FaceDetector now, so the first clip's timings measure the clip."""
    import emotalk.audio.mel  # torch  # noqa: F401

    _detector(opts)


def _detector(opts: PreprocessOptions) -> Any:
    """This process's FaceDetector (built once, reused for every clip)."""
    key = (opts.min_confidence, opts.detect_max_side)
    if _WORKER.get("key") != key:
        from emotalk.video.faces import FaceDetector

        if "detector" in _WORKER:
            _WORKER["detector"].close()
        _WORKER["detector"] = FaceDetector(min_confidence=opts.min_confidence, max_side=opts.detect_max_side)
        _WORKER["key"] = key
    return _WORKER["detector"]


def _is_truncated(seconds: float, duration: float | None, opts: PreprocessOptions) -> bool:
    if not duration:
        return False
    return seconds < duration - max(opts.duration_tolerance_s, opts.duration_tolerance_frac * duration)


def process_clip(src: SourceClip, out: Path | str, opts: PreprocessOptions = PreprocessOptions()) -> ClipResult:
    """Preprocess one clip into `out/clips/<clip_id>`; never raises for bad input (the result says why)."""
    t: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    try:
        n, n_noface = _process(src, Path(out), opts, t)
        return ClipResult(src.clip_id, str(src.path), True, n, n_noface, seconds=t)
    except ClipFailure as exc:
        return ClipResult(src.clip_id, str(src.path), False, kind=exc.kind, reason=str(exc), seconds=t)
    except MediaDecodeError as exc:
        return ClipResult(src.clip_id, str(src.path), False, kind="corrupt", reason=str(exc), seconds=t)
    except Exception as exc:  # a bug or an unforeseen file: report it with the clip and go on with the others
        log.exception("unexpected error on %s", src.path)
        reason = f"unexpected {type(exc).__name__} on {src.path}: {exc}"
        return ClipResult(src.clip_id, str(src.path), False, kind="error", reason=reason, seconds=t)


class _Laps:
    """Seconds per stage, each lap charged to the stage that just ended."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds
        self.clock = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] += now - self.clock
        self.clock = now


@dataclass
class _Decoded:
    """What one pass of ffmpeg over a clip gave: the face track, the audio and how it was read."""

    info: Any  # ffmpeg.MediaInfo
    reader: Any  # video.decode.VideoReader, finished
    track: FaceTrack
    wav: np.ndarray
    audio_source: str  # "video" (its own track) or "AudioWAV"
    audio_path: Path


def _process(src: SourceClip, out: Path, opts: PreprocessOptions, t: dict[str, float]) -> tuple[int, int]:
    """Steps 1-6 of the module docstring for one clip; returns (frames, frames without a face)."""
    from emotalk.audio.load import write_wav
    from emotalk.audio.mel import melspectrogram

    lap = _Laps(t)
    info = _probe(src.path)
    lap("probe")
    d = _decode(src, out, info, opts, lap)
    has_face = _check(src.path, d, opts)
    n, n_face = len(has_face), int(has_face.sum())
    mel = melspectrogram(d.wav, opts.spec)
    lap("mel")
    sx, sy = info.size[0] / d.reader.width, info.size[1] / d.reader.height
    boxes = np.stack(d.track.boxes).astype(np.float64) * np.array([sx, sy, sx, sy])
    write_clip(
        out,
        _clip_meta(src, d, opts, n_face),
        np.stack(d.track.faces),
        has_face,
        boxes.astype(np.float32),
        mel,
        lambda p: write_wav(p, d.wav, opts.spec.sample_rate),
    )
    lap("write")
    return n, n - n_face


def _probe(path: Path) -> Any:
    """Step 1: the file's `MediaInfo`, or the failure of a missing, empty, unreadable or video-less file."""
    from emotalk.ffmpeg import probe

    if not path.is_file():
        raise ClipFailure("missing", f"{path} does not exist")
    if path.stat().st_size == 0:
        raise ClipFailure("empty", f"{path} is an empty file (0 bytes)")
    try:
        info = probe(path)
    except MediaDecodeError as exc:
        raise ClipFailure("unreadable", str(exc)) from None
    if not info.has_video:
        raise ClipFailure("no_video", f"{path} has no video stream ({info.audio_codec or 'no'} audio only)")
    if info.is_image:
        raise ClipFailure("no_video", f"{path} is a still image, not a video")
    return info


def _decode(src: SourceClip, out: Path, info: Any, opts: PreprocessOptions, lap: _Laps) -> _Decoded:
    """Steps 2-4: the audio, and every frame's face through the tracker, in one ffmpeg pass."""
    from emotalk.audio.load import load_audio
    from emotalk.video.decode import VideoReader

    spec, path = opts.spec, src.path
    # the video's own audio track is decoded by the same ffmpeg pass as the frames (as load_audio would:
    # first audio stream, downmixed to mono, resampled to spec.sample_rate, float32); else CREMA-D's AudioWAV
    if info.has_audio:
        audio_source, audio_path = "video", path
    elif src.audio_fallback is not None:
        audio_source, audio_path = "AudioWAV", src.audio_fallback
        wav = load_audio(src.audio_fallback, spec.sample_rate)
    else:
        hint = " and no AudioWAV/<stem>.wav beside it" if src.dataset == "crema_d" else ""
        raise ClipFailure("no_audio", f"{path} has no audio track{hint}")
    lap("audio")

    detector = _detector(opts)
    track = FaceTrack(spec, opts.max_gap)
    # the audio goes to a temporary folder beside the clips, so a killed run's leftovers are cleaned by the next
    (out / CLIPS_DIR).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{src.clip_id}.tmp-audio-", dir=out / CLIPS_DIR) as tmp:
        audio_file = Path(tmp) / "audio.f32"
        extra = ["-map", "0:a:0", "-ac", "1", "-ar", str(spec.sample_rate), "-f", "f32le", str(audio_file)]
        reader = VideoReader(
            path, fps=spec.fps, max_side=opts.decode_max_side, info=info, extra_output=extra if info.has_audio else None
        )
        lap("probe")
        for frame in reader:
            lap("decode")
            faces = detector.detect(frame)
            lap("detect")
            track.push(frame, faces[0].as_array() if faces else None)
            lap("crop")
        lap("decode")
        if info.has_audio:
            wav = np.fromfile(audio_file, dtype="<f4") if audio_file.is_file() else np.zeros(0, np.float32)
            if wav.size == 0:
                raise ClipFailure("no_audio", f"{path} has an audio track with no samples")
            if not np.isfinite(wav).all():
                raise ClipFailure("bad_audio", f"{path} contains NaN or infinite audio samples")
    lap("audio")
    track.finish()
    lap("crop")
    return _Decoded(info, reader, track, wav, audio_source, audio_path)


def _check(path: Path, d: _Decoded, opts: PreprocessOptions) -> np.ndarray:
    """Step 5: refuse a truncated clip and one with too few faces; returns has_face [N] bool."""
    from emotalk.ffmpeg import last_error_line

    spec, info = opts.spec, d.info
    n = len(d.track.faces)
    video_seconds = n / spec.fps
    audio_seconds = len(d.wav) / spec.sample_rate
    err = d.reader.stderr.lower()
    if any(m in err for m in TRUNCATION_MARKERS):
        raise ClipFailure(
            "truncated", f"{path} is truncated: ffmpeg says {last_error_line(d.reader.stderr.encode())!r} ({n} frames)"
        )
    if _is_truncated(video_seconds, info.duration, opts):
        raise ClipFailure(
            "truncated",
            f"{path} is truncated or damaged: decoded {video_seconds:.2f} s of video ({n} frames at {spec.fps:g} fps) "
            f"but the container says {info.duration:.2f} s",
        )
    if d.audio_source == "video" and _is_truncated(audio_seconds, info.duration, opts):
        raise ClipFailure(
            "truncated",
            f"{path} is truncated or damaged: its audio track ends at {audio_seconds:.2f} s "
            f"but the container says {info.duration:.2f} s",
        )
    has_face = np.array(d.track.has_face, dtype=bool)
    n_face = int(has_face.sum())
    if n_face == 0:
        raise ClipFailure("no_face", f"no face found in any of the {n} frames of {path}")
    if n_face < opts.min_face_fraction * n:
        raise ClipFailure(
            "few_faces",
            f"a face was found in only {n_face} of {n} frames ({n_face / n:.0%}) of {path}; "
            f"the minimum is {opts.min_face_fraction:.0%} (--min-face-fraction)",
        )
    return has_face


def _clip_meta(src: SourceClip, d: _Decoded, opts: PreprocessOptions, n_face: int) -> ClipMeta:
    """Step 6's meta.json: the labels, the source's properties and how the crops were made."""
    spec, info, n = opts.spec, d.info, len(d.track.faces)
    return ClipMeta(
        clip_id=src.clip_id,
        dataset=src.dataset,
        actor=src.actor,
        source=str(src.path),
        n_frames=n,
        n_noface=n - n_face,
        fps=spec.fps,
        sentence=src.sentence,
        emotion=src.emotion,
        level=src.level,
        split=src.split,
        width=info.width,
        height=info.height,
        extra={
            "audio_source": d.audio_source,
            "audio_path": str(d.audio_path),
            "audio_seconds": round(len(d.wav) / spec.sample_rate, 4),
            "duration": info.duration,
            "src_fps": info.fps,
            "video_codec": info.video_codec,
            "audio_codec": info.audio_codec,
            "decode_size": [d.reader.width, d.reader.height],
            "n_detected": d.track.n_detected,
            "max_gap": opts.max_gap,
            "filled_frames": d.track.filled,
            "box_smoothing": spec.box_smoothing,
            "face_pads": list(spec.face_pads),
            "boxes": "padded crop box x1,y1,x2,y2 in source pixels",
            "decode_warnings": [ln.strip() for ln in d.reader.stderr.splitlines() if ln.strip()][:5],
            "key": src.key,
            **src.extra,
        },
    )
