"""The paper's evaluation protocol as one function: dub every test clip in every emotion, score, tabulate.

`evaluate_experiments` (behind ``emotalk evaluate`` and the end of ``make ablations``):

1. **Clips**: every preprocessed clip of the test actors (``--data``: a preprocessed CREMA-D root, data/clips.py)
   whose source video is found under ``--raw`` (by clip id, any video suffix, searched recursively; else the
   manifest's ``source`` path). ``max_clips`` keeps a seeded random subset.
2. **Inputs** (seeded, identical for every experiment): for each clip and each of the six emotions, the audio of
   another selected clip (``clips/<id>/audio.wav``), drawn uniformly. With ``reconstruction`` (default) each clip is
   also dubbed with its own audio and its own emotion.
3. **Dubbing**: the inference pipeline's ``Dubber(checkpoint, device).dub(video, audio, emotion, out, strength=…)``
   writes ``<out>/videos/<experiment>/<clip>__<emotion>.mp4`` (and ``<clip>__recon.mp4``); existing files are kept,
   so an interrupted run resumes.
4. **Scoring** each generated video, decoded at 25 fps:
   * LSE-D / LSE-C (lse.py; face-track front end, ``min_track``) on the emotion-swapped dubs;
   * 96x96 face crops made exactly as preprocessing makes them (mediapipe → gap filling → centred smoothing →
     ``spec.face_pads`` → crop), for FID, EmoAcc, SSIM and PSNR;
   * FID per emotion e: the real crops (``faces.npy``) of **all** the test actors' clips whose true emotion is e
     (not only the selected ones, so every emotion has a real set) vs the crops of the videos generated with
     emotion e; the table's FID is the mean of the six (the paper's averaging);
   * EmoAcc: the gated classifier (emotion_acc.py) on each swapped dub, the requested emotion as the label;
   * SSIM / PSNR of the face crops against the source video's frames cropped with the same boxes: on the
     reconstruction dubs this is the reconstruction quality the paper reports; on the swapped dubs (other audio,
     other emotion) the same numbers measure identity preservation and are kept as ``ssim_id`` / ``psnr_id``.
5. **Report** (report.py): results.{json,csv,md} with 95 % bootstrap intervals over videos, per experiment and per
   emotion, the published figures beside ours; figures/confusion_<exp>.png and figures/tsne_<exp>.png (tsne.py).

A metric whose weights were not supplied (or whose file does not exist) is "n/a (no <file>)" and a warning says so;
a file that exists but is the wrong kind stops the run with the loader's message. The EmoAcc classifier must
exceed the gate (90 %) on all the test actors' real clips in ``--data``, else the run stops before dubbing anything
(``force=True`` uses it anyway and the results say so).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from torch import nn

from emotalk.data.clips import ClipMeta, clip_dir, read_manifest
from emotalk.errors import ConfigError, EmotalkError
from emotalk.evaluate import report
from emotalk.evaluate.emotion_acc import GateResult, classify_video, confusion, gate
from emotalk.evaluate.protocol_table import fid_cells, settings_record, table_rows, tsne_figure
from emotalk.evaluate.records import EvalClip, EvalConfig, Judges, VideoRecord
from emotalk.spec import DEFAULT_SPEC, EMOTIONS, AVSpec

log = logging.getLogger(__name__)


class DubberLike(Protocol):
    """What the protocol needs from the inference pipeline (emotalk.infer's ``Dubber``)."""

    def dub(self, video: Path, audio: Path, emotion: str, out: Path, **kw: Any) -> Any: ...


DubberFactory = Callable[[Path, str], DubberLike]
Progress = Callable[[str, int, int], None]


def default_dubber_factory(checkpoint: Path, device: str) -> DubberLike:
    """The inference pipeline's ``Dubber(checkpoint, device)`` (emotalk.infer.pipeline)."""
    from emotalk.infer.pipeline import Dubber

    return Dubber(checkpoint, device)


# ---------------------------------------------------------------------------------------------------- inputs


def find_raw_videos(raw: Path | str) -> dict[str, Path]:
    """{file stem: path} of every video under `raw` (recursive)."""
    from emotalk.data.listing import is_video_name

    raw = Path(raw)
    if not raw.is_dir():
        raise ConfigError(f"--raw folder not found: {raw} (give the folder with the source videos, e.g. VideoFlash/)")
    return {p.stem: p for p in sorted(raw.rglob("*")) if p.is_file() and is_video_name(p)}


def test_clips(data: Path | str, actors: Sequence[str]) -> list[ClipMeta]:
    """The labelled clips of `actors` in a preprocessed root, sorted by id."""
    data = Path(data)
    metas = read_manifest(data)
    if not metas:
        raise ConfigError(f"no preprocessed clips under {data} (run `emotalk preprocess` first)")
    chosen = [m for m in metas if m.actor in set(actors) and m.emotion in EMOTIONS]
    if not chosen:
        found = sorted({m.actor for m in metas})
        raise ConfigError(
            f"no labelled clips of actors {', '.join(actors)} under {data} (actors there: {', '.join(found[:12])}"
            f"{' …' if len(found) > 12 else ''}); pass --actors"
        )
    return sorted(chosen, key=lambda m: m.clip_id)


def select_clips(
    data: Path | str, raw: Path | str, actors: Sequence[str], max_clips: int | None = None, seed: int = 0
) -> list[EvalClip]:
    """The source clips of the protocol (a seeded subset with `max_clips`), each with its raw video."""
    metas = test_clips(data, actors)
    videos = find_raw_videos(raw)
    clips, missing = [], []
    for m in metas:
        video = videos.get(m.clip_id) or (Path(m.source) if m.source and Path(m.source).is_file() else None)
        if video is None:
            missing.append(m.clip_id)
        else:
            clips.append(EvalClip(m, clip_dir(data, m.clip_id), video))
    if missing:
        log.warning("%d test clips have no source video under %s and are skipped: %s", len(missing), raw, missing[:5])
    if len(clips) < 2:
        raise ConfigError(f"need at least 2 test clips with source videos under {raw}, found {len(clips)}")
    if max_clips and max_clips < len(clips):
        rng = np.random.default_rng(seed)
        keep = sorted(rng.choice(len(clips), size=max(2, max_clips), replace=False))
        clips = [clips[i] for i in keep]
    return clips


def assign_audio(clips: Sequence[EvalClip], seed: int = 0) -> dict[tuple[str, str], EvalClip]:
    """(clip id, emotion) → the clip whose audio it is dubbed with: another clip, drawn uniformly (seeded)."""
    rng = np.random.default_rng([seed, 1])
    out = {}
    for i, c in enumerate(clips):
        for e in EMOTIONS:
            j = int(rng.integers(0, len(clips) - 1))
            out[(c.clip_id, e)] = clips[j if j < i else j + 1]
    return out


def _fid_frames(has_face: np.ndarray, stride: int) -> np.ndarray:
    """Frames with a face, every `stride`-th frame index."""
    keep = np.asarray(has_face, bool).copy()
    keep[np.arange(len(keep)) % max(1, stride) != 0] = False
    return keep


def load_faces(data: Path | str, m: ClipMeta) -> tuple[np.ndarray, np.ndarray]:
    """A preprocessed clip's face crops (BGR uint8 [N, 96, 96, 3]) and its has-face mask [N]."""
    folder = clip_dir(data, m.clip_id)
    return np.load(folder / "faces.npy"), np.load(folder / "has_face.npy")


# ---------------------------------------------------------------------------------------------------- weights


def _optional(path_or_module: Any, loader: Callable[[Any], nn.Module], file_name: str) -> tuple[nn.Module | None, str]:
    """A module, or (None, note) when the file was not supplied or does not exist."""
    if path_or_module is None or path_or_module == "":
        return None, f"n/a (no {file_name})"
    if isinstance(path_or_module, nn.Module):
        return path_or_module, ""
    p = Path(path_or_module)
    if not p.is_file():
        try:
            loader(p)
        except EmotalkError as exc:  # the loader's own message says where the file comes from
            log.warning("%s", exc)
        return None, f"n/a (no {file_name})"
    return loader(p), ""  # a file of the wrong kind raises: the user gave it explicitly


def load_judges(syncnet_v2: Any, inception: Any, classifier: Any, device: str) -> Judges:
    from emotalk.evaluate.emotion_acc import load_classifier
    from emotalk.evaluate.inception import INCEPTION_FILE, load_fid_inception
    from emotalk.models.weights import load_syncnet_lse

    j = Judges()
    j.syncnet, note = _optional(syncnet_v2, load_syncnet_lse, "syncnet_v2.model")
    if note:
        j.notes["lse_d"] = j.notes["lse_c"] = note
    j.inception, note = _optional(inception, load_fid_inception, INCEPTION_FILE)
    if note:
        j.notes["fid"] = note
    j.feature_name = (
        "FID Inception-v3, pytorch-fid weights"
        if j.inception is not None and not isinstance(inception, nn.Module)
        else (f"custom feature network {type(j.inception).__name__}" if j.inception is not None else "none")
    )
    j.classifier, note = _optional(classifier, lambda p: load_classifier(p, device), "classifier checkpoint")
    if note:
        j.notes["emo_acc"] = note
    for m in (j.syncnet, j.inception, j.classifier):
        if m is not None:
            m.to(device).eval()
    return j


# ---------------------------------------------------------------------------------------------------- one video


@dataclass
class Analysis:
    """A decoded generated video: frames, detections, preprocessing-style 96x96 crops and their boxes."""

    frames: list[np.ndarray]
    detections: list[list[np.ndarray]]
    faces: np.ndarray
    has_face: np.ndarray
    boxes: np.ndarray


def analyse(path: Path, detector: Any, spec: AVSpec = DEFAULT_SPEC) -> Analysis:
    """Decode at 25 fps, detect every face, and crop the largest face as preprocessing does."""
    from emotalk.video.decode import read_frames
    from emotalk.video.track import FaceTrack

    frames = list(read_frames(path, fps=spec.fps))
    dets = [[b.as_array() for b in detector.detect(f)] for f in frames]
    track = FaceTrack(spec)
    for f, d in zip(frames, dets, strict=True):
        track.push(f, d[0] if d else None)
    track.finish()
    return Analysis(frames, dets, np.stack(track.faces), np.asarray(track.has_face), np.stack(track.boxes))


def source_crops(
    source: Sequence[np.ndarray], a: Analysis, spec: AVSpec = DEFAULT_SPEC
) -> tuple[np.ndarray, np.ndarray]:
    """Generated and source crops of the frames both have (the generated video's boxes on the source frames)."""
    from emotalk.video.crop import crop_face

    gen, src = [], []
    for i in range(min(len(source), len(a.frames))):
        if a.has_face[i] and source[i].shape == a.frames[i].shape:
            gen.append(a.faces[i])
            src.append(crop_face(source[i], a.boxes[i], spec.img_size))
    if not gen:
        empty = np.zeros((0, spec.img_size, spec.img_size, 3), np.uint8)
        return empty, empty.copy()
    return np.stack(gen), np.stack(src)


# ---------------------------------------------------------------------------------------------------- protocol


def evaluate_experiments(
    experiments: Mapping[str, Path | str],
    data: Path | str,
    raw: Path | str,
    out: Path | str,
    syncnet_v2: Path | str | nn.Module | None = None,
    inception: Path | str | nn.Module | None = None,
    classifier: Path | str | nn.Module | None = None,
    config: EvalConfig | None = None,
    dubber_factory: DubberFactory | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the protocol for every experiment (name → generator checkpoint); write and return the results.

    Args:
        experiments: table rows in order, e.g. {"seq": "outputs/stages/seq.ckpt", "pl_da": …}.
        data: preprocessed CREMA-D root holding the test actors (faces, audio, manifest).
        raw: folder with the source videos (``<clip_id>.<ext>``, e.g. CREMA-D's VideoFlash/).
        out: results folder (results.{json,csv,md}, figures/, videos/).
        syncnet_v2, inception, classifier: weights files (or ready modules, as tests pass); None → that metric n/a.
        dubber_factory: ``(checkpoint, device) → object with .dub(...)``; default: emotalk.infer's Dubber.
        progress: called as progress(stage, done, total).
    Returns:
        The results dict also written to ``out/results.json``.
    """
    cfg = config or EvalConfig()
    if not experiments:
        raise ConfigError("no experiments to evaluate: pass --experiments NAME=CHECKPOINT ...")
    out = Path(out)
    device = cfg.resolved_device()
    t_start = time.perf_counter()
    judges = load_judges(syncnet_v2, inception, classifier, device)
    for metric, note in sorted(judges.notes.items()):
        log.warning("%s will be reported as %s", metric, note)
    clips = select_clips(data, raw, cfg.actors, cfg.max_clips, cfg.seed)
    log.info("evaluating %d experiments on %d clips x %d emotions", len(experiments), len(clips), len(EMOTIONS))
    notes: list[str] = []
    fid = _fid_meter(judges, cfg, device)
    gate_result, real_feats = _real_pass(data, cfg, judges, fid, device, progress)
    if gate_result is not None and gate_result.forced:
        notes.append(f"EmoAcc judge forced: {gate_result.describe()}.")
    figures = out / "figures"
    lse_eval = _lse_evaluator(judges, cfg, device)
    from emotalk.evaluate.lse import DETECT_MAX_SIDE
    from emotalk.video.faces import FaceDetector

    detector = FaceDetector(max_side=DETECT_MAX_SIDE)
    audio_for = assign_audio(clips, cfg.seed)
    factory = dubber_factory or default_dubber_factory
    records: list[VideoRecord] = []
    rows: list[dict[str, Any]] = []
    for x, (name, ckpt) in enumerate(experiments.items()):
        exp_records = _run_experiment(
            name, Path(ckpt), clips, audio_for, out, cfg, device, factory, detector, lse_eval, judges, fid, progress
        )
        records += exp_records
        rows += table_rows(name, exp_records, fid_cells(fid, cfg, [x]) if fid is not None else {}, judges, cfg, [x])
        if judges.classifier is not None:
            _experiment_figures(name, Path(ckpt), exp_records, clips, real_feats, cfg, figures)
        if fid is not None:
            fid.reset_fake()
    detector.close()
    if gate_result is not None:
        _judge_figure(gate_result, figures)
    notes += _closing_notes(records, cfg, lse_eval is not None)
    results = {
        "settings": settings_record(data, clips, cfg, judges, gate_result, device, lse_eval),
        "notes": notes,
        "unavailable": judges.notes,
        "metrics": [{"key": k, "title": t, "better": b} for k, t, b in report.METRICS],
        "rows": rows + report.published_rows(),
        "classifier": None if gate_result is None else gate_result.to_dict(),
        "videos": [r.to_dict() for r in records],
        "figures": sorted(str(p.relative_to(out)) for p in figures.glob("*.png")) if figures.is_dir() else [],
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    report.write_results(results, out)
    return results


def _fid_meter(judges: Judges, cfg: EvalConfig, device: str) -> Any:
    """The per-emotion FID accumulator (fid.EmotionFID), None without Inception weights."""
    if judges.inception is None:
        return None
    from emotalk.evaluate.fid import EmotionFID

    return EmotionFID(judges.inception, device, cfg.fid_batch)


def _lse_evaluator(judges: Judges, cfg: EvalConfig, device: str) -> Any:
    """The LSE-D/LSE-C scorer (lse.LSEEvaluator), None without SyncNet v2 weights."""
    if judges.syncnet is None:
        return None
    from emotalk.evaluate.lse import LSEEvaluator

    return LSEEvaluator(
        judges.syncnet,
        cfg.lse_mode,
        cfg.min_track,
        cfg.min_face_size,
        device,  # type: ignore[arg-type]
    )


def _judge_figure(gate_result: GateResult, figures: Path) -> None:
    """The judge's confusion matrix on the real test clips: what its gate was decided on."""
    from emotalk.plots import save_confusion_matrix

    save_confusion_matrix(
        np.asarray(gate_result.confusion),
        EMOTIONS,
        figures / "confusion_classifier_real.png",
        f"judge on real test clips: {gate_result.accuracy:.1%} (n={gate_result.n_clips})",
    )


def _real_pass(
    data: Path | str, cfg: EvalConfig, judges: Judges, fid: Any, device: str, progress: Progress | None
) -> tuple[GateResult | None, dict[str, tuple[np.ndarray, int]]]:
    """One pass over every real clip of the test actors (not only the selected ones): the judge's gate, the real FID
    sets of all six emotions, the real points of the t-SNE. The gate is checked before any dubbing.

    Returns:
        (the gate's verdict, None without a judge; clip id -> (judge feature, emotion index) for the t-SNE).
    """
    real_feats: dict[str, tuple[np.ndarray, int]] = {}
    labels, preds, skipped = [], [], 0
    real_metas = test_clips(data, cfg.actors)
    if judges.classifier is not None:
        for i, m in enumerate(real_metas):
            faces, has_face = load_faces(data, m)
            v = classify_video(judges.classifier, faces, has_face, cfg.aggregate, device)  # type: ignore[arg-type]
            if v.prediction is None:
                skipped += 1
            else:
                labels.append(EMOTIONS.index(m.emotion or ""))
                preds.append(v.prediction)
            if v.feature is not None:
                real_feats[m.clip_id] = (v.feature, EMOTIONS.index(m.emotion or ""))
            if progress:
                progress("classifier gate", i + 1, len(real_metas))
    gate_result: GateResult | None = None
    if judges.classifier is not None:
        gate_result = gate(labels, preds, skipped, cfg.gate, cfg.force, cfg.aggregate)
        log.info("%s", gate_result.describe())
    if fid is not None:
        for i, m in enumerate(real_metas):
            faces, has_face = load_faces(data, m)
            keep = _fid_frames(has_face, cfg.fid_stride)
            if keep.any():
                fid.update(faces[keep], m.emotion or "", real=True, video_id=m.clip_id)
            if progress:
                progress("real FID features", i + 1, len(real_metas))
    return gate_result, real_feats


def _experiment_figures(
    name: str,
    ckpt: Path,
    records: Sequence[VideoRecord],
    clips: Sequence[EvalClip],
    real_feats: Mapping[str, tuple[np.ndarray, int]],
    cfg: EvalConfig,
    figures: Path,
) -> None:
    """The judge's confusion matrix on one experiment's dubbed videos, and its t-SNE figure."""
    from emotalk.plots import save_confusion_matrix

    swaps = [r for r in records if r.kind == "swap" and r.emo_pred is not None]
    cm = confusion([EMOTIONS.index(r.emotion) for r in swaps], [EMOTIONS.index(r.emo_pred) for r in swaps])
    acc = np.trace(cm) / max(cm.sum(), 1)
    save_confusion_matrix(
        cm, EMOTIONS, figures / f"confusion_{name}.png", f"{name}: EmoAcc {acc:.1%} (n={int(cm.sum())})"
    )
    tsne_figure(name, ckpt, list(records), clips, dict(real_feats), cfg, figures)


def _closing_notes(records: Sequence[VideoRecord], cfg: EvalConfig, scored_lse: bool) -> list[str]:
    """What the table cannot show: dubbed videos without a usable face track, and videos that failed."""
    notes = []
    unscored = [r for r in records if r.kind == "swap" and r.lse_d is None and scored_lse]
    if unscored:
        notes.append(
            f"{len(unscored)} of {sum(r.kind == 'swap' for r in records)} dubbed videos had no face track with more "
            f"than {cfg.min_track} detections and are left out of LSE-D/LSE-C."
        )
    failed = [r for r in records if r.error]
    if failed:
        notes.append(f"{len(failed)} videos could not be dubbed or scored (see results.json 'videos').")
    return notes


def _run_experiment(
    name: str,
    ckpt: Path,
    clips: Sequence[EvalClip],
    audio_for: Mapping[tuple[str, str], EvalClip],
    out: Path,
    cfg: EvalConfig,
    device: str,
    factory: DubberFactory,
    detector: Any,
    lse_eval: Any,
    judges: Judges,
    fid: Any,
    progress: Progress | None,
) -> list[VideoRecord]:
    from emotalk.evaluate.image_metrics import video_ssim_psnr
    from emotalk.evaluate.lse import read_audio_int16
    from emotalk.video.decode import read_frames

    dubber = factory(ckpt, device)
    folder = out / "videos" / name
    folder.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[EvalClip, str, EvalClip, str]] = []
    for c in clips:
        jobs += [(c, e, audio_for[(c.clip_id, e)], "swap") for e in EMOTIONS]
        if cfg.reconstruction:
            jobs.append((c, c.emotion, c, "recon"))
    records = []
    source_cache: tuple[str, list[np.ndarray]] | None = None
    for k, (c, emotion, audio_clip, kind) in enumerate(jobs):
        dst = folder / f"{c.clip_id}__{emotion if kind == 'swap' else 'recon'}.mp4"
        rec = VideoRecord(name, c.clip_id, c.meta.actor, c.emotion, emotion, audio_clip.clip_id, kind, str(dst))
        records.append(rec)
        try:
            if not dst.is_file():
                dubber.dub(c.video, audio_clip.audio, emotion, dst, strength=cfg.strength)
            a = analyse(dst, detector)
            rec.n_frames, rec.n_face_frames = len(a.frames), int(a.has_face.sum())
            if lse_eval is not None and kind == "swap":
                vs = lse_eval.score_frames(a.frames, read_audio_int16(dst), str(dst), detections=a.detections)
                if vs.score is not None:
                    rec.lse_d, rec.lse_c, rec.offset = vs.score.lse_d, vs.score.lse_c, vs.score.offset
                rec.lse_reason = vs.reason
            keep = _fid_frames(a.has_face, cfg.fid_stride)
            if fid is not None and kind == "swap" and keep.any():
                fid.update(a.faces[keep], emotion, real=False, video_id=f"{c.clip_id}__{emotion}")
            if judges.classifier is not None and kind == "swap":
                v = classify_video(judges.classifier, a.faces, a.has_face, cfg.aggregate, device)  # type: ignore[arg-type]
                rec.emo_windows = v.n_windows
                rec.emo_pred = None if v.prediction is None else EMOTIONS[v.prediction]
                rec.feature = None if v.feature is None else v.feature.tolist()
            if source_cache is None or source_cache[0] != c.clip_id:
                source_cache = (c.clip_id, list(read_frames(c.video, fps=DEFAULT_SPEC.fps)))
            g, s = source_crops(source_cache[1], a)
            if len(g):
                rec.ssim, rec.psnr = video_ssim_psnr(g, s, cfg.gray)
        except EmotalkError as exc:  # one bad video must not sink the whole table; it is counted and listed
            rec.error = str(exc)
            log.warning("%s: %s", dst.name, exc)
        if progress:
            progress(name, k + 1, len(jobs))
    return records
