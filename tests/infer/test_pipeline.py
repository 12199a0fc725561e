"""End to end on real media: length rules, rates and sizes, untouched background, face-less frames, emotion input,
label, silence, resume and provenance tags (issue #5)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from emotalk.audio.load import write_wav
from emotalk.ffmpeg import probe
from emotalk.infer.audio import MelSource
from emotalk.infer.emotion import emotion_schedule
from emotalk.infer.pipeline import Dubber, exact_fps, summary_path_for, work_dir_for
from emotalk.spec import DEFAULT_SPEC
from emotalk.video.decode import read_frames
from emotalk.video.encode import SegmentEncoder, mux, read_tags
from emotalk.video.faces import FaceDetector

from .conftest import cut_wav

pytestmark = pytest.mark.media
FPS = Fraction(30000, 1001)


def bar_length(frame: np.ndarray) -> int:
    """The frame-number bar drawn by `marked_video` (top-left, 4 px per frame)."""
    return int((frame[4, :, 1] > 200).sum())


def draw_bar(frame: np.ndarray, i: int) -> np.ndarray:
    f = frame.copy()
    f[0:8, :] = 0
    f[0:8, : 4 * i + 4, 1] = 255
    return f


@pytest.fixture(scope="module")
def source_frames(clips) -> np.ndarray:
    return read_frames(clips["flv"])  # the real CREMA-D clip, 67 frames at 29.97 fps


@pytest.fixture(scope="module")
def marked_video(tmp_path_factory, clips, source_frames) -> Path:
    """The CREMA-D clip with a bar whose length gives each frame's number (to tell which input frame is shown),
    with the clip's own audio."""
    d = tmp_path_factory.mktemp("marked")
    enc = SegmentEncoder(d / "v.mp4", 480, 360, FPS, crf=10)
    for i, f in enumerate(source_frames):
        enc.write(draw_bar(f, i))
    enc.close()
    return mux([d / "v.mp4"], clips["flv"], d / "marked.mp4")


@pytest.fixture(scope="module")
def dubber(tiny_ckpt):
    with Dubber(tiny_ckpt, "cpu", batch_size=16) as d:
        yield d


class Recorder:
    """Stands in for the generator: records every batch's emotion input, then runs the real one."""

    def __init__(self, model):
        self.model, self.emotions, self.n = model, [], 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def __call__(self, crops, mels, emotions):
        self.emotions.append(emotions.copy())
        self.n += len(crops)
        return self.model(crops, mels, emotions)


@pytest.fixture
def recorder(dubber):
    rec = Recorder(dubber.model)
    dubber.model = rec
    yield rec
    dubber.model = rec.model


def face_free_mask(frame: np.ndarray, det: FaceDetector, grow: float = 0.35) -> np.ndarray:
    """True away from the face: outside the detected box grown by `grow` of its size on every side."""
    mask = np.ones(frame.shape[:2], bool)
    faces = det.detect(frame)
    if faces:
        b = faces[0]
        w, h = b.x2 - b.x1, b.y2 - b.y1
        y1, y2 = int(max(0, b.y1 - grow * h)), int(b.y2 + grow * h) + 1
        x1, x2 = int(max(0, b.x1 - grow * w)), int(b.x2 + grow * w) + 1
        mask[y1:y2, x1:x2] = False
    return mask


def assert_background_unchanged(out: np.ndarray, inp: np.ndarray, det: FaceDetector) -> None:
    for o, i in zip(out, inp, strict=True):
        m = face_free_mask(i, det)
        m[:10] = False  # the marker bar: sharp edges, codec ringing
        diff = np.abs(o.astype(int) - i.astype(int))[m]
        assert diff.mean() < 2.5 and np.percentile(diff, 99) < 16, (diff.mean(), np.percentile(diff, 99))


@pytest.fixture(scope="module")
def det():
    with FaceDetector() as d:
        yield d


# ---------------------------------------------------------------------------------------------------- length rules


def test_same_length_keeps_every_frame(dubber, marked_video, tmp_path, det):
    source_frames = read_frames(marked_video)
    n = len(source_frames)
    wav = cut_wav(marked_video, tmp_path / "same.wav", n / float(FPS))  # exactly the video's duration
    out = tmp_path / "same.mp4"
    r = dubber.dub(marked_video, wav, "happy", out)
    info = probe(out)
    got = read_frames(out)
    assert r.frames == len(got) == n and r.generated == n and r.passed_through == {}
    assert (info.width, info.height) == (480, 360) == (r.width, r.height)
    assert info.fps == pytest.approx(29.97) and r.fps_exact == "30000/1001"
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert abs(info.duration - n / float(FPS)) <= 1 / float(FPS)
    assert [bar_length(f) // 4 - 1 for f in got] == list(range(n))
    assert_background_unchanged(got, source_frames, det)
    tags = read_tags(out)
    assert "SYNTHETIC" in tags["comment"] and "emotalk" in tags["comment"] and "happy" in tags["comment"]
    assert "emotalk" in tags["description"] and "happy" in tags["description"]
    summary = json.loads(summary_path_for(out).read_text())
    assert summary["generated"] == n and summary["frames"] == n and summary["emotion"] == "happy"
    assert not work_dir_for(out).exists() and not list(tmp_path.glob(".*"))


def test_shorter_audio_trims_the_video(dubber, marked_video, tmp_path):
    out = tmp_path / "short.mp4"
    r = dubber.dub(marked_video, cut_wav(marked_video, tmp_path / "a.wav", 1.0), "sad", out)
    got = read_frames(out)
    assert len(got) == r.frames == 30 and r.video_trimmed and r.repeated_last_frame == 0
    assert [bar_length(f) // 4 - 1 for f in got] == list(range(30))
    assert abs(probe(out).duration - 1.0) <= 1 / 29.97


def test_longer_audio_repeats_the_last_frame(dubber, marked_video, source_frames, tmp_path):
    out = tmp_path / "long.mp4"
    r = dubber.dub(marked_video, cut_wav(marked_video, tmp_path / "a.wav", 3.0, offset=0.0), "angry", out)
    n = len(source_frames)
    got = read_frames(out)
    assert len(got) == r.frames == 90 and r.repeated_last_frame == 90 - n and not r.video_trimmed
    shown = [bar_length(f) // 4 - 1 for f in got]
    assert shown == list(range(n)) + [n - 1] * (90 - n)  # the last frame held, not looped
    assert abs(probe(out).duration - 3.0) <= 1 / 29.97


def test_still_image_at_25_fps_with_odd_size(dubber, clips, tmp_path):
    out = tmp_path / "still.mp4"
    r = dubber.dub(clips["obama"], cut_wav(clips["speech"], tmp_path / "a.wav", 1.0), "happy", out)
    info = probe(out)
    assert r.still_image and r.frames == 25 and info.fps == 25
    assert r.input_size == [910, 1137] and (info.width, info.height) == (910, 1138) == (r.width, r.height)
    assert r.generated == 25
    got = read_frames(out)
    assert len(got) == 25
    still = read_frames(clips["obama"])[0]
    with FaceDetector() as d:
        m = face_free_mask(still, d)
    diff = np.abs(got[12, :1137].astype(int) - still.astype(int))[m]
    assert diff.mean() < 2.5


def test_real_1080p_clip(dubber, clips, tmp_path):
    out = tmp_path / "mead.mp4"
    r = dubber.dub(clips["mead"], cut_wav(clips["mead"], tmp_path / "a.wav", 0.4), "sad", out)
    info = probe(out)
    assert (info.width, info.height) == (1920, 1080) and info.fps == 30 and r.frames == 12 == r.generated
    assert len(read_frames(out)) == 12


def test_hdtf_clip_own_audio_any_fps(dubber, clips, tmp_path):
    out = tmp_path / "hdtf.mp4"
    r = dubber.dub(clips["hdtf"], cut_wav(clips["hdtf"], tmp_path / "a.wav", 0.6), "neutral", out)
    assert probe(out).fps == 25 and (r.width, r.height) == (844, 844) and r.frames == 15 == r.generated


def test_exact_fps():
    assert exact_fps(29.97) == Fraction(30000, 1001) and exact_fps(23.98) == Fraction(24000, 1001)
    assert exact_fps(59.94) == Fraction(60000, 1001) and exact_fps(25.0) == 25 and exact_fps(30.0) == 30


# ---------------------------------------------------------------------------------------------------- faces


def test_faceless_frames_pass_through(dubber, clips, source_frames, tmp_path):
    src = tmp_path / "gaps"
    src.mkdir()
    frames = [f if not 10 <= i < 20 else np.full_like(f, 90) for i, f in enumerate(source_frames)]
    enc = SegmentEncoder(src / "v.mp4", 480, 360, FPS, crf=10)
    for f in frames:
        enc.write(f)
    enc.close()
    video = mux([src / "v.mp4"], clips["flv"], src / "gaps.mp4")
    out = tmp_path / "gaps_dub.mp4"
    r = dubber.dub(video, cut_wav(clips["flv"], tmp_path / "a.wav", 1.2), "happy", out)
    assert r.frames == 36 and r.passed_through == {"no_face": 10} and r.generated == 26
    assert r.passthrough_ranges == [[10, 19, "no_face"]]
    summary = json.loads(summary_path_for(out).read_text())
    assert summary["passed_through"] == {"no_face": 10} and any("no face" in w for w in summary["warnings"])
    got = read_frames(out)
    inp = read_frames(video)
    for i in range(10, 20):  # untouched (within the codec's and colour conversion's tolerance)
        assert np.abs(got[i].astype(int) - inp[i].astype(int)).mean() < 3.0


# ---------------------------------------------------------------------------------------------------- emotion


def test_timeline_and_strength_reach_the_generator(dubber, recorder, marked_video, tmp_path):
    timeline = "0-0.5:happy,0.5-1:sad@0.6"
    out = tmp_path / "tl.mp4"
    r = dubber.dub(marked_video, cut_wav(marked_video, tmp_path / "a.wav", 1.0), "angry", out, strength=0.5,
                   timeline=timeline)  # fmt: skip
    assert r.generated == 30 and recorder.n == 30
    got = np.concatenate(recorder.emotions)
    want = emotion_schedule(30, float(FPS), "angry", 0.5, timeline, crossfade=dubber.crossfade)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert "timeline" in read_tags(out)["comment"]


def face_region(path: Path, det: FaceDetector) -> np.ndarray:
    frames = read_frames(path)
    b = det.detect(frames[0])[0]
    cx, cy = int((b.x1 + b.x2) / 2), int((b.y1 + b.y2) / 2)
    return frames[:, cy - 25 : cy + 25, cx - 25 : cx + 25].astype(int)


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory, clips) -> Path:
    return cut_wav(clips["speech"], tmp_path_factory.mktemp("wav") / "half.wav", 0.5)


@pytest.fixture(scope="module")
def neutral_dub(dubber, clips, short_wav, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("neutral") / "neutral.mp4"
    dubber.dub(clips["flv"], short_wav, "neutral", out)
    return out


def test_emotions_change_the_face(dubber, clips, short_wav, neutral_dub, tmp_path, det):
    happy, zero = tmp_path / "happy.mp4", tmp_path / "happy0.mp4"
    dubber.dub(clips["flv"], short_wav, "happy", happy)
    dubber.dub(clips["flv"], short_wav, "happy", zero, strength=0.0)
    n, h, z = (face_region(p, det) for p in (neutral_dub, happy, zero))
    assert np.abs(h - n).mean() > 2.0  # another emotion: other pixels inside the face
    np.testing.assert_array_equal(z, n)  # strength 0 is neutral exactly


def test_watermark_changes_the_label_area(dubber, clips, short_wav, neutral_dub, tmp_path):
    from emotalk.video.crop import label_overlay

    out = tmp_path / "wm.mp4"
    dubber.dub(clips["flv"], short_wav, "neutral", out, watermark=True)
    a, b = read_frames(out).astype(int), read_frames(neutral_dub).astype(int)
    (x1, y1, x2, y2), _, _ = label_overlay(480, 360)
    assert np.abs(a[:, y1:y2, x1:x2] - b[:, y1:y2, x1:x2]).mean() > 30
    assert np.abs(a[:, :150] - b[:, :150]).mean() < 0.5  # the rest is the same


def test_silence_keep_passes_silent_frames_through(dubber, clips, source_frames, tmp_path):
    sr = DEFAULT_SPEC.sample_rate
    speech = cut_wav(clips["flv_wav"], tmp_path / "s.wav", 0.6, offset=0.6)
    from emotalk.audio.load import load_audio

    wav = np.concatenate([load_audio(speech), np.zeros(int(0.6 * sr), np.float32)])
    write_wav(tmp_path / "mixed.wav", wav)
    out = tmp_path / "keep.mp4"
    r = dubber.dub(clips["flv"], tmp_path / "mixed.wav", "happy", out, silence="keep")
    mel = MelSource(wav, float(FPS))
    silent = [i for i in range(r.frames) if mel.rms_db(i) < dubber.silence_db]
    assert len(silent) >= 10 and r.passed_through == {"silence": len(silent)} and r.generated == r.frames - len(silent)
    got = read_frames(out)
    for i in silent:
        assert np.abs(got[i].astype(int) - source_frames[i].astype(int)).mean() < 2.0
    assert not (np.abs(got[2].astype(int) - source_frames[2].astype(int)).mean() < 0.3)  # speech: generated


# ---------------------------------------------------------------------------------------------------- resume


def test_interrupted_run_resumes_from_finished_segments(tiny_ckpt, marked_video, tmp_path):
    out = tmp_path / "resume.mp4"
    wav = cut_wav(marked_video, tmp_path / "a.wav", 1.0)
    seen: list[int] = []

    def crash_after_first(stats):
        seen.append(stats.index)
        if stats.index == 0:
            raise RuntimeError("test interrupt after segment 0")

    with Dubber(tiny_ckpt, batch_size=8, segment_frames=10) as d:
        d.on_segment = crash_after_first
        with pytest.raises(RuntimeError, match="test interrupt"):
            d.dub(marked_video, wav, "happy", out)
        work = work_dir_for(out)
        assert not out.exists() and (work / "part_00000.mp4").is_file() and (work / "state.json").is_file()
        assert not (work / "part_00001.mp4").exists()
        first_part = (work / "part_00000.mp4").stat()
        rec = Recorder(d.model)
        d.model = rec
        d.on_segment = lambda s: seen.append(s.index)
        r = d.dub(marked_video, wav, "happy", out, progress=lambda f, s: None)
    assert seen == [0, 1, 2]  # segment 0 was not made again
    assert rec.n == 20 and r.resumed_segments == 1 and r.segments == 3
    assert r.frames == 30 and r.generated == 30  # the summary covers the whole video
    assert first_part.st_size > 0
    got = read_frames(out)
    assert [bar_length(f) // 4 - 1 for f in got] == list(range(30))
    assert not work_dir_for(out).exists()


def test_changed_settings_start_afresh(tiny_ckpt, marked_video, tmp_path):
    out = tmp_path / "o.mp4"
    wav = cut_wav(marked_video, tmp_path / "a.wav", 0.7)
    with Dubber(tiny_ckpt, batch_size=8, segment_frames=10) as d:

        def stop(stats):
            raise RuntimeError("stop")

        d.on_segment = stop
        with pytest.raises(RuntimeError):
            d.dub(marked_video, wav, "happy", out)
        d.on_segment = None
        r = d.dub(marked_video, wav, "sad", out)  # another emotion: the old segment must not be reused
    assert r.resumed_segments == 0 and r.frames == 21


def test_progress_reports_fractions_and_stages(dubber, clips, short_wav, tmp_path):
    calls: list[tuple[float, str]] = []
    dubber.dub(clips["flv"], short_wav, "neutral", tmp_path / "p.mp4", progress=lambda f, s: calls.append((f, s)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and calls[0] == (0.0, "prepare") and calls[-1] == (1.0, "done")
    assert {s for _, s in calls} <= {"prepare", "dub", "mux", "done"} and "mux" in {s for _, s in calls}
