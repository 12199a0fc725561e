"""The protocol end to end on the real CREMA-D sample (actor 1001) with a fake dubber and stand-in networks
(random or hand-set weights, so the numbers test the plumbing, not a model), the CLI, t-SNE and the notebook."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from emotalk.cli import main as cli_main
from emotalk.cremad import parse_name
from emotalk.errors import ConfigError
from emotalk.evaluate import protocol, report
from emotalk.evaluate.emotion_acc import ClassifierRejectedError
from emotalk.evaluate.inception import INCEPTION_FILE
from emotalk.spec import EMOTIONS

from .helpers import CopyDubber, StubClassifier, TinyFeature, TinySync, tiny_generator_checkpoint

pytestmark = pytest.mark.media

REPO = Path(__file__).resolve().parents[2]


def _contains_point(c: dict) -> bool:
    v, (lo, hi) = c["value"], c["ci"]
    f = [float(x) for x in (v, lo, hi)]
    return f[1] <= f[0] <= f[2] or (math.isinf(f[0]) and f[0] == f[2])


@pytest.fixture(scope="module")
def run(cremad_pre: Path, media: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One protocol run: 2 clips x (6 emotions + 1 reconstruction), every judge a stand-in."""
    out = tmp_path_factory.mktemp("eval")
    ckpt = tiny_generator_checkpoint(out / "tiny_gen.ckpt")
    dubbers: list[CopyDubber] = []

    def factory(c: Path, d: str) -> CopyDubber:
        dubbers.append(CopyDubber(c, d))
        return dubbers[-1]

    cfg = protocol.EvalConfig(
        actors=("1001",), max_clips=2, seed=0, force=True, n_boot=200, fid_boot=5, device="cpu", tsne_actor="1011"
    )
    results = protocol.evaluate_experiments(
        {"copy": ckpt},
        cremad_pre,
        media / "crema-d/VideoFlash",
        out,
        syncnet_v2=TinySync(),
        inception=TinyFeature(),
        classifier=StubClassifier("fixed", fixed=EMOTIONS.index("angry")),
        config=cfg,
        dubber_factory=factory,
    )
    return {"out": out, "results": results, "dubbers": dubbers, "ckpt": ckpt, "cfg": cfg}


def test_tables_have_the_expected_columns_and_intervals(run: dict) -> None:
    out, res = run["out"], run["results"]
    for name in ("results.json", "results.csv", "results.md"):
        assert (out / name).is_file()
    assert json.loads((out / "results.json").read_text())["settings"]["lse"]["min_track"] == 25
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    cols = list(rows[0])
    assert cols[:5] == ["experiment", "emotion", "kind", "dataset", "n_videos"]
    for k in ("lse_d", "lse_c", "fid", "ssim", "psnr", "emo_acc", "ssim_id", "psnr_id"):
        assert {k, f"{k}_lo", f"{k}_hi"} <= set(cols)
    assert [(r["experiment"], r["emotion"]) for r in rows] == [("copy", "all")] + [("copy", e) for e in EMOTIONS] + [
        ("EmoGen (published)", "all"),
        ("Wav2Lip (published)", "all"),
    ]
    ours = [r for r in res["rows"] if r["kind"] == "ours"]
    for r in ours:
        for k, c in r["metrics"].items():
            if c["value"] is not None:
                assert _contains_point(c), (r["emotion"], k, c)
    overall = ours[0]["metrics"]
    for k in ("lse_d", "lse_c", "fid", "ssim", "psnr", "emo_acc"):
        assert overall[k]["value"] is not None, k
    assert overall["lse_d"]["n"] == 12 and overall["ssim"]["n"] == 2 and overall["ssim_id"]["n"] == 12
    # the stub always answers "angry": EmoAcc = 2 of 12 requested emotions, exactly
    assert overall["emo_acc"]["value"] == pytest.approx(100 / 6)
    per = {r["emotion"]: r["metrics"] for r in ours[1:]}
    assert per["angry"]["emo_acc"]["value"] == 100.0 and per["sad"]["emo_acc"]["value"] == 0.0
    # every emotion has a real set (all six real clips of the actor), so every per-emotion FID exists
    assert all(per[e]["fid"]["value"] is not None for e in EMOTIONS)
    assert overall["fid"]["value"] == pytest.approx(np.mean([per[e]["fid"]["value"] for e in EMOTIONS]))
    pub = {r["experiment"]: r["metrics"] for r in res["rows"] if r["kind"] == "published"}
    assert pub["EmoGen (published)"]["emo_acc"]["value"] == 83.2
    assert pub["EmoGen (published)"]["fid"]["value"] == 5.29
    assert pub["EmoGen (published)"]["lse_c"]["value"] == 6.663
    assert pub["Wav2Lip (published)"]["lse_d"]["value"] == 6.386
    assert pub["Wav2Lip (published)"]["lse_c"]["value"] == 7.78
    md = (out / "results.md").read_text()
    assert "min_track = 25" in md and "CREMA-D, published" in md and "LRS2, published" in md
    assert "## Per emotion" in md


def test_inputs_are_seeded_other_clips_and_videos_are_scored(run: dict) -> None:
    res, calls = run["results"], run["dubbers"][0].calls
    clips = res["settings"]["clips"]
    assert len(clips) == 2 and len(calls) == 2 * 7
    for video, audio, emotion, out in calls:
        if out.stem.endswith("__recon"):
            assert audio.parent.name == video.stem  # own audio, own emotion
            assert emotion == parse_name(video.stem).emotion
        else:
            assert audio.parent.name != video.stem  # another clip's audio
            assert out.stem == f"{video.stem}__{emotion}"
    vids = res["videos"]
    assert sum(v["kind"] == "swap" for v in vids) == 12 and all(v["error"] == "" for v in vids)
    assert all(v["lse_d"] is not None and v["n_face_frames"] > 40 for v in vids if v["kind"] == "swap")
    assert all(v["emo_pred"] == "angry" for v in vids if v["kind"] == "swap")
    # the copy dubber leaves the face as it is: reconstruction SSIM near 1 (re-encoding only)
    assert all(v["ssim"] > 0.9 for v in vids)
    assert res["classifier"]["forced"] and res["settings"]["emo_acc"]["forced"]
    assert any("forced" in n for n in res["notes"])


def test_figures(run: dict) -> None:
    figs = set(run["results"]["figures"])
    assert {"figures/confusion_copy.png", "figures/tsne_copy.png", "figures/confusion_classifier_real.png"} <= figs
    for f in figs:
        assert (run["out"] / f).stat().st_size > 10_000


def test_missing_weights_are_na_and_the_run_resumes(run: dict, cremad_pre: Path, media: Path) -> None:
    """No syncnet_v2.model, Inception and classifier paths that do not exist: those metrics are n/a with the file
    named; the videos of the first run are reused (nothing is dubbed again)."""
    dubbers: list[CopyDubber] = []
    res = protocol.evaluate_experiments(
        {"copy": run["ckpt"]},
        cremad_pre,
        media / "crema-d/VideoFlash",
        run["out"],
        syncnet_v2=None,
        inception=run["out"] / INCEPTION_FILE,
        classifier=run["out"] / "emotion_classifier.ckpt",
        config=protocol.EvalConfig(actors=("1001",), max_clips=2, n_boot=50, device="cpu"),
        dubber_factory=lambda c, d: dubbers.append(CopyDubber(c, d)) or dubbers[-1],
    )
    assert dubbers[0].calls == []
    m = res["rows"][0]["metrics"]
    assert m["lse_d"] == m["lse_c"] == report.na("n/a (no syncnet_v2.model)")
    assert m["fid"]["note"] == f"n/a (no {INCEPTION_FILE})" and m["fid"]["value"] is None
    assert m["emo_acc"]["note"] == "n/a (no classifier checkpoint)"
    assert m["ssim"]["value"] is not None
    assert res["unavailable"] == {
        "lse_d": "n/a (no syncnet_v2.model)",
        "lse_c": "n/a (no syncnet_v2.model)",
        "fid": f"n/a (no {INCEPTION_FILE})",
        "emo_acc": "n/a (no classifier checkpoint)",
    }
    md = (run["out"] / "results.md").read_text()
    assert "n/a (no syncnet_v2.model)" in md and f"n/a (no {INCEPTION_FILE})" in md
    with (run["out"] / "results.csv").open() as f:
        first = next(csv.DictReader(f))
    assert first["lse_d"] == "n/a (no syncnet_v2.model)" and first["lse_d_lo"] == ""


def test_the_gate_refuses_before_anything_is_dubbed(cremad_pre: Path, media: Path, tmp_path: Path) -> None:
    made: list[object] = []
    with pytest.raises(ClassifierRejectedError, match=r"16\.7%"):
        protocol.evaluate_experiments(
            {"copy": tmp_path / "g.ckpt"},
            cremad_pre,
            media / "crema-d/VideoFlash",
            tmp_path,
            classifier=StubClassifier("fixed", fixed=0),
            config=protocol.EvalConfig(actors=("1001",), device="cpu"),
            dubber_factory=lambda c, d: made.append(c),  # type: ignore[arg-type,return-value]
        )
    assert made == [] and not (tmp_path / "videos").exists()


def test_audio_assignment_is_seeded_and_never_the_own_clip(cremad_pre: Path, media: Path) -> None:
    clips = protocol.select_clips(cremad_pre, media / "crema-d/VideoFlash", ["1001"])
    assert len(clips) == 6
    a = protocol.assign_audio(clips, seed=0)
    assert a == protocol.assign_audio(clips, seed=0) and a != protocol.assign_audio(clips, seed=1)
    assert all(k[0] != v.clip_id for k, v in a.items()) and len(a) == 36
    sub = protocol.select_clips(cremad_pre, media / "crema-d/VideoFlash", ["1001"], max_clips=3, seed=5)
    assert [c.clip_id for c in sub] == [
        c.clip_id for c in protocol.select_clips(cremad_pre, media / "crema-d/VideoFlash", ["1001"], 3, 5)
    ]
    with pytest.raises(ConfigError, match="no labelled clips of actors 1011"):
        protocol.select_clips(cremad_pre, media / "crema-d/VideoFlash", ["1011"])


# ---------------------------------------------------------------------------------------------------- CLI


def test_cli_errors_name_what_is_missing(media: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["evaluate", "--data", str(tmp_path)]) == 2
    assert "--experiments" in capsys.readouterr().err
    clip = media / "crema-d/VideoFlash/1001_DFA_ANG_XX.flv"
    code = cli_main(["evaluate", "--lse-videos", str(clip), "--syncnet-v2", str(tmp_path / "syncnet_v2.model")])
    err = capsys.readouterr().err
    assert code == 2 and "syncnet_v2.model" in err and "download_model.sh" in err
    from emotalk.evaluate.cli import parse_experiments

    parsed = parse_experiments(["seq=a/b.ckpt", "c/pl_da.ckpt"])
    assert parsed == {"seq": Path("a/b.ckpt"), "pl_da": Path("c/pl_da.ckpt")}
    with pytest.raises(ConfigError, match="twice"):
        parse_experiments(["a=x", "a=y"])


# ---------------------------------------------------------------------------------------------------- t-SNE


def test_tsne_figure_and_encoder_paths(tmp_path: Path) -> None:
    from emotalk.evaluate.tsne import encoder_embeddings, plot_tsne, strength_vectors
    from emotalk.models.generator import Generator

    vecs, emos, strs = strength_vectors()
    assert vecs.shape == (5 * 11 + 1, 6) and torch.allclose(vecs.sum(1), torch.ones(len(vecs)))
    assert emos.count(EMOTIONS.index("neutral")) == 1 and max(strs) == 1.0
    emb = encoder_embeddings(Generator(width=0.25))
    assert emb is not None and emb[0].shape == (56, 128)
    assert encoder_embeddings(Generator(emotion=False, width=0.25)) is None
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 5)
    gen = rng.normal(size=(30, 32)) + labels[:, None]
    p = plot_tsne(tmp_path / "t.png", gen, labels, gen[::5] + 0.1, labels[::5], emb, title="test")
    assert p.stat().st_size > 20_000


# ---------------------------------------------------------------------------------------------------- notebook


def test_results_notebook_runs_on_a_small_results_file(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    def c(v: float, spread: float = 0.1) -> dict:
        return report.cell(v, v - spread, v + spread, 12)

    rows = []
    for name, base in (("seq", 0.0), ("pl_da", 1.0)):
        m = {
            "lse_d": c(8.1 - base),
            "lse_c": c(2.0 + base),
            "fid": c(30.0 - 5 * base, 3),
            "ssim": c(0.8),
            "psnr": report.cell(math.inf, 30.0, math.inf, 2) if base else c(28.0, 1),
            "emo_acc": c(40.0 + 20 * base, 5),
        }
        rows.append({"experiment": name, "emotion": "all", "kind": "ours", "n_videos": 12, "metrics": m})
        for e in EMOTIONS:
            rows.append({"experiment": name, "emotion": e, "kind": "ours", "n_videos": 2, "metrics": m})
    rows[0]["metrics"]["lse_d"] = report.na("n/a (no syncnet_v2.model)")
    results = {"settings": {"lse": {"min_track": 25}}, "notes": [], "rows": rows + report.published_rows()}
    report.write_results(results, tmp_path)
    nb = nbformat.read(REPO / "notebooks/01-results.ipynb", as_version=4)
    env = {"EMOTALK_RESULTS": str(tmp_path), "MPLBACKEND": "Agg"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert (tmp_path / "figures/comparison.png").stat().st_size > 20_000
    text = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs)
    assert "2 experiments, 2 published rows" in text


@pytest.mark.slow
def test_protocol_with_the_real_dubber(cremad_pre: Path, media: Path, tmp_path: Path) -> None:
    """The inference pipeline's Dubber with a random-weight width-0.25 generator (about 8 s a dub on 2 cores)."""
    ckpt = tiny_generator_checkpoint(tmp_path / "tiny.ckpt")
    res = protocol.evaluate_experiments(
        {"tiny": ckpt},
        cremad_pre,
        media / "crema-d/VideoFlash",
        tmp_path / "eval",
        syncnet_v2=TinySync(),
        inception=TinyFeature(),
        classifier=StubClassifier("fixed", fixed=0),
        config=protocol.EvalConfig(actors=("1001",), max_clips=2, force=True, reconstruction=False, device="cpu"),
    )
    vids = res["videos"]
    assert len(vids) == 12 and all(v["error"] == "" and v["n_frames"] > 40 for v in vids)
    assert all(v["lse_d"] is not None for v in vids)
    assert res["rows"][0]["metrics"]["fid"]["value"] is not None
