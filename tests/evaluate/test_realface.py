"""The real-face protocol's arithmetic: offsets found by the sync judge, silence, leakage, back-and-forth frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emotalk.evaluate.realface import (
    MouthMeter,
    RealFaceResult,
    SyncJudge,
    leakage_ratio,
    loudness_following,
    offset_and_confidence,
    pingpong,
    render_markdown,
    silent_frames,
)


class AngleExpert(torch.nn.Module):
    """A stand-in expert whose embeddings are unit vectors at an angle: the face's from the mean brightness of the
    window's middle frame (lower half), the audio's from the mean of its mel window. Equal angles → cosine 1."""

    def _vec(self, v: torch.Tensor) -> torch.Tensor:
        a = v * (torch.pi / 2)
        return torch.stack([torch.cos(a), torch.sin(a)], dim=1)

    def embed_face(self, face: torch.Tensor) -> torch.Tensor:  # [B, 3, T, S, S] in [0, 1]
        return self._vec(face[:, :, face.shape[2] // 2, face.shape[3] // 2 :].mean(dim=(1, 2, 3)))

    def embed_audio(self, mel: torch.Tensor) -> torch.Tensor:  # [B, 1, 80, 16]
        return self._vec(mel.mean(dim=(1, 2, 3)))


def _clip(n: int, lag: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames whose lower-half brightness at frame t + 2 equals the audio level of frame t - lag."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.05, 0.95, n + 40)
    frames = np.zeros((n, 96, 96, 3), np.uint8)
    mels = np.zeros((n, 80, 16), np.float32)
    for t in range(n):
        frames[t, 48:] = np.uint8(round(level[20 + t - 2 - lag] * 255))
        mels[t] = level[20 + t]
    return frames, mels


@pytest.mark.parametrize("lag", [0, 3, -4])
def test_judge_finds_the_built_in_offset(lag: int) -> None:
    frames, mels = _clip(80, lag)
    off, conf = offset_and_confidence(SyncJudge(AngleExpert()).curve(frames, mels))
    assert off == -lag or (lag == 0 and off == 0)
    assert conf > 0.05


def test_judge_confidence_is_low_for_unrelated_audio() -> None:
    frames, _ = _clip(80, 0, seed=1)
    _, mels = _clip(80, 0, seed=2)
    _, conf_off = offset_and_confidence(SyncJudge(AngleExpert()).curve(frames, mels))
    _, conf_on = offset_and_confidence(SyncJudge(AngleExpert()).curve(*_clip(80, 0, seed=1)))
    assert conf_on > 2 * conf_off


def test_pingpong_runs_back_and_forth_without_jumps() -> None:
    idx = pingpong(4, 11)
    assert idx.tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2]
    assert pingpong(1, 3).tolist() == [0, 0, 0]


def test_silence_and_leakage() -> None:
    loud = np.array([-20.0, -21, -60, -70, -22, -np.inf, -19])
    assert silent_frames(loud).tolist() == [False, False, True, True, False, True, False]
    opening = np.array([0.3, 0.4, 0.05, 0.02, 0.35, np.nan, 0.3])
    ratio = leakage_ratio(opening, silent_frames(loud))
    assert ratio == pytest.approx(0.035 / 0.3375)
    assert np.isnan(leakage_ratio(opening, np.zeros(7, bool)))


def test_loudness_following_sees_a_mouth_that_trails_its_sound(rng: np.random.Generator) -> None:
    loud = rng.uniform(-60, -20, 80)
    trailing = np.roll((loud + 60) / 100, 1)  # the mouth opens one frame after the sound
    assert loudness_following(trailing, loud) > 0.95
    assert loudness_following(np.roll(trailing, 4), loud) < 0.5  # beyond the lags searched: unrelated noise
    assert abs(loudness_following(rng.uniform(0, 0.4, 80), loud)) < 0.4
    trailing[::3] = np.nan  # frames without a face mesh are left out
    assert loudness_following(trailing, loud) > 0.9
    assert np.isnan(loudness_following(np.full(80, 0.2), loud)) and np.isnan(loudness_following(trailing[:9], loud[:9]))


def test_mouth_meter_sees_an_open_and_a_closed_real_mouth(tmp_path: Path, datasets: Path, missing_resource) -> None:
    """On real GRID crops: the widest-open frame of a spoken word measures more than a closed frame in silence."""
    grid = datasets / "grid"
    if not (grid / "s1").is_dir():
        missing_resource(f"GRID corpus not found at {grid} (set EMOTALK_SHARED)")
    from emotalk.cli import main as cli_main
    from emotalk.data.clips import read_manifest
    from emotalk.evaluate.realface import FaceClip

    src = tmp_path / "g" / "s1"
    (src / "video").mkdir(parents=True)
    (src / "align").mkdir()
    for sub, ext in (("video", "mp4"), ("align", "align")):
        (src / sub / f"bbaf2n.{ext}").write_bytes((grid / "s1" / sub / f"bbaf2n.{ext}").read_bytes())
    assert (
        cli_main(["preprocess", "--dataset", "grid", "--input", str(tmp_path / "g"), "--out", str(tmp_path / "p")]) == 0
    )
    clip = FaceClip.load(tmp_path / "p", read_manifest(tmp_path / "p")[0])
    meter = MouthMeter()
    opening = meter(clip.faces)
    meter.close()
    assert np.isfinite(opening).mean() > 0.9
    silent = np.zeros(len(opening), bool)
    for a, b in clip.silences:
        silent[a:b] = True
    assert np.nanmax(opening[~silent]) > 2 * np.nanmedian(opening[silent])
    assert leakage_ratio(opening, silent) < 0.8


def test_markdown_names_the_baselines() -> None:
    res = RealFaceResult("g.ckpt", "e.ckpt", 3)
    res.reenactment = {"lower_ssim": 0.8, "lower_psnr": 25.0, "copy_reference_lower_ssim": 0.6,
                       "copy_reference_lower_psnr": 20.0}  # fmt: skip
    res.dubbing = {"in_sync_fraction": 0.9, "conf_mean": 0.2, "n": 3, "conf_vs_real": 0.95}
    res.real = {"in_sync_fraction": 1.0, "conf_mean": 0.21, "n": 3}
    res.leakage = {"dub_silent_over_speech": 0.3, "real_silent_over_speech": 0.25, "n_dubs": 3}
    res.video = {"eye_ssim": 0.99, "lower_sharpness_ratio": 0.5, "n_videos": 2, "eye_ssim_happy_0.5": 0.93}
    md = render_markdown(res)
    assert "copy 0.600" in md and "90% of 3" in md and "95% of real" in md and "0.30" in md
    assert "floor" not in md  # a record from before the context rows still renders
    res.dubbing |= {"floor_conf_mean": 0.05, "floor_vs_real": 0.24, "grid_speech_in_sync_fraction": 1.0,
                    "grid_speech_conf_mean": 0.18, "grid_speech_conf_vs_real": 0.86}  # fmt: skip
    res.leakage |= {"dub_follow_r": 0.44, "grid_dub_follow_r": 0.65, "real_follow_r": 0.62}
    md = render_markdown(res)
    assert "0.050 (24% of real)" in md and "100% in sync, 0.180 (86% of real)" in md and "0.44 / 0.65" in md
    assert "ceiling" not in md
    res.dubbing |= {"voiced_real_in_sync_fraction": 0.95, "voiced_real_conf_mean": 0.12, "voiced_real_vs_real": 0.57}
    assert "ceiling" in (md := render_markdown(res)) and "95% in sync, 0.120 (57% of real)" in md
    assert "dubbed happy at strength 0.5 | 0.930" in md and "sad" not in md  # only the asks that were measured


def test_cli_names_what_the_grid_protocol_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from emotalk.cli import main as cli_main

    assert cli_main(["evaluate", "--dataset", "grid", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--data" in err and "--speech" in err
    code = cli_main(["evaluate", "--dataset", "grid", "--data", str(tmp_path), "--speech", str(tmp_path / "no.wav"),
                     "--checkpoint", str(tmp_path / "g.ckpt"), "--out", str(tmp_path)])  # fmt: skip
    assert code == 2 and "generator file not found" in capsys.readouterr().err


def test_region_measures_see_changed_eyes_and_a_blurred_mouth(rng: np.random.Generator) -> None:
    from emotalk.evaluate.realface import _region_measures

    src = rng.integers(0, 256, (4, 120, 100, 3), dtype=np.uint8)
    boxes = np.tile([10.0, 10.0, 90.0, 110.0], (4, 1))
    eye, sharp = _region_measures(src, src.copy(), boxes)
    assert eye == pytest.approx(1.0) and sharp == pytest.approx(1.0)
    dub = src.copy()
    dub[:, 60:110] = 128  # a flat lower face
    dub[:, 25:55] = 255 - dub[:, 25:55]  # other eyes
    eye, sharp = _region_measures(src, dub, boxes)
    assert eye < 0.5 and sharp < 0.05
    assert _region_measures(src, dub, np.full((4, 4), np.nan)) is None


def test_video_checks_let_the_eyes_change_only_as_far_as_the_emotion_asks(
    tmp_path: Path, datasets: Path, missing_resource
) -> None:
    """A full-face emotion model on a real GRID clip: neutral keeps the source's eyes (the paste takes the lower
    face only), happy at strength 0.5 changes them less than at strength 1."""
    import shutil

    from emotalk.audio.load import load_audio
    from emotalk.data.clips import read_manifest
    from emotalk.data.preprocess import preprocess
    from emotalk.evaluate.realface import video_checks
    from generator_ckpt import calibrated_generator, save_ours

    grid = datasets / "grid" / "s1"
    if not (grid / "video" / "bbaf2n.mp4").is_file():
        missing_resource(f"the GRID corpus at {grid}")
    raw = tmp_path / "grid" / "s1"
    for sub, ext in (("video", "mp4"), ("align", "align")):
        (raw / sub).mkdir(parents=True)
        shutil.copy(grid / sub / f"bbaf2n.{ext}", raw / sub)
    pre = tmp_path / "pre"
    assert preprocess("grid", tmp_path / "grid", pre, workers=1, progress=False).n_done == 1
    ckpt = save_ours(calibrated_generator(), tmp_path / "g.ckpt", mask_mode="full")
    wav = load_audio(grid / "video" / "bbaf2n.mp4")
    v = video_checks(ckpt, pre, read_manifest(pre), [("own", wav)], tmp_path / "videos")
    assert v["n_videos"] == 1 and v["eye_ssim"] > 0.9
    assert v["eye_ssim"] > v["eye_ssim_happy_0.5"] > v["eye_ssim_happy_1"]
    assert v["eye_ssim_sad_1"] < v["eye_ssim"]


def test_other_voice_moves_the_pitch_and_keeps_the_timing() -> None:
    """The ceiling reading's voice: a 200 Hz tone three semitones up sits at 200·2^(3/12) Hz, as long as before."""
    from emotalk.evaluate.realface_measures import other_voice

    sr = 16000
    t = np.arange(sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    for st in (3.0, -3.0):
        y = other_voice(tone, st)
        assert len(y) == len(tone)
        spec = np.abs(np.fft.rfft(y[2000:-2000]))
        peak = np.argmax(spec) * sr / len(y[2000:-2000])
        assert abs(peak - 200 * 2 ** (st / 12)) < 4, (st, peak)
