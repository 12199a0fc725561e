"""`emotalk infer`: a dub from the command line, batch CSVs, and one clear line (no output) for every bad input."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from emotalk.cli import main
from emotalk.ffmpeg import ffmpeg_exe, probe
from emotalk.infer.pipeline import summary_path_for, work_dir_for
from emotalk.models.emotion import EmotionClassifier
from emotalk.models.generator import Generator
from emotalk.spec import AVSpec
from emotalk.video.encode import SegmentEncoder, mux
from generator_ckpt import save_ours

from .conftest import cut_wav

pytestmark = pytest.mark.media


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory, clips) -> Path:
    return cut_wav(clips["speech"], tmp_path_factory.mktemp("a") / "half.wav", 0.5)


@pytest.fixture(scope="module")
def blank_video(tmp_path_factory, short_wav) -> Path:
    """Grey frames with an audio track: a video without any face."""
    d = tmp_path_factory.mktemp("blank")
    enc = SegmentEncoder(d / "v.mp4", 160, 120, Fraction(25))
    for _ in range(15):
        enc.write(np.full((120, 160, 3), 100, np.uint8))
    enc.close()
    return mux([d / "v.mp4"], short_wav, d / "blank.mp4")


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, tiny_ckpt) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    files = {}
    files["corrupt"] = d / "corrupt.mp4"
    files["corrupt"].write_text("this is not a video\n" * 20)
    files["empty_audio"] = d / "empty.wav"
    import wave

    with wave.open(str(files["empty_audio"]), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"")
    raw = np.sin(np.arange(8000) / 10).astype("<f4")
    raw[100:200] = np.nan
    (d / "nan.f32").write_bytes(raw.tobytes())
    files["nan_audio"] = d / "nan.wav"
    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-f", "f32le", "-ar", "16000", "-ac", "1", "-i", str(d / "nan.f32"),
         "-c:a", "pcm_f32le", str(files["nan_audio"])],
        check=True,
    )  # fmt: skip
    files["syncnet_ckpt"] = d / "syncnet.ckpt"
    torch.save(
        {"state_dict": {"net.w": torch.zeros(1)}, "emotalk": {"stage": "syncnet", "spec": AVSpec().to_dict()}},
        files["syncnet_ckpt"],
    )
    files["classifier"] = d / "disc_emo_1000.pth"
    torch.save(EmotionClassifier(width=0.125).state_dict(), files["classifier"])
    files["other_spec"] = save_ours(Generator(width=0.125), d / "spec.ckpt", spec=AVSpec(fps=30.0, hop_length=160))
    return files


def run_cli(capsys, *args: object) -> tuple[int, str, str]:
    code = main(["infer", *map(str, args)])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_dub_from_the_command_line(capsys, tiny_ckpt, clips, short_wav, tmp_path):
    out = tmp_path / "cli.mp4"
    code, stdout, _ = run_cli(capsys, "--video", clips["flv"], "--audio", short_wav, "--emotion", "HAP",
                              "--strength", "0.7", "--checkpoint", tiny_ckpt, "--out", out, "--watermark")  # fmt: skip
    assert code == 0 and out.is_file() and "15 frames" in stdout and "15 generated" in stdout
    summary = json.loads(summary_path_for(out).read_text())
    assert summary["emotion"] == "happy@0.7" and summary["frames"] == 15
    assert probe(out).fps == pytest.approx(29.97)


def test_allow_no_face_passes_everything_through(capsys, tiny_ckpt, blank_video, tmp_path):
    out = tmp_path / "o.mp4"
    code, stdout, _ = run_cli(capsys, "-i", blank_video, "-c", tiny_ckpt, "-o", out, "--allow-no-face")
    assert code == 0, stdout
    summary = json.loads(summary_path_for(out).read_text())
    assert summary["generated"] == 0 and summary["passed_through"] == {"no_face": 13}
    assert summary["passthrough_ranges"] == [[0, 12, "no_face"]]


BAD = {
    "missing video": (["-i", "{tmp}/nope.mp4"], "file not found"),
    "corrupt video": (["-i", "{corrupt}"], "not a readable"),
    "audio as video": (["-i", "{speech}"], "no video stream"),
    "audio without samples": (["-a", "{empty_audio}"], "no samples"),
    "NaN audio": (["-a", "{nan_audio}"], "NaN"),
    "unknown emotion": (["-e", "joyful"], "unknown emotion 'joyful'"),
    "strength out of range": (["--strength", "1.5"], "between 0 and 1"),
    "bad timeline": (["--timeline", "0-2:happy,1-3:sad"], "overlap"),
    "bad face": (["--face", "0"], "--face"),
    "syncnet as generator": (["-c", "{syncnet_ckpt}"], "emotalk syncnet checkpoint, not a generator"),
    "classifier as generator": (["-c", "{classifier}"], "emotion classifier"),
    "other spec": (["-c", "{other_spec}"], "fps: checkpoint 30.0 vs ours 25.0; hop_length"),
    "missing checkpoint": (["-c", "{tmp}/none.ckpt"], "checkpoint not found"),
    "no face anywhere": (["-i", "{blank}"], "no face found in any frame"),
    "still without audio": (["-i", "{obama}", "-a", ""], "no audio track of its own"),
    "output over input": (["-o", "{speech}"], "would overwrite an input"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_no_output(case, capsys, tiny_ckpt, clips, short_wav, blank_video, bad_files,
                                             tmp_path):  # fmt: skip
    extra, message = BAD[case]
    names = {**{k: str(v) for k, v in bad_files.items()}, "tmp": str(tmp_path), "speech": str(short_wav),
             "blank": str(blank_video), "obama": str(clips["obama"])}  # fmt: skip
    extra = [e.format(**names) for e in extra]
    out = tmp_path / "out.mp4"
    args = {"-i": str(clips["flv"]), "-a": str(short_wav), "-c": str(tiny_ckpt), "-o": str(out)}
    args.update(zip(extra[::2], extra[1::2], strict=True))  # the case's flags replace or extend the good ones
    argv = [x for k, v in args.items() if v != "" for x in (k, v)]
    code, _, stderr = run_cli(capsys, *argv, "--no-progress")
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert code == 2, (case, stderr)
    assert len(lines) == 1 and lines[0].startswith("emotalk infer: error: "), lines
    assert message in lines[0], lines[0]
    assert "Traceback" not in stderr
    target = Path(args["-o"])
    if target != short_wav:
        assert not target.exists() and not summary_path_for(target).exists()
        assert not work_dir_for(target).exists()


def test_batch_skips_done_rows_and_reports_failures(capsys, tiny_ckpt, clips, short_wav, tmp_path):
    done = tmp_path / "done.mp4"
    done.write_bytes(b"already made")
    rows = [
        "video,audio,emotion,output,strength,timeline",
        f"{clips['flv']},{short_wav},happy,done.mp4,,",
        f"{clips['flv']},{short_wav},sad,new.mp4,0.5,",
        f"missing.flv,{short_wav},happy,missing.mp4,,",
        f"{clips['flv']},{short_wav},joyful,bad_emotion.mp4,,",
        f"{clips['flv']},{short_wav},angry,tl.mp4,,0-0.2:happy",
    ]
    csv = tmp_path / "jobs.csv"
    csv.write_text("\n".join(rows) + "\n")
    code, stdout, stderr = run_cli(capsys, "--batch", csv, "-c", tiny_ckpt)
    assert code == 1 and "2 of 5 jobs failed" in stderr
    assert done.read_bytes() == b"already made"  # skipped, not redone
    assert (tmp_path / "new.mp4").is_file() and (tmp_path / "tl.mp4").is_file()
    assert not (tmp_path / "missing.mp4").exists() and not (tmp_path / "bad_emotion.mp4").exists()
    assert json.loads(summary_path_for(tmp_path / "new.mp4").read_text())["emotion"] == "sad@0.5"
    flat = " ".join(stdout.split())
    assert "skipped" in flat and "failed" in flat and "missing.flv" in flat and "joyful" in flat
    # a second run skips everything that is done and fails the same rows again
    code, stdout, _ = run_cli(capsys, "--batch", csv, "-c", tiny_ckpt)
    assert code == 1 and " ".join(stdout.split()).count("skipped") == 3


def test_batch_file_errors(capsys, tiny_ckpt, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("video,emotion\nx.mp4,happy\n")
    code, _, stderr = run_cli(capsys, "--batch", bad, "-c", tiny_ckpt)
    assert code == 2 and "missing column(s) audio, output" in stderr
    code, _, stderr = run_cli(capsys, "--batch", tmp_path / "none.csv", "-c", tiny_ckpt)
    assert code == 2 and "batch file not found" in stderr
