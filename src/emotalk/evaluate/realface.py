"""The real-face lip-sync protocol (`emotalk evaluate --dataset grid`): held-out GRID sentences and other real people.

Everything is measured on the 96x96 face crops the model sees (preprocessed clips, data/clips.py), with the
generator exactly as inference runs it (`infer.model.LoadedGenerator`) and the expert SyncNet as the sync judge.
Each figure stands beside the baseline it has to beat:

1. **Self-reenactment** (held-out sentences, own audio, reference window from *another* test clip of the speaker):
   lower-face PSNR / SSIM against the real frames, beside "copy the reference" (the reference's lower half as the
   prediction).
2. **Dubbing with other speech** (continuous speech of other speakers, cut into `chunk_s` pieces; the identity
   frames run back and forth over the clip): the expert's offset curve over ±`max_offset` frames. A dub is in sync
   when its best offset is 0 ± 1 frame; its confidence is max − median of the mean cosine curve (syncnet_python's
   LSE-C rule on our expert's cosine, not comparable with LSE-C numbers). The real clips with their own audio give
   the reference value the dubs must reach (≥ 80 %).
3. **Lip leakage**: the mouth opening (face-mesh inner-lip gap over mouth width) of the dubbed crops in the
   silent frames of the new audio (RMS below `silence_db` under its loudest frames) against its speech frames.
   A mouth that follows the audio closes in silence: ratio well below 1. The real clips' own ratio (GRID's word
   alignments) is printed beside it.
4. **Other people** (never trained on): the same sync figures on any other preprocessed folder, and a sample grid.
5. **Pixels the model was not asked to change** (whole videos through `infer.Dubber`, other speech): eye-region SSIM
   of the dubbed frames against the source and the lower face's sharpness (variance of the Laplacian) relative to
   the source's, inside the preprocessed face boxes.

The measuring tools live in realface_measures.py, the result record and its files in realface_report.py; this
module runs the protocol and re-exports both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emotalk.data.clips import ClipMeta, clip_dir
from emotalk.evaluate.realface_measures import (
    EMOTION_SWEEP,
    IN_SYNC_TOLERANCE,
    MAX_OFFSET,
    SILENCE_DB,
    VOICE_SHIFTS,
    FaceClip,
    MouthMeter,
    SyncJudge,
    frame_loudness,
    leakage_ratio,
    loudness_following,
    mel_windows,
    offset_and_confidence,
    other_voice,
    pingpong,
    silent_frames,
    speech_chunks,
    sweep_key,
)
from emotalk.evaluate.realface_report import RealFaceResult, render_markdown, save_dub_grid, write_results
from emotalk.spec import DEFAULT_SPEC, AVSpec

log = logging.getLogger(__name__)

#: A face clip's name, its source crops and their dub: one row of samples.png.
GridRow = tuple[str, np.ndarray, np.ndarray]


def _lower(x: np.ndarray) -> np.ndarray:
    return x[:, x.shape[1] // 2 :]


def reenact(model: Any, clip: FaceClip, other: FaceClip, spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    """The clip's frames regenerated from its own audio, with the reference frames taken from `other`."""
    n = len(clip.faces)
    refs = other.faces[pingpong(len(other.faces), n)]
    mels = mel_windows(clip.wav, n, clip.fps, spec)
    return generate_frames(model, clip.faces, refs, mels)


@torch.inference_mode()
def generate_frames(
    model: Any, target: np.ndarray, refs: np.ndarray, mels: np.ndarray, emotion: str | int = "neutral", batch: int = 32
) -> np.ndarray:
    """Generator frames for masked `target` + `refs` (what LoadedGenerator does with refs = target), all asked for
    `emotion` (ignored by models without emotion)."""
    from emotalk.infer.emotion import emotion_vector

    out = []
    emo = np.tile(emotion_vector(emotion), (len(target), 1))
    for i in range(0, len(target), batch):
        sl = slice(i, i + batch)
        out.append(model.generate(target[sl], refs[sl], mels[sl], emo[sl]))
    return np.concatenate(out)


def dub(model: Any, clip: FaceClip, wav: np.ndarray, spec: AVSpec = DEFAULT_SPEC) -> tuple[np.ndarray, np.ndarray]:
    """Dubbed crops for `wav` (identity frames back and forth over the clip) and their mel windows."""
    from emotalk.infer.audio import n_output_frames

    n = n_output_frames(len(wav), clip.fps, spec)
    frames = clip.faces[pingpong(len(clip.faces), n)]
    mels = mel_windows(wav, n, clip.fps, spec)
    return generate_frames(model, frames, frames, mels), mels


def _region_measures(src: np.ndarray, dub: np.ndarray, boxes: np.ndarray) -> tuple[float, float] | None:
    """Eye-band SSIM of a dub against its source, and its lower-face sharpness over the source's (None: no face)."""
    import cv2

    from emotalk.evaluate.image_metrics import frame_ssim_psnr

    eyes_s, eyes_d, lap = [], [], []
    for j in range(min(len(src), len(dub), len(boxes))):
        if not np.isfinite(boxes[j]).all():
            continue
        x1, y1, x2, y2 = (int(np.rint(v)) for v in boxes[j])
        h = y2 - y1
        band = slice(y1 + int(0.15 * h), y1 + int(0.45 * h))
        eyes_s.append(cv2.resize(src[j][band, x1:x2], (96, 32)))
        eyes_d.append(cv2.resize(dub[j][band, x1:x2], (96, 32)))
        low = slice(y1 + int(0.6 * h), y2)
        gray = [cv2.cvtColor(f[low, x1:x2], cv2.COLOR_BGR2GRAY) for f in (src[j], dub[j])]
        var = [cv2.Laplacian(g, cv2.CV_64F).var() for g in gray]
        lap.append(var[1] / max(var[0], 1e-6))
    if not eyes_s:
        return None
    return float(frame_ssim_psnr(np.stack(eyes_d), np.stack(eyes_s), gray=True)[0].mean()), float(np.mean(lap))


def video_checks(
    checkpoint: Path, data: Path, metas: Sequence[ClipMeta], chunks: Sequence[tuple[str, np.ndarray]], work: Path
) -> dict[str, float]:
    """Dub whole source videos (speech chunk i for clip i) and compare eyes and lower-face sharpness to the source;
    an emotion model is dubbed in neutral and in each ask of `EMOTION_SWEEP` (``eye_ssim_<emotion>_<strength>``)."""
    from emotalk.audio.load import write_wav
    from emotalk.infer.pipeline import Dubber
    from emotalk.video.decode import read_frames

    found: dict[tuple[str, float], list[tuple[float, float]]] = {}
    work.mkdir(parents=True, exist_ok=True)
    with Dubber(checkpoint) as dubber:
        asks = [("neutral", 1.0), *(EMOTION_SWEEP if dubber.model.uses_emotion else ())]
        for i, meta in enumerate(metas):
            wav_path = work / f"speech_{i}.wav"
            write_wav(wav_path, chunks[i % len(chunks)][1], DEFAULT_SPEC.sample_rate)
            src = read_frames(meta.source, fps=DEFAULT_SPEC.fps)
            boxes = np.load(clip_dir(data, meta.clip_id) / "boxes.npy")
            for emotion, strength in asks:
                out = dubber.dub(meta.source, wav_path, emotion, work / f"dub_{i}_{emotion}_{strength:g}.mp4", strength)
                m = _region_measures(src, read_frames(out.output), boxes)
                if m is not None:
                    found.setdefault((emotion, strength), []).append(m)
    neutral = found.get(("neutral", 1.0), [])
    result = {
        "eye_ssim": _mean([e for e, _ in neutral]),
        "lower_sharpness_ratio": _mean([s for _, s in neutral]),
        "n_videos": len(neutral),
    }
    for emotion, strength in asks[1:]:
        result[sweep_key(emotion, strength)] = _mean([e for e, _ in found.get((emotion, strength), [])])
    return result


def evaluate_realface(
    checkpoint: Path,
    expert_path: Path,
    data: Path,
    speech: Sequence[Path],
    out: Path,
    others: Path | None = None,
    max_clips: int | None = None,
    seed: int = 0,
    chunk_s: float = 3.0,
    leakage_clips: int = 12,
    video_clips: int = 6,
    device: str = "cpu",
) -> RealFaceResult:
    """Run the protocol of the module docstring; write results.json, results.md and samples.png under `out`."""
    from emotalk.infer.model import load_generator
    from emotalk.models.stages import load_net

    t0 = time.perf_counter()
    model = load_generator(checkpoint, device=device)
    judge = SyncJudge(load_net(expert_path, "syncnet", "expert SyncNet", "syncnet_grid"))
    rng = np.random.default_rng(seed)
    test, clips = _test_clips(data, max_clips, rng)
    chunks = speech_chunks(speech, chunk_s)
    if not chunks:
        raise ValueError(f"no speech of at least 1.5 s in {[str(p) for p in speech]}")
    res = RealFaceResult(str(checkpoint), str(expert_path), len(clips))
    res.settings = {
        "max_offset": MAX_OFFSET,
        "in_sync_tolerance": IN_SYNC_TOLERANCE,
        "silence_db": SILENCE_DB,
        "chunk_s": chunk_s,
        "speech": [c[0] for c in chunks],
        "seed": seed,
        "mask_mode": model.mask_mode,
    }
    meter = MouthMeter()
    for i, clip in enumerate(clips):
        other = clips[(i + 1 + int(rng.integers(len(clips) - 1))) % len(clips)]
        if other is clip:
            other = clips[(i + 1) % len(clips)]
        row = _clip_row(model, judge, meter, clip, other, chunks[i % len(chunks)], leakage=i < leakage_clips)
        res.per_clip.append(row)
        log.info("%d/%d %s: %s", i + 1, len(clips), clip.clip_id, row)
    _summarise_held_out(res)
    grid_rows: list[GridRow] = [(clips[0].clip_id, clips[0].faces, dub(model, clips[0], chunks[0][1])[0])]
    if others is not None:
        grid_rows += _other_people(model, judge, meter, others, chunks, res)
    meter.close()
    if video_clips:
        res.video = video_checks(checkpoint, data, test[:video_clips], chunks, out / "videos")
    res.wall_seconds = time.perf_counter() - t0
    write_results(res, out, grid_rows)
    return res


def _test_clips(data: Path, max_clips: int | None, rng: np.random.Generator) -> tuple[list[ClipMeta], list[FaceClip]]:
    """GRID's held-out test clips under `data` (a seeded sample of `max_clips`), with their faces loaded."""
    from emotalk.data.datamodule import load_clips
    from emotalk.data.splits import SplitConfig, assign_splits

    metas = load_clips(data)
    test = [metas[i] for i in assign_splits(metas, SplitConfig(actor_datasets=("grid",)), warn=False)["test"]]
    if max_clips and len(test) > max_clips:
        test = [test[i] for i in sorted(rng.choice(len(test), max_clips, replace=False))]
    clips = [FaceClip.load(data, m) for m in test]
    if len(clips) < 2:
        raise ValueError(f"{data} has {len(clips)} test clips; self-reenactment needs at least 2")
    return test, clips


def _clip_row(
    model: Any,
    judge: SyncJudge,
    meter: MouthMeter,
    clip: FaceClip,
    other: FaceClip,
    chunk: tuple[str, np.ndarray],
    leakage: bool,
) -> dict[str, Any]:
    """Parts 1-3 on one held-out clip: reenacted from `other`'s frames, the real clip's own sync, dubbed with the
    speech `chunk`, and (with `leakage`) the dub's and the real clip's mouth opening in silence over speech.

    Three readings put the dub's confidence in context: the judge's floor (the real frames against the same speech,
    which they do not say), its ceiling for other voices (the real frames against their own words in another voice,
    `VOICE_SHIFTS`) and the dub with `other`'s GRID speech (the voice both the generator and the judge learned).
    With `leakage`, the mouth's loudness-following r, a judge-free measure that works for any voice."""
    from emotalk.evaluate.image_metrics import frame_ssim_psnr

    fake = reenact(model, clip, other)
    refs = other.faces[pingpong(len(other.faces), len(clip.faces))]
    s, p = frame_ssim_psnr(_lower(fake), _lower(clip.faces))
    rs, rp = frame_ssim_psnr(_lower(refs), _lower(clip.faces))
    n = len(clip.faces)
    tracks = [mel_windows(w, n, clip.fps) for w in (clip.wav, *(other_voice(clip.wav, st) for st in VOICE_SHIFTS))]
    (off, conf), *voiced = (offset_and_confidence(c) for c in judge.curves(clip.faces, tracks))
    name, wav = chunk
    dubbed, mels = dub(model, clip, wav)
    d_off, d_conf = offset_and_confidence(judge.curve(dubbed, mels))
    still = clip.faces[pingpong(len(clip.faces), len(dubbed))]
    _, floor_conf = offset_and_confidence(judge.curve(still, mels))
    grid_dub, grid_mels = dub(model, clip, other.wav)
    g_off, g_conf = offset_and_confidence(judge.curve(grid_dub, grid_mels))
    row: dict[str, Any] = {
        "clip": clip.clip_id,
        "speech": name,
        "reenact_ssim": float(np.mean(s)),
        "reenact_psnr": float(np.mean(p)),
        "copy_ssim": float(np.mean(rs)),
        "copy_psnr": float(np.mean(rp)),
        "real_offset": off,
        "real_conf": conf,
        "voiced_in_sync": float(np.mean([abs(o) <= IN_SYNC_TOLERANCE for o, _ in voiced])),
        "voiced_conf": float(np.mean([c for _, c in voiced])),
        "dub_offset": d_off,
        "dub_conf": d_conf,
        "floor_conf": floor_conf,
        "grid_dub_offset": g_off,
        "grid_dub_conf": g_conf,
    }
    if leakage:
        loud = frame_loudness(wav, len(dubbed), clip.fps)
        opening = meter(dubbed)
        row["dub_leakage"] = leakage_ratio(opening, silent_frames(loud))
        row["dub_follow_r"] = loudness_following(opening, loud)
        row["grid_dub_follow_r"] = loudness_following(
            meter(grid_dub), frame_loudness(other.wav, len(grid_dub), clip.fps)
        )
        real_opening = meter(clip.faces)
        row["real_follow_r"] = loudness_following(real_opening, frame_loudness(clip.wav, len(clip.faces), clip.fps))
        if clip.silences:
            real_silent = np.zeros(len(clip.faces), bool)
            for a, b in clip.silences:
                real_silent[a:b] = True
            row["real_leakage"] = leakage_ratio(real_opening, real_silent)
    return row


def _summarise_held_out(res: RealFaceResult) -> None:
    """Fill the reenactment, real, dubbing and leakage figures from the per-clip rows."""
    rows = res.per_clip

    def col(key: str) -> list[Any]:
        return [r[key] for r in rows if key in r]

    res.reenactment = {
        "lower_ssim": _mean(col("reenact_ssim")),
        "lower_psnr": _mean(col("reenact_psnr")),
        "copy_reference_lower_ssim": _mean(col("copy_ssim")),
        "copy_reference_lower_psnr": _mean(col("copy_psnr")),
    }
    res.real = _sync_summary(col("real_offset"), col("real_conf"))
    res.dubbing = _sync_summary(col("dub_offset"), col("dub_conf"))
    real_conf = res.real["conf_mean"]

    def share(x: float) -> float:
        return x / real_conf if real_conf else 0.0

    res.dubbing["conf_vs_real"] = share(res.dubbing["conf_mean"])
    res.dubbing["floor_conf_mean"] = _mean(col("floor_conf"))
    res.dubbing["floor_vs_real"] = share(res.dubbing["floor_conf_mean"])
    res.dubbing["voiced_real_in_sync_fraction"] = _mean(col("voiced_in_sync"))
    res.dubbing["voiced_real_conf_mean"] = _mean(col("voiced_conf"))
    res.dubbing["voiced_real_vs_real"] = share(res.dubbing["voiced_real_conf_mean"])
    grid = _sync_summary(col("grid_dub_offset"), col("grid_dub_conf"))
    res.dubbing |= {f"grid_speech_{k}": v for k, v in grid.items()}
    res.dubbing["grid_speech_conf_vs_real"] = share(grid["conf_mean"])
    leak_dub = col("dub_leakage")
    res.leakage = {
        "dub_silent_over_speech": _mean(leak_dub),
        "real_silent_over_speech": _mean(col("real_leakage")),
        "n_dubs": int(np.isfinite(leak_dub).sum()) if leak_dub else 0,
        "dub_follow_r": _mean(col("dub_follow_r")),
        "grid_dub_follow_r": _mean(col("grid_dub_follow_r")),
        "real_follow_r": _mean(col("real_follow_r")),
    }


def _other_people(
    model: Any,
    judge: SyncJudge,
    meter: MouthMeter,
    others: Path,
    chunks: Sequence[tuple[str, np.ndarray]],
    res: RealFaceResult,
) -> list[GridRow]:
    """Part 4: every clip under `others` dubbed with every speech chunk, into `res.others`; return their grid rows."""
    from emotalk.data.datamodule import load_clips

    grid_rows: list[GridRow] = []
    for meta in load_clips(others):
        person = FaceClip.load(others, meta)
        offs, confs, leaks = [], [], []
        own_off, own_conf = offset_and_confidence(
            judge.curve(person.faces, mel_windows(person.wav, len(person.faces), person.fps))
        )
        for _, wav in chunks:
            dubbed, mels = dub(model, person, wav)
            o, c = offset_and_confidence(judge.curve(dubbed, mels))
            offs.append(o)
            confs.append(c)
            leaks.append(leakage_ratio(meter(dubbed), silent_frames(frame_loudness(wav, len(dubbed), person.fps))))
        res.others[meta.clip_id] = {
            **_sync_summary(offs, confs),
            "own_audio_offset": own_off,
            "own_audio_conf": own_conf,
            "leakage": _mean(leaks),
        }
        grid_rows.append((meta.clip_id, person.faces, dub(model, person, chunks[0][1])[0]))
    return grid_rows


def _mean(xs: Sequence[float]) -> float:
    a = np.asarray(xs, dtype=float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def _sync_summary(offsets: Sequence[int], confs: Sequence[float]) -> dict[str, float]:
    o = np.abs(np.asarray(offsets))
    return {
        "in_sync_fraction": float((o <= IN_SYNC_TOLERANCE).mean()) if o.size else float("nan"),
        "conf_mean": _mean(confs),
        "n": int(o.size),
    }


__all__ = [
    "EMOTION_SWEEP",
    "IN_SYNC_TOLERANCE",
    "MAX_OFFSET",
    "SILENCE_DB",
    "VOICE_SHIFTS",
    "FaceClip",
    "MouthMeter",
    "RealFaceResult",
    "SyncJudge",
    "dub",
    "evaluate_realface",
    "frame_loudness",
    "leakage_ratio",
    "mel_windows",
    "offset_and_confidence",
    "other_voice",
    "pingpong",
    "reenact",
    "render_markdown",
    "save_dub_grid",
    "silent_frames",
    "speech_chunks",
    "video_checks",
    "write_results",
]
