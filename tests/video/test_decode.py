"""Streaming decode with ffmpeg: 25 fps resampling, stills, downscaling, audio in the same pass, damaged files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotalk.audio.load import load_audio
from emotalk.errors import MediaDecodeError
from emotalk.ffmpeg import probe, run_ffmpeg
from emotalk.video.decode import VideoReader, read_frames


@pytest.fixture(scope="module")
def flv(media) -> Path:
    return media / "crema-d" / "VideoFlash" / "1001_DFA_ANG_XX.flv"


def test_resample_2997_to_25_fps(flv):
    info = probe(flv)
    assert info.fps == pytest.approx(29.97)
    reader = VideoReader(flv, fps=25)
    frames = list(reader)
    assert abs(len(frames) - info.duration * 25) <= 2
    assert frames[0].shape == (360, 480, 3) and frames[0].dtype == np.uint8
    assert reader.fps == 25 and reader.n_read == len(frames) and reader.stderr == ""
    native = sum(1 for _ in VideoReader(flv))
    assert abs(native - info.duration * 29.97) <= 2 and native > len(frames)


def test_still_image_is_one_frame(media):
    reader = VideoReader(media / "stills" / "obama.jpg", fps=25)
    frames = list(reader)
    assert len(frames) == 1 and frames[0].shape == (1137, 910, 3) and reader.fps == 25


def test_max_side_downscales_keeping_aspect(media):
    reader = VideoReader(media / "video" / "mead_M030_sad_3_001.mp4", fps=25, max_side=640)
    frame = next(iter(reader))
    assert frame.shape == (360, 640, 3) and (reader.width, reader.height) == (640, 360)


def test_audio_in_the_same_pass_equals_load_audio(flv, tmp_path):
    out = tmp_path / "a.f32"
    extra = ["-map", "0:a:0", "-ac", "1", "-ar", "16000", "-f", "f32le", str(out)]
    n = sum(1 for _ in VideoReader(flv, fps=25, info=probe(flv), extra_output=extra))
    assert n > 50
    np.testing.assert_array_equal(np.fromfile(out, "<f4"), load_audio(flv))


def test_stopping_early_ends_ffmpeg(flv):
    reader = VideoReader(flv, fps=25)
    for i, _ in enumerate(reader):
        if i == 2:
            break
    assert reader.n_read == 3
    assert len(read_frames(flv, fps=25)) > 50  # a fresh pass still works


def test_truncated_file_decodes_partly_and_says_so(flv, tmp_path):
    cut = tmp_path / "cut.flv"
    data = flv.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    info = probe(cut)
    assert info.duration == pytest.approx(2.24, abs=0.05)  # the container still claims the full length
    reader = VideoReader(cut, fps=25)
    n = sum(1 for _ in reader)
    assert 10 < n < info.duration * 25 - 10  # preprocessing compares the two and reports the file
    assert reader.stderr  # ffmpeg complained


def test_rotated_video_comes_out_upright(flv, tmp_path):
    plain, rotated = tmp_path / "plain.mp4", tmp_path / "rot.mp4"
    run_ffmpeg(["-y", "-i", str(flv), "-t", "0.4", "-an", "-c:v", "libx264", "-preset", "ultrafast", str(plain)])
    run_ffmpeg(["-y", "-display_rotation", "90", "-i", str(plain), "-c", "copy", str(rotated)])
    reader = VideoReader(rotated, fps=25)
    frame = next(iter(reader))
    assert frame.shape == (480, 360, 3) and (reader.width, reader.height) == (360, 480)


@pytest.mark.parametrize("content", [b"", b"not a video at all\n"])
def test_unreadable_files_raise_naming_the_file(tmp_path, content):
    bad = tmp_path / "clip.flv"
    bad.write_bytes(content)
    with pytest.raises(MediaDecodeError, match=r"clip\.flv"):
        VideoReader(bad, fps=25)


def test_audio_only_file_is_refused(media):
    with pytest.raises(MediaDecodeError, match="no video stream"):
        VideoReader(media / "audio" / "1002_DFA_ANG_XX.wav")
