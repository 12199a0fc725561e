"""probe() on the real media, rotation, and errors that name the file."""

from __future__ import annotations

import pytest

from emotalk.errors import MediaDecodeError
from emotalk.ffmpeg import ffmpeg_exe, probe, run_ffmpeg


@pytest.mark.parametrize(
    ("rel", "size", "fps", "duration", "vcodec", "acodec"),
    [
        ("crema-d/VideoFlash/1001_DFA_ANG_XX.flv", (480, 360), 29.97, 2.235, "vp6f", "mp3"),
        ("crema-d/VideoFlash/1001_DFA_HAP_XX.flv", (480, 360), 29.97, 1.868, "vp6f", "mp3"),
        ("video/mead_M030_sad_3_001.mp4", (1920, 1080), 30.0, 3.734, "h264", "aac"),
        ("video/hdtf_retalking_face2.mp4", (844, 844), 25.0, 5.039, "h264", "aac"),
    ],
)
def test_probe_real_videos(media, rel, size, fps, duration, vcodec, acodec):
    info = probe(media / rel)
    assert info.size == size and info.fps == pytest.approx(fps, abs=0.01)
    assert info.duration == pytest.approx(duration, abs=0.06)  # ffmpeg prints 2 decimals
    assert (info.video_codec, info.audio_codec, info.has_video, info.has_audio) == (vcodec, acodec, True, True)
    assert not info.is_image


def test_probe_still_and_audio(media):
    still = probe(media / "stills" / "rose_leslie.jpg")
    assert still.is_image and still.size == (1280, 799) and not still.has_audio
    wav = probe(media / "audio" / "hdtf_RD_Radio31_000.wav")
    assert wav.has_audio and not wav.has_video and wav.duration == pytest.approx(8.0, abs=0.02)
    with pytest.raises(MediaDecodeError, match="no video stream"):
        _ = wav.size


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_probe_swaps_size_of_rotated_video(media, tmp_path, degrees):
    src = tmp_path / "plain.mp4"
    flv = media / "crema-d/VideoFlash/1001_DFA_ANG_XX.flv"
    run_ffmpeg(["-y", "-i", str(flv), "-t", "0.2", "-an", "-c:v", "libx264", "-preset", "ultrafast", str(src)])
    rot = tmp_path / f"rot{degrees}.mp4"
    run_ffmpeg(["-y", "-display_rotation", str(degrees), "-i", str(src), "-c", "copy", str(rot)])
    assert probe(rot).size == ((480, 360) if degrees == 180 else (360, 480))


def test_probe_errors_name_the_file(tmp_path):
    with pytest.raises(MediaDecodeError, match=r"not found: .*missing\.mp4"):
        probe(tmp_path / "missing.mp4")
    empty = tmp_path / "empty.flv"
    empty.write_bytes(b"")
    with pytest.raises(MediaDecodeError, match=r"empty\.flv is empty"):
        probe(empty)
    text = tmp_path / "notes.flv"
    text.write_text("a text file named .flv\n")
    with pytest.raises(MediaDecodeError, match=r"notes\.flv is not a readable video"):
        probe(text)


def test_run_ffmpeg_error_names_the_path(tmp_path):
    with pytest.raises(MediaDecodeError, match=r"ffmpeg failed on .*nothing\.mp4"):
        run_ffmpeg(["-i", str(tmp_path / "nothing.mp4"), "-f", "null", "-"], path=tmp_path / "nothing.mp4")
    assert "ffmpeg" in ffmpeg_exe()
