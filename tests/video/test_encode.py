"""Encoding: H.264 segments joined with AAC audio, exact frame counts and rates, odd sizes, provenance tags."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from emotalk.ffmpeg import probe
from emotalk.video.decode import read_frames
from emotalk.video.encode import EncodeError, SegmentEncoder, even_size, fps_arg, mux, read_tags


def frames(n: int, h: int, w: int, start: int = 0) -> list[np.ndarray]:
    out = []
    for i in range(start, start + n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, : (i * 7) % w] = 200  # a bar whose length encodes the frame number
        out.append(f)
    return out


def test_fps_arg_and_even_size():
    assert fps_arg(Fraction(30000, 1001)) == "30000/1001" and fps_arg(25.0) == "25/1"
    assert even_size(480, 360) == (480, 360) and even_size(911, 1137) == (912, 1138)


def test_segments_join_exactly_with_audio_and_tags(tmp_path, media):
    fps = Fraction(30000, 1001)
    parts = []
    for k in range(3):
        enc = SegmentEncoder(tmp_path / f"p{k}.mp4", 64, 48, fps)
        for f in frames(20, 48, 64, start=20 * k):
            enc.write(f)
        assert not (tmp_path / f"p{k}.mp4").exists()  # only the temporary file until close()
        parts.append(enc.close())
    out = mux(parts, media / "audio" / "1002_DFA_HAP_XX.wav", tmp_path / "o.mp4", {"comment": "SYNTHETIC test"})
    info = probe(out)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (64, 48, "h264", "aac")
    assert info.fps == pytest.approx(29.97)
    got = read_frames(out)
    assert len(got) == 60
    bars = [(g[24, :, 0] > 100).sum() for g in got]
    assert [abs(b - (i * 7) % 64) <= 2 for i, b in enumerate(bars)] == [True] * 60  # in order, none lost
    assert read_tags(out)["comment"] == "SYNTHETIC test"
    assert list(tmp_path.glob(".*")) == []  # no temporary files left


def test_odd_sizes_are_padded_by_one_replicated_pixel(tmp_path, media):
    enc = SegmentEncoder(tmp_path / "odd.mp4", 65, 47, 25)
    for f in frames(5, 47, 65):
        f[:, -1] = 250  # last column bright: the padding column must copy it
        enc.write(f)
    enc.close()
    out = mux([tmp_path / "odd.mp4"], media / "audio" / "1002_DFA_HAP_XX.wav", tmp_path / "o.mp4")
    got = read_frames(out)
    assert got.shape[1:] == (48, 66, 3)
    assert got[2, 10:40, -1].mean() > 200


def test_encoder_errors_are_emotalk_errors(tmp_path):
    with pytest.raises(ValueError, match="does not match"):
        SegmentEncoder(tmp_path / "a.mp4", 64, 48, 25).write(np.zeros((10, 10, 3), np.uint8))
    enc = SegmentEncoder(tmp_path / "missing-dir" / "a.mp4", 64, 48, 25)
    with pytest.raises(EncodeError):
        for f in frames(50, 48, 64):
            enc.write(f)
        enc.close()
    enc.abort()
