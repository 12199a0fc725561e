"""Uploads of the web API: a streaming multipart reader with a size cap, and content checks of the media.

The body is parsed as it arrives (python-multipart's streaming parser) and file parts go straight to files in the
job's folder under names the server chooses (``video.upload``, ``audio.upload``): the client's file name is kept
only as text for messages, never used for a path. The byte count is checked on every chunk, so an oversized upload
is refused (413) as soon as it passes the limit (and at once when its Content-Length says so), never read whole.

Media checks probe the content with ffmpeg (`emotalk.ffmpeg.probe`), not the name: something that is not media is
415; media that cannot serve (audio given as the video, no sound and no audio file) is 422; too long or too large
a picture is 413. Browser recordings (MediaRecorder WebM) whose frame rate or duration cannot be read are converted
to constant-rate 25 fps H.264 (audio to 16 kHz WAV) before the checks, with argument-list ffmpeg calls only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from emotalk.errors import ConfigError, EmotalkError, InputTooLargeError, MediaDecodeError
from emotalk.ffmpeg import MediaInfo, probe, run_ffmpeg
from emotalk.spec import EMOTIONS

FILE_FIELDS = ("video", "audio")
TEXT_FIELDS = ("emotion", "strength", "timeline", "face", "watermark")
MAX_FIELD_BYTES = 4096
MAX_PARTS = 16
#: Frame rate given to recordings whose own rate cannot be read.
RECORDING_FPS = 25


class UnsupportedMediaError(MediaDecodeError):
    """The content is not a video, image or audio file (HTTP 415)."""


class BadUploadError(ConfigError):
    """A malformed or incomplete form (HTTP 422; a body that is not multipart at all is 415)."""


@dataclass(frozen=True)
class Limits:
    """Caps on what a job may upload."""

    max_upload_bytes: int = 200 * 1024 * 1024
    max_duration_s: float = 60.0
    max_side: int = 1920

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_upload_mb": round(self.max_upload_bytes / 1024 / 1024, 3),
            "max_duration_s": self.max_duration_s,
            "max_side": self.max_side,
        }


@dataclass
class UploadedFile:
    field: str
    path: Path
    name: str  # the client's file name, cleaned, for messages only
    size: int = 0
    content_type: str = ""


@dataclass
class Upload:
    files: dict[str, UploadedFile] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    bytes_read: int = 0


def display_name(raw: str) -> str:
    """A client's file name made safe to show: the last path component, printable, at most 80 characters."""
    name = re.split(r"[\\/]", raw or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in "\"'<>`")
    return name.strip()[:80]


def too_large(total: int, limit: int) -> InputTooLargeError:
    return InputTooLargeError(
        f"the upload is larger than the {limit / 1024 / 1024:g} MB allowed ({total / 1024 / 1024:.1f} MB or more); "
        "send a shorter or smaller video"
    )


class _Reader:
    """The callbacks of python-multipart's parser: text fields in memory (capped), files straight to disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.upload = Upload()
        self.parts = 0
        self._headers: dict[bytes, bytes] = {}
        self._hname = self._hvalue = b""
        self._field: str | None = None
        self._file: IO[bytes] | None = None
        self._current: UploadedFile | None = None
        self._text = bytearray()

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadUploadError(f"too many form parts (more than {MAX_PARTS})")
        self._headers, self._field, self._file, self._current = {}, None, None, None
        self._text = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._hname.strip().lower()] = self._hvalue.strip()
        self._hname = self._hvalue = b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        is_file = b"filename" in opts
        if is_file:
            if name not in FILE_FIELDS:
                raise BadUploadError(f"unexpected file field {name[:40]!r}: send the files as 'video' and 'audio'")
            if name in self.upload.files:
                raise BadUploadError(f"the form has more than one '{name}' file")
            path = self.folder / f"{name}.upload"
            self._file = open(path, "wb")  # noqa: SIM115 - closed in on_part_end or close()
            self._current = UploadedFile(
                field=name,
                path=path,
                name=display_name(opts[b"filename"].decode("utf-8", "replace")),
                content_type=self._headers.get(b"content-type", b"").decode("latin-1")[:100],
            )
        elif name in FILE_FIELDS:
            raise BadUploadError(f"'{name}' must be a file upload (multipart part with a filename)")
        elif name not in TEXT_FIELDS:
            expected = ", ".join((*FILE_FIELDS, *TEXT_FIELDS))
            raise BadUploadError(f"unknown form field {name[:40]!r}; expected: {expected}")
        elif name in self.upload.fields:
            raise BadUploadError(f"the form has more than one '{name}' field")
        self._field = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
            assert self._current is not None
            self._current.size += end - start
        else:
            self._text += data[start:end]
            if len(self._text) > MAX_FIELD_BYTES:
                raise BadUploadError(f"the form field '{self._field}' is longer than {MAX_FIELD_BYTES} bytes")

    def on_part_end(self) -> None:
        if self._file is not None and self._current is not None:
            self._file.close()
            self._file = None
            f = self._current
            if f.size == 0 and not f.name:  # an empty file input: nothing chosen
                f.path.unlink(missing_ok=True)
            else:
                self.upload.files[f.field] = f
        elif self._field is not None:
            self.upload.fields[self._field] = self._text.decode("utf-8", "replace")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def read_upload(request: Request, folder: Path, max_bytes: int) -> Upload:
    """Stream a multipart/form-data body into `folder`, refusing it once it passes `max_bytes`."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        raise UnsupportedMediaError("send the job as a multipart/form-data form (fields video, audio, emotion, ...)")
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadUploadError("the multipart form has no boundary")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise too_large(int(length), max_bytes)
    reader = _Reader(folder)
    callbacks: Any = {k: getattr(reader, k) for k in dir(reader) if k.startswith("on_")}
    parser = MultipartParser(boundary, callbacks)
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_bytes:
                raise too_large(total, max_bytes)
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise BadUploadError(f"the multipart form could not be read: {exc}") from None
    finally:
        reader.close()
    reader.upload.bytes_read = total
    return reader.upload


# ---------------------------------------------------------------------------------------------------- options


def parse_options(fields: dict[str, str]) -> dict[str, Any]:
    """Emotion, strength, timeline, face and watermark from the form, checked as the Dubber would check them."""
    from emotalk.cremad import emotion_index
    from emotalk.infer.emotion import EmotionSchedule, check_strength
    from emotalk.infer.stream import FaceSelector

    emotion = (fields.get("emotion") or "neutral").strip()
    raw = (fields.get("strength") or "1").strip()
    try:
        strength = float(raw)
    except ValueError:
        raise BadUploadError(f"strength must be a number between 0 and 1, got {raw[:20]!r}") from None
    timeline = (fields.get("timeline") or "").strip() or None
    face = (fields.get("face") or "").strip() or None
    try:
        check_strength(strength, "strength")
        schedule = EmotionSchedule(25.0, emotion, strength, timeline)  # raises on a bad emotion or timeline
        FaceSelector(int(face) if face and face.isdigit() else face)
    except EmotalkError as exc:  # the same checks as the CLI's, worded for a form instead of flags
        raise type(exc)(re.sub(r"--(?=[a-z])", "", str(exc))) from None
    wm = (fields.get("watermark") or "true").strip().lower()
    if wm not in ("true", "false", "1", "0", "on", "off", "yes", "no"):
        raise BadUploadError(f"watermark must be true or false, got {wm[:20]!r}")
    return {
        "emotion": EMOTIONS[emotion_index(emotion)],
        "strength": strength,
        "timeline": timeline,
        "face": face,
        "watermark": wm in ("true", "1", "on", "yes"),
        "description": schedule.describe(),
    }


# ---------------------------------------------------------------------------------------------------- media checks


def _probe(f: UploadedFile, role: str) -> MediaInfo:
    if f.size == 0:
        raise BadUploadError(f"the {role} file ({f.name or 'no name'}) is empty")
    try:
        return probe(f.path)
    except MediaDecodeError as exc:
        reason = str(exc).replace(str(f.path), "").strip(" :")
        raise UnsupportedMediaError(
            f"the {role} file ({f.name or 'no name'}) is not a video, photo or audio file that can be read"
            f"{f' ({reason})' if reason else ''}; choose another file"
        ) from None


def _convert(f: UploadedFile, role: str, audio_only: bool, limits: Limits) -> MediaInfo:
    """Re-encode a recording whose frame rate or duration is unreadable (bounded to just over the duration cap)."""
    src = f.path
    dst = src.with_name(f"{f.field}.converted.{'wav' if audio_only else 'mp4'}")
    cap = ["-t", f"{limits.max_duration_s + 1:g}"]
    if audio_only:
        args = ["-y", "-i", str(src), *cap, "-vn", "-ac", "1", "-ar", "16000", str(dst)]
    else:
        args = [
            "-y", "-i", str(src), *cap, "-map", "0:v:0", "-map", "0:a:0?",
            "-vf", f"fps={RECORDING_FPS},scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:v", "libx264", "-preset",
            "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", str(dst),
        ]  # fmt: skip
    try:
        run_ffmpeg(args, path=f.name)
    except MediaDecodeError as exc:
        raise UnsupportedMediaError(f"the {role} file ({f.name}) could not be decoded: {exc}") from None
    src.unlink(missing_ok=True)
    f.path = dst
    return probe(dst)


def _check_duration(info: MediaInfo, f: UploadedFile, role: str, limits: Limits) -> None:
    if info.duration is not None and info.duration > limits.max_duration_s + 0.05:
        raise InputTooLargeError(
            f"the {role} file ({f.name}) lasts {info.duration:.1f} s; at most {limits.max_duration_s:g} s is allowed "
            "here: cut it shorter"
        )


def check_media(upload: Upload, limits: Limits) -> dict[str, Any]:
    """Probe the uploaded files by content and apply the limits; return the job's `inputs` record."""
    video = upload.files.get("video")
    if video is None:
        raise BadUploadError("no video: choose or record a video (or a photo) of a face")
    vinfo = _probe(video, "video")
    if not vinfo.has_video:
        raise MediaDecodeError(
            f"the video file ({video.name}) has no picture (it looks like an audio file): choose a video or a photo "
            "of a face as the video, and give the speech as the audio"
        )
    converted = []
    if not vinfo.is_image and (vinfo.fps is None or vinfo.duration is None):
        vinfo = _convert(video, "video", False, limits)
        converted.append("video")
    w, h = vinfo.size
    if max(w, h) > limits.max_side:
        raise InputTooLargeError(
            f"the video file ({video.name}) is {w}x{h}; the largest side allowed here is {limits.max_side} px: "
            "scale it down"
        )
    if not vinfo.is_image:
        _check_duration(vinfo, video, "video", limits)
    audio = upload.files.get("audio")
    ainfo = None
    if audio is not None:
        ainfo = _probe(audio, "audio")
        if not ainfo.has_audio:
            raise MediaDecodeError(
                f"the audio file ({audio.name}) has no sound track: choose or record an audio file with speech"
            )
        if ainfo.duration is None:
            ainfo = _convert(audio, "audio", True, limits)
            converted.append("audio")
        _check_duration(ainfo, audio, "audio", limits)
    elif not vinfo.has_audio:
        what = "photo" if vinfo.is_image else "video"
        raise MediaDecodeError(
            f"the {what} ({video.name}) has no sound of its own: choose or record an audio file with the speech"
        )
    inputs: dict[str, Any] = {
        "video": {
            "file": video.path.name,
            "name": video.name,
            "bytes": video.size,
            "kind": "photo" if vinfo.is_image else "video",
            "width": w,
            "height": h,
            "fps": vinfo.fps if not vinfo.is_image else None,
            "seconds": vinfo.duration if not vinfo.is_image else None,
            "has_audio": vinfo.has_audio,
            "converted": "video" in converted,
        },
        "audio": None,
    }
    if audio is not None and ainfo is not None:
        inputs["audio"] = {
            "file": audio.path.name,
            "name": audio.name,
            "bytes": audio.size,
            "seconds": ainfo.duration,
            "converted": "audio" in converted,
        }
    return inputs


__all__ = [
    "BadUploadError",
    "Limits",
    "UnsupportedMediaError",
    "Upload",
    "check_media",
    "parse_options",
    "read_upload",
]
