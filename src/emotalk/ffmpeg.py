"""The project's own ffmpeg (imageio-ffmpeg's static build: libx264, AAC), probing and argument-list calls.

Every call passes an argument list (never a shell string), so file names cannot inject anything.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from emotalk.errors import MediaDecodeError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped by imageio-ffmpeg (no system ffmpeg needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: list[str], *, path: Path | str | None = None, input: bytes | None = None) -> bytes:
    """Run ffmpeg with `args`; raise `MediaDecodeError` naming `path` and ffmpeg's last error line on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
    proc = subprocess.run(cmd, input=input, capture_output=True, check=False)
    if proc.returncode != 0:
        raise MediaDecodeError(f"ffmpeg failed on {path or 'input'}: {last_error_line(proc.stderr)}")
    return proc.stdout


def last_error_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"


@dataclass(frozen=True)
class MediaInfo:
    """What `probe` learns from ffmpeg's stream listing."""

    path: Path
    width: int | None
    height: int | None
    fps: float | None
    duration: float | None
    has_video: bool
    has_audio: bool
    video_codec: str | None
    audio_codec: str | None
    is_image: bool

    @property
    def size(self) -> tuple[int, int]:
        if self.width is None or self.height is None:
            raise MediaDecodeError(f"{self.path} has no video stream")
        return self.width, self.height


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: (\w+)")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")


def probe(path: Path | str) -> MediaInfo:
    """Inspect a media file by its content (not its name) with ffmpeg.

    Raises:
        MediaDecodeError: missing file, or content ffmpeg cannot read.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaDecodeError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise MediaDecodeError(f"{path} is empty (0 bytes)")
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, check=False)
    text = proc.stderr.decode("utf-8", "replace")
    video, audio = _VIDEO.search(text), _AUDIO.search(text)
    if video is None and audio is None:
        reason = last_error_line(proc.stderr)
        raise MediaDecodeError(f"{path} is not a readable video, image or audio file ({reason})")
    width = height = None
    fps = None
    codec = None
    if video is not None:
        codec, width, height = video.group(1), int(video.group(2)), int(video.group(3))
        line = text[video.start() : text.find("\n", video.start())]
        m = _FPS.search(line)
        if m:
            fps = float(m.group(1)) * (1000 if m.group(2) else 1)
        rot = _ROTATION.search(text[video.start() :])
        if rot and abs(round(float(rot.group(1)))) % 180 == 90:  # ffmpeg auto-rotates on decode
            width, height = height, width
    dur = _DURATION.search(text)
    duration = None
    if dur:
        h, m_, s = dur.groups()
        duration = int(h) * 3600 + int(m_) * 60 + float(s)
    is_image = codec is not None and (
        path.suffix.lower() in IMAGE_SUFFIXES
        or (codec in {"mjpeg", "png", "bmp", "webp", "tiff"} and (duration is None or duration < 0.05))
    )
    return MediaInfo(
        path=path,
        width=width,
        height=height,
        fps=fps if fps and fps < 1000 else None,
        duration=duration,
        has_video=video is not None,
        has_audio=audio is not None,
        video_codec=codec,
        audio_codec=audio.group(1) if audio else None,
        is_image=is_image,
    )
