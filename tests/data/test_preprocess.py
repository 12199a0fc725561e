"""`emotalk preprocess` on the real CREMA-D, MEAD and HDTF clips, an LRS2 layout, bad files, and a killed run."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotalk.cli import main as cli_main
from emotalk.data.clips import FAILURES, MANIFEST, clip_dir, read_manifest
from emotalk.data.lrs2 import read_filelist
from emotalk.data.preprocess import (
    LOCK,
    MANIFEST_CSV,
    PreprocessOptions,
    preprocess,
)
from emotalk.data.sources import list_crema_d, list_folder, list_sources, parse_split_files
from emotalk.errors import EmotalkError
from emotalk.ffmpeg import probe, run_ffmpeg
from emotalk.spec import EMOTIONS
from emotalk.video.crop import pad_box
from emotalk.video.decode import VideoReader, read_frames
from emotalk.video.faces import FaceDetector

CODES = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def real_flv(media: Path, code: str) -> Path:
    return media / "crema-d" / "VideoFlash" / f"1001_DFA_{code}_XX.flv"


def short_mp4(src: Path, dst: Path, seconds: float = 1.0, audio: bool = True) -> Path:
    """A short H.264 (+AAC) re-encode of a real clip, made with the project's ffmpeg."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    a = ["-c:a", "aac"] if audio else ["-an"]
    run_ffmpeg(["-y", "-i", str(src), "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", *a, str(dst)])
    return dst


def read_wav(path: Path) -> tuple[np.ndarray, int, int]:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2"), w.getframerate(), w.getnchannels()


@pytest.fixture(scope="module")
def detector():
    with FaceDetector() as d:
        yield d


@pytest.fixture(scope="module")
def crema_out(media, tmp_path_factory):
    out = tmp_path_factory.mktemp("pre_crema")
    report = preprocess("crema_d", media / "crema-d", out, workers=1, progress=False)
    return out, report


@pytest.fixture(scope="module")
def folder_out(media, tmp_path_factory):
    out = tmp_path_factory.mktemp("pre_folder")
    report = preprocess("folder", media / "video", out, workers=1, progress=False)
    return out, report


# ---------------------------------------------------------------------------------------------------------------
# Real CREMA-D


def test_crema_manifest_labels_and_frame_counts(media, crema_out):
    out, report = crema_out
    assert report.failures == [] and report.n_done == 6
    metas = read_manifest(out)
    assert [m.clip_id for m in metas] == [f"1001_DFA_{c}_XX" for c in CODES]
    assert sorted(m.emotion for m in metas) == sorted(EMOTIONS)
    for m, code in zip(metas, CODES, strict=True):
        assert (m.dataset, m.actor, m.sentence, m.level) == ("crema_d", "1001", "DFA", "unspecified")
        assert m.emotion == EMOTIONS[CODES.index(code)]
        info = probe(real_flv(media, code))
        assert abs(m.n_frames - info.duration * 25) <= 2, (m.clip_id, m.n_frames, info.duration)
        assert (m.width, m.height, m.fps) == (480, 360, 25.0)
        assert m.extra["audio_source"] == "video"
    assert (out / FAILURES).read_text() == ""
    csv_lines = (out / MANIFEST_CSV).read_text().splitlines()
    assert len(csv_lines) == 7 and csv_lines[0].startswith("clip_id,")


def test_crema_arrays_faces_and_audio(crema_out):
    out, _ = crema_out
    for m in read_manifest(out):
        d = clip_dir(out, m.clip_id)
        faces, has_face, boxes = np.load(d / "faces.npy"), np.load(d / "has_face.npy"), np.load(d / "boxes.npy")
        assert faces.shape == (m.n_frames, 96, 96, 3) and faces.dtype == np.uint8
        assert has_face.shape == (m.n_frames,) and has_face.mean() >= 0.99
        assert m.n_noface == int((~has_face).sum())
        assert np.isfinite(boxes[has_face]).all() and np.isnan(boxes[~has_face]).all()
        assert (boxes[has_face][:, :2] >= 0).all() and (boxes[has_face][:, 2] <= 480).all()
        assert (boxes[has_face][:, 3] <= 360).all()
        pcm, sr, ch = read_wav(d / "audio.wav")
        assert (sr, ch) == (16000, 1)
        assert abs(len(pcm) / sr - m.n_frames / 25) < 0.2  # audio and video cover the same time
        mel = np.load(d / "mel.npy")
        assert mel.shape == (80, 1 + len(pcm) // 200) and mel.dtype == np.float32


def test_crema_crops_are_centred_on_the_face(crema_out, detector):
    out, _ = crema_out
    for cid in ("1001_DFA_ANG_XX", "1001_DFA_HAP_XX"):
        faces = np.load(clip_dir(out, cid) / "faces.npy")
        for i in (0, len(faces) // 2, len(faces) - 1):
            pad = 24  # a border so that mediapipe sees the whole face inside the image
            img = cv2.copyMakeBorder(faces[i], pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            found = detector.detect(img)
            assert found, f"no face in crop {i} of {cid}"
            cx, cy = (c - pad for c in found[0].center)
            assert abs(cx - 48) < 10 and abs(cy - 48) < 10, (cid, i, cx, cy)
            assert found[0].x2 - found[0].x1 > 60  # the face fills most of the crop


def test_crema_rerun_skips_finished_clips(media, crema_out):
    out, _ = crema_out
    before = {d.name: d.stat().st_ino for d in (out / "clips").iterdir()}
    report = preprocess("crema_d", media / "crema-d", out, workers=1, progress=False)
    assert (report.n_skipped, report.n_done, report.failures) == (6, 0, [])
    assert {d.name: d.stat().st_ino for d in (out / "clips").iterdir()} == before


# ---------------------------------------------------------------------------------------------------------------
# Other real data: a 1080p MEAD clip and an HDTF clip as a plain folder


def test_folder_mead_and_hdtf(media, folder_out, detector):
    out, report = folder_out
    assert report.failures == []
    metas = {m.clip_id: m for m in read_manifest(out)}
    # every real talking clip in shared/media/video (MEAD, HDTF and the four retalking people added later)
    assert set(metas) == {p.stem for p in (media / "video").glob("*.mp4")}
    assert {"mead_M030_sad_3_001", "hdtf_retalking_face2"} <= set(metas)
    for m in metas.values():
        assert m.dataset == "folder" and m.actor == "video" and m.emotion is None
        has_face = np.load(clip_dir(out, m.clip_id) / "has_face.npy")
        assert has_face.mean() >= 0.99
        assert abs(m.n_frames - m.extra["duration"] * 25) <= 2
    mead = metas["mead_M030_sad_3_001"]
    assert (mead.width, mead.height) == (1920, 1080) and mead.extra["decode_size"] == [1280, 720]
    # boxes are in source pixels although frames were decoded at 1280x720: compare with a full-size detection
    frame = next(iter(VideoReader(mead.source, fps=25)))
    ref = pad_box(detector.detect(frame)[0].as_array(), frame.shape[:2])
    box = np.load(clip_dir(out, mead.clip_id) / "boxes.npy")[0]
    assert np.abs(box - ref).max() < 0.08 * (ref[2] - ref[0]), (box, ref)


def test_frames_without_a_face_keep_their_index(media, tmp_path):
    # a real clip with one blank frame (10) and a run of five (30..34): the single miss is bridged by the gap
    # rule and recorded, the long run stays "no face"; the clip keeps all its frames in order
    frames = read_frames(real_flv(media, "DIS"), fps=25).copy()
    frames[10] = 128
    frames[30:35] = 128
    clip = tmp_path / "in" / "spk" / "gaps.mp4"
    clip.parent.mkdir(parents=True)
    run_ffmpeg(
        [
            *("-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", "480x360", "-r", "25", "-i", "-"),
            *("-i", str(real_flv(media, "DIS")), "-map", "0:v", "-map", "1:a", "-c:v", "libx264"),
            *("-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip)),
        ],
        input=frames.tobytes(),
    )
    report = preprocess("folder", tmp_path / "in", tmp_path / "out", workers=1, progress=False)
    assert report.failures == []
    (m,) = read_manifest(tmp_path / "out")
    d = clip_dir(tmp_path / "out", m.clip_id)
    has_face, faces, boxes = np.load(d / "has_face.npy"), np.load(d / "faces.npy"), np.load(d / "boxes.npy")
    assert m.n_frames == len(has_face) == len(faces) == len(boxes) == len(frames)
    assert m.extra["filled_frames"] == [10] and m.extra["n_detected"] == len(frames) - 6
    assert np.flatnonzero(~has_face).tolist() == [30, 31, 32, 33, 34] and m.n_noface == 5
    assert not faces[30:35].any() and np.isnan(boxes[30:35]).all()
    # the bridged frame is cut from frame 10 itself (blank here) at the interpolated box: recorded, never guessed
    assert has_face[10] and np.abs(faces[10].astype(int) - 128).max() < 10
    np.testing.assert_allclose(boxes[10], (boxes[9] + boxes[11]) / 2, atol=3)


# ---------------------------------------------------------------------------------------------------------------
# LRS2 layout


@pytest.fixture(scope="module")
def lrs2_root(media, tmp_path_factory):
    root = tmp_path_factory.mktemp("lrs2")
    short_mp4(real_flv(media, "ANG"), root / "main" / "6330311066473698535" / "00011.mp4", 0.8)
    short_mp4(real_flv(media, "HAP"), root / "main" / "6330311066473698535" / "00012.mp4", 0.8)
    short_mp4(real_flv(media, "SAD"), root / "main" / "6331559613336179781" / "00001.mp4", 0.8)
    (root / "train.txt").write_text("6330311066473698535/00011\n")
    (root / "val.txt").write_text("6331559613336179781/00001 NF\n")  # LRS2 test/val lists may have a 2nd column
    (root / "test.txt").write_text("6999999999999999999/00001\n")  # listed, but no video
    return root


def test_lrs2_splits_from_filelists(lrs2_root, tmp_path):
    report = preprocess("lrs2", lrs2_root, tmp_path, workers=1, progress=False)
    metas = {m.clip_id: m for m in read_manifest(tmp_path)}
    assert {k: (m.actor, m.split) for k, m in metas.items()} == {
        "6330311066473698535_00011": ("6330311066473698535", "train"),
        "6330311066473698535_00012": ("6330311066473698535", None),  # in no filelist
        "6331559613336179781_00001": ("6331559613336179781", "val"),
    }
    assert all(m.dataset == "lrs2" and m.emotion is None and abs(m.n_frames - 20) <= 1 for m in metas.values())
    assert [(f["clip_id"], f["kind"]) for f in report.failures] == [("6999999999999999999_00001", "missing")]
    assert "test.txt" in report.failures[0]["reason"]


def test_lrs2_explicit_split_file(lrs2_root, tmp_path):
    lst = tmp_path / "mine.txt"
    lst.write_text("main/6330311066473698535/00012.mp4\n")
    clips, problems = list_sources("lrs2", lrs2_root, parse_split_files([f"test={lst}"]))
    assert {c.clip_id: c.split for c in clips}["6330311066473698535_00012"] == "test"
    assert {c.split for c in clips} == {"test", None} and problems == []


def test_read_filelist_tokens(tmp_path):
    f = tmp_path / "val.txt"
    f.write_text("spk/00001 NF\n\n# comment\nmain/spk/00002.mp4 MV\nspk\\00003\n")
    assert read_filelist(f) == ["spk/00001", "spk/00002", "spk/00003"]


# ---------------------------------------------------------------------------------------------------------------
# Listing


def test_list_crema_d_names_and_duplicates(tmp_path):
    v = tmp_path / "VideoFlash"
    v.mkdir()
    for name in ("1001_DFA_ANG_XX.flv", "1001_DFA_ANG_XX.mp4", "1002_IEO_HAP_HI.mp4", "oops.flv", "notes.txt"):
        (v / name).write_bytes(b"")
    (tmp_path / "AudioWAV").mkdir()
    (tmp_path / "AudioWAV" / "1002_IEO_HAP_HI.wav").write_bytes(b"")
    clips, problems = list_crema_d(tmp_path)
    assert [(c.clip_id, c.path.suffix, c.emotion, c.level) for c in clips] == [
        ("1001_DFA_ANG_XX", ".flv", "angry", "unspecified"),
        ("1002_IEO_HAP_HI", ".mp4", "happy", "high"),
    ]
    assert clips[0].audio_fallback is None and clips[1].audio_fallback == tmp_path / "AudioWAV" / "1002_IEO_HAP_HI.wav"
    assert sorted(p.kind for p in problems) == ["bad_name", "duplicate"]


def test_list_folder_ids_and_actors(tmp_path):
    for rel in ("a/x.mp4", "a/b/y.MOV", "z.mkv", "a/readme.txt", "a/.hidden.mp4"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    clips, problems = list_folder(tmp_path)
    assert [(c.clip_id, c.actor) for c in clips] == [("a_b_y", "b"), ("a_x", "a"), ("z", tmp_path.name)]
    assert problems == []


def test_no_videos_is_an_error(tmp_path):
    with pytest.raises(EmotalkError, match="no videos found"):
        list_sources("crema_d", tmp_path)
    assert cli_main(["preprocess", "--dataset", "folder", "--input", str(tmp_path / "nope"), "--out", "x"]) == 2


# ---------------------------------------------------------------------------------------------------------------
# Bad input next to good clips, in one run (through the CLI)


@pytest.fixture(scope="module")
def bad_set(media, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    v = root / "VideoFlash"
    v.mkdir()
    a = root / "AudioWAV"
    a.mkdir()
    shutil.copy(real_flv(media, "HAP"), v / "1001_DFA_HAP_XX.flv")  # good
    data = real_flv(media, "ANG").read_bytes()
    (v / "1002_DFA_ANG_XX.flv").write_bytes(data[: len(data) // 2])  # truncated: decodes half, then stops
    (v / "1002_DFA_DIS_XX.flv").write_text("this is a text file, not a video\n")
    run_ffmpeg(["-y", "-i", str(real_flv(media, "FEA")), "-an", "-c:v", "copy", str(v / "1002_DFA_FEA_XX.flv")])
    shutil.copy(v / "1002_DFA_FEA_XX.flv", v / "1003_DFA_FEA_XX.flv")  # no audio track, but AudioWAV has it
    shutil.copy(media / "crema-d" / "AudioWAV" / "1001_DFA_FEA_XX.wav", a / "1003_DFA_FEA_XX.wav")
    run_ffmpeg(  # a noise video with sound: no face anywhere
        [
            *("-y", "-f", "lavfi", "-i", "nullsrc=s=160x120:r=25:d=1,geq=random(1)*255:128:128", "-f", "lavfi"),
            *("-i", "sine=f=220:d=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-shortest", str(v / "1002_DFA_HAP_XX.mp4")),
        ]
    )
    (v / "1002_DFA_NEU_XX.flv").write_bytes(b"")  # empty
    return root


EXPECTED_FAILURES = {
    "1002_DFA_ANG_XX": "truncated",
    "1002_DFA_DIS_XX": "unreadable",
    "1002_DFA_FEA_XX": "no_audio",
    "1002_DFA_HAP_XX": "no_face",
    "1002_DFA_NEU_XX": "empty",
}


def test_bad_files_are_reported_and_good_ones_processed(bad_set, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["preprocess", "--dataset", "crema_d", "--input", str(bad_set), "--out", str(out), "--workers", "1"]
    assert cli_main([*argv, "--no-progress"]) == 1  # finished, but some clips failed
    printed = capsys.readouterr().out
    assert "5 clip(s) failed" in printed and "truncated" in printed and "retried" in printed
    failures = [json.loads(line) for line in (out / FAILURES).read_text().splitlines()]
    assert {f["clip_id"]: f["kind"] for f in failures} == EXPECTED_FAILURES
    for f in failures:  # every line names the file and says why
        assert f["source"].endswith(f["clip_id"] + Path(f["source"]).suffix) and f["reason"]
    by_id = {f["clip_id"]: f["reason"] for f in failures}
    assert re.search(r"decoded 1\.\d+ s of video .* says 2\.24 s", by_id["1002_DFA_ANG_XX"])
    assert "0 bytes" in by_id["1002_DFA_NEU_XX"] and "no audio track" in by_id["1002_DFA_FEA_XX"]
    metas = {m.clip_id: m for m in read_manifest(out)}
    assert set(metas) == {"1001_DFA_HAP_XX", "1003_DFA_FEA_XX"}
    assert metas["1003_DFA_FEA_XX"].extra["audio_source"] == "AudioWAV"
    assert metas["1001_DFA_HAP_XX"].extra["audio_source"] == "video"

    # failures are not "done": a rerun tries them again; a repaired file then succeeds and leaves the report
    shutil.copy(bad_set / "AudioWAV" / "1003_DFA_FEA_XX.wav", bad_set / "AudioWAV" / "1002_DFA_FEA_XX.wav")
    try:
        report = preprocess("crema_d", bad_set, out, workers=1, progress=False)
    finally:
        (bad_set / "AudioWAV" / "1002_DFA_FEA_XX.wav").unlink()
    assert report.n_skipped == 2 and report.n_done == 1
    assert {f["clip_id"] for f in report.failures} == set(EXPECTED_FAILURES) - {"1002_DFA_FEA_XX"}
    assert len(read_manifest(out)) == 3


def test_min_face_fraction(bad_set, tmp_path):
    # the good clip has faces in every frame: a fraction above 1 fails it with its own reason
    opts = PreprocessOptions(min_face_fraction=1.01)
    report = preprocess("crema_d", bad_set, tmp_path, workers=1, limit=1, options=opts, progress=False)
    assert [(f["clip_id"], f["kind"]) for f in report.failures] == [("1001_DFA_HAP_XX", "few_faces")]


def test_second_run_on_the_same_out_is_refused(media, tmp_path):
    (tmp_path / LOCK).write_text(str(os.getppid()))  # a live process that is not us
    with pytest.raises(EmotalkError, match="another preprocess run"):
        preprocess("crema_d", media / "crema-d", tmp_path, workers=1, progress=False)
    (tmp_path / LOCK).write_text("999999999")  # a dead one: stale lock, ignored
    report = preprocess("crema_d", media / "crema-d", tmp_path, workers=1, limit=1, progress=False)
    assert report.n_done == 1 and not (tmp_path / LOCK).exists()


# ---------------------------------------------------------------------------------------------------------------
# Resume


def test_resume_after_subset_keeps_finished_clips(media, tmp_path):
    inp = tmp_path / "in"
    (inp / "VideoFlash").mkdir(parents=True)
    for code in ("ANG", "HAP", "SAD"):
        short_mp4(real_flv(media, code), inp / "VideoFlash" / f"1001_DFA_{code}_XX.mp4", 0.6)
    out = tmp_path / "out"
    preprocess("crema_d", inp, out, workers=1, limit=2, progress=False)
    first = {d.name: (d.stat().st_ino, d.stat().st_mtime_ns) for d in (out / "clips").iterdir()}
    assert sorted(first) == ["1001_DFA_ANG_XX", "1001_DFA_HAP_XX"]
    stale = out / "clips" / ".1001_DFA_SAD_XX.tmp-99999"  # what a killed worker leaves behind
    stale.mkdir()
    (stale / "faces.npy").write_bytes(b"half")
    report = preprocess("crema_d", inp, out, workers=1, progress=False)
    assert (report.n_skipped, report.n_done) == (2, 1) and not stale.exists()
    after = {d.name: (d.stat().st_ino, d.stat().st_mtime_ns) for d in (out / "clips").iterdir()}
    assert {k: after[k] for k in first} == first
    ids = [json.loads(line)["clip_id"] for line in (out / MANIFEST).read_text().splitlines()]
    assert ids == ["1001_DFA_ANG_XX", "1001_DFA_HAP_XX", "1001_DFA_SAD_XX"]


def test_killed_run_continues(media, tmp_path):
    inp = tmp_path / "in"
    (inp / "VideoFlash").mkdir(parents=True)
    for code in CODES[:4]:
        shutil.copy(real_flv(media, code), inp / "VideoFlash")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "emotalk.cli", "preprocess", "--dataset", "crema_d", "--input", str(inp)]
    cmd += ["--out", str(out), "--workers", "2", "--no-progress"]  # the process pool, killed with its workers
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("clips/*/meta.json")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the run and anything it started, mid-clip
        proc.wait()
    killed_mid_run = proc.returncode == -signal.SIGKILL
    first = {d.name: d.stat().st_ino for d in (out / "clips").iterdir() if not d.name.startswith(".")}
    assert 1 <= len(first) <= 4
    if killed_mid_run:
        assert not (out / MANIFEST).exists()  # the killed run never got to its end
    report = preprocess("crema_d", inp, out, workers=1, progress=False)
    assert report.n_skipped == len(first) and report.n_done == 4 - len(first) and report.failures == []
    assert {k: (out / "clips" / k).stat().st_ino for k in first} == first
    assert not [d for d in (out / "clips").iterdir() if d.name.startswith(".")]
    assert [m.clip_id for m in read_manifest(out)] == [f"1001_DFA_{c}_XX" for c in CODES[:4]]
    assert killed_mid_run or len(first) == 4
