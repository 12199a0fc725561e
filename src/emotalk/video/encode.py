"""Encoding: BGR frames → H.264 (yuv420p) segment files, then one MP4 with AAC audio and provenance tags.

Frames are piped to the project's ffmpeg (libx264) one at a time, so memory stays flat. A long video is written as
numbered MP4 segments that the concat demuxer joins without re-encoding (`mux`); MP4 segments keep exact frame
order and timing with B-frames, where raw .h264 pieces lose frames at the joins. Odd frame sizes (which yuv420p
cannot hold) get one replicated column/row on the right/bottom.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from emotalk.errors import EmotalkError, MediaDecodeError
from emotalk.ffmpeg import ffmpeg_exe, last_error_line


class EncodeError(EmotalkError):
    """ffmpeg could not write the output (disk full, unwritable folder, bad encoder settings)."""


def even_size(width: int, height: int) -> tuple[int, int]:
    """The encoded size: yuv420p needs even dimensions, so odd ones grow by one (replicated) pixel."""
    return width + width % 2, height + height % 2


def fps_arg(fps: float | Fraction) -> str:
    """A frame rate as ffmpeg's exact rational ("30000/1001"), not a rounded decimal."""
    f = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    return f"{f.numerator}/{f.denominator}"


class SegmentEncoder:
    """Pipe BGR frames of one size into an H.264 MP4 (video only); `close()` finishes it, `abort()` discards it.

    The file is written under a temporary name and renamed to `path` only by a successful `close()`.
    """

    def __init__(
        self,
        path: Path | str,
        width: int,
        height: int,
        fps: float | Fraction,
        crf: int = 18,
        preset: str = "veryfast",
        threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.width, self.height = width, height
        self.n_written = 0
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-framerate", fps_arg(fps), "-i", "-"]
        # swscale's default BGR→YUV rounding shifts flat colours by up to 4 levels; accurate rounding and full
        # chroma interpolation keep passed-through frames within ~1 level of what a decoder gives back
        cmd += ["-sws_flags", "accurate_rnd+full_chroma_int"]
        ew, eh = even_size(width, height)
        if (ew, eh) != (width, height):
            cmd += ["-vf", f"pad={ew}:{eh}:0:0,fillborders=right={ew - width}:bottom={eh - height}:mode=smear"]
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
        if threads:
            cmd += ["-threads", str(threads)]
        cmd += ["-f", "mp4", str(self.tmp)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame {frame.shape} {frame.dtype} does not match the encoder's {self.width}x{self.height}"
            )
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        except (BrokenPipeError, OSError) as exc:
            err = self._finish_proc()
            self._remove_tmp()
            raise EncodeError(f"the video encoder stopped while writing {self.path}: {err or exc}") from None
        self.n_written += 1

    def close(self) -> Path:
        """Finish the file and move it to `path`."""
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):
            self._proc.stdin.close()
        code = self._proc.wait()
        err = self._proc.stderr.read().decode("utf-8", "replace") if self._proc.stderr else ""
        if code != 0 or not self.tmp.is_file():
            self._remove_tmp()
            raise EncodeError(f"encoding {self.path} failed: {last_error_line(err.encode())}")
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file (idempotent)."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._finish_proc()
        self._remove_tmp()

    def _finish_proc(self) -> str:
        with contextlib.suppress(Exception):
            if self._proc.stdin:
                self._proc.stdin.close()
        with contextlib.suppress(Exception):
            self._proc.wait(timeout=10)
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        try:
            return last_error_line(self._proc.stderr.read()) if self._proc.stderr else ""
        except Exception:
            return ""

    def _remove_tmp(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _concat_list(parts: Sequence[Path], listing: Path) -> None:
    lines = []
    for p in parts:
        escaped = str(Path(p).resolve()).replace("'", "'\\''")
        lines.append(f"file '{escaped}'")
    listing.write_text("\n".join(lines) + "\n")


def mux(
    parts: Sequence[Path | str],
    audio: Path | str,
    out: Path | str,
    metadata: Mapping[str, str] | None = None,
    audio_bitrate: str = "192k",
) -> Path:
    """Join the video segments (stream copy) with the first audio track of `audio` (AAC) into the MP4 `out`.

    Input metadata is dropped (no stale title or creation time) and `metadata` is written as container tags
    (mp4 keeps `comment`, `description`, `title`, …: read them back with `read_tags`). Written to a temporary
    file beside `out`, then renamed.
    """
    out = Path(out)
    if not parts:
        raise ValueError("no video segments to mux")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    listing = out.with_name(f".{out.name}.{os.getpid()}.concat.txt")
    _concat_list([Path(p) for p in parts], listing)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    cmd += ["-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(audio)]
    cmd += ["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", audio_bitrate]
    cmd += ["-map_metadata", "-1"]
    for k, v in (metadata or {}).items():
        cmd += ["-metadata", f"{k}={v}"]
    cmd += ["-movflags", "+faststart", "-f", "mp4", str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0 or not tmp.is_file():
            raise EncodeError(f"writing {out} failed: {last_error_line(proc.stderr)}")
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            listing.unlink()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return out


_TAG = re.compile(r"^\s{4}(\S[^:]*?)\s*: (.*)$")


def read_tags(path: Path | str) -> dict[str, str]:
    """The container-level metadata tags of a media file, as ffmpeg prints them (e.g. {"comment": ...})."""
    path = Path(path)
    if not path.is_file():
        raise MediaDecodeError(f"file not found: {path}")
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, check=False)
    lines = proc.stderr.decode("utf-8", "replace").splitlines()
    tags: dict[str, str] = {}
    inside = False
    for line in lines:
        if line.startswith("Input #"):
            inside = False
            continue
        if line.strip() == "Metadata:" and line.startswith("  ") and not line.startswith("    "):
            inside = True
            continue
        if inside:
            m = _TAG.match(line)
            if m and not line.startswith("      "):
                tags[m.group(1)] = m.group(2)
            elif line.startswith("      ") and tags and line.strip().startswith(":"):
                last = next(reversed(tags))  # a multi-line value continues as "   : more"
                tags[last] += "\n" + line.strip()[1:].strip()
            else:
                inside = False
    return tags
