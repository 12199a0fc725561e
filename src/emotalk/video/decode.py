"""Streaming frame decoding with ffmpeg: any container or a still image, optional fps resampling.

Frames come out as uint8 BGR [H, W, 3] one at a time, so memory stays flat however long the video is.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from emotalk.errors import MediaDecodeError
from emotalk.ffmpeg import MediaInfo, ffmpeg_exe, last_error_line, probe


class VideoReader:
    """Iterate the frames of `path` as BGR uint8 arrays.

    Args:
        fps: resample to this rate (ffmpeg's fps filter: drops/duplicates frames, keeps timing); None keeps
            the native rate.
        max_side: downscale (keeping aspect) so the longer side is at most this; None keeps the size.
        info: the result of `probe(path)` when the caller already has it (saves one ffmpeg start).
        extra_output: more ffmpeg output arguments, appended after the frame pipe, e.g. `["-map", "0:a:0", "-ac",
            "1", "-ar", "16000", "-f", "f32le", "audio.f32"]` to write the audio track in the same pass; the
            file is complete once iteration has ended.
    """

    def __init__(
        self,
        path: Path | str,
        fps: float | None = None,
        max_side: int | None = None,
        info: MediaInfo | None = None,
        extra_output: list[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.info: MediaInfo = info if info is not None else probe(self.path)
        if not self.info.has_video:
            raise MediaDecodeError(f"{self.path} has no video stream (an audio file was given as the video?)")
        self.fps_out = fps
        w, h = self.info.size
        if max_side and max(w, h) > max_side:
            s = max_side / max(w, h)
            w, h = round(w * s / 2) * 2, round(h * s / 2) * 2
        self.width, self.height = w, h
        self.extra_output = list(extra_output or [])
        self.n_read = 0
        self.stderr = ""  # ffmpeg's error output of the last full pass (warnings of a damaged file)

    @property
    def fps(self) -> float:
        """Frame rate of the frames this reader yields (25 for a still image without a requested rate)."""
        return float(self.fps_out or self.info.fps or 25.0)

    def __iter__(self) -> Iterator[np.ndarray]:
        filters = []
        if self.fps_out and not self.info.is_image:
            filters.append(f"fps={self.fps_out}")
        if (self.width, self.height) != self.info.size:
            filters.append(f"scale={self.width}:{self.height}:flags=area")
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(self.path), "-map", "0:v:0"]
        if filters:
            cmd += ["-vf", ",".join(filters)]
        if not self.fps_out:  # the stored frames as they are: rawvideo's default CFR output would add a frame
            cmd += ["-fps_mode", "passthrough"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "bgr24", "-", *self.extra_output]
        frame_bytes = self.width * self.height * 3
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=frame_bytes * 4)
        assert proc.stdout is not None and proc.stderr is not None
        try:
            while True:
                buf = proc.stdout.read(frame_bytes)
                if len(buf) < frame_bytes:
                    break
                self.n_read += 1
                yield np.frombuffer(buf, np.uint8).reshape(self.height, self.width, 3)
            proc.stdout.close()
            err = proc.stderr.read()
            code = proc.wait()
            self.stderr = err.decode("utf-8", "replace")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if self.n_read == 0:
            raise MediaDecodeError(f"no frame could be decoded from {self.path}: {last_error_line(err)}")
        if code != 0 and b"Invalid data" in err:
            raise MediaDecodeError(f"{self.path} is corrupt after frame {self.n_read}: {last_error_line(err)}")


def read_frames(path: Path | str, fps: float | None = None, max_side: int | None = None) -> np.ndarray:
    """All frames at once, [N, H, W, 3] BGR uint8 (for short clips; stream long ones with VideoReader)."""
    return np.stack(list(VideoReader(path, fps=fps, max_side=max_side)))
