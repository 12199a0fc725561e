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
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emotalk.data.clips import ClipMeta, clip_dir
from emotalk.spec import DEFAULT_SPEC, AVSpec

log = logging.getLogger(__name__)

MAX_OFFSET = 15
IN_SYNC_TOLERANCE = 1  # frames
SILENCE_DB = 30.0  # a frame is silent when its RMS is this many dB below the clip's 95th percentile frame
#: face-mesh landmarks: inner lip centres (upper, lower) and mouth corners
_LIP_IN, _CORNERS = (13, 14), (61, 291)


@dataclass
class FaceClip:
    """One preprocessed clip in memory (face frames only)."""

    clip_id: str
    actor: str
    faces: np.ndarray  # uint8 BGR [N, S, S, 3], frames with a face
    wav: np.ndarray  # float32 16 kHz mono
    fps: float
    silences: list[list[int]] = field(default_factory=list)  # [[start, end), ...] frames (GRID alignments)

    @classmethod
    def load(cls, root: Path | str, meta: ClipMeta) -> FaceClip:
        from emotalk.audio.load import load_audio

        d = clip_dir(root, meta.clip_id)
        has_face = np.load(d / "has_face.npy")
        faces = np.load(d / "faces.npy")
        if not has_face.all():  # keep the longest run of face frames: windows must be consecutive frames
            runs = np.split(np.arange(len(has_face)), np.flatnonzero(np.diff(has_face.astype(np.int8))) + 1)
            best = max((r for r in runs if has_face[r[0]]), key=len)
            faces = faces[best]
        return cls(
            meta.clip_id,
            meta.actor,
            faces,
            load_audio(d / "audio.wav"),
            meta.fps,
            [list(s) for s in meta.extra.get("silences", [])] if has_face.all() else [],
        )


def pingpong(n_frames: int, length: int) -> np.ndarray:
    """Frame indices that run back and forth over `n_frames` frames for `length` output frames (no jump cut)."""
    if n_frames <= 1:
        return np.zeros(length, np.int64)
    period = 2 * (n_frames - 1)
    k = np.arange(length) % period
    return np.where(k < n_frames, k, period - k).astype(np.int64)


def mel_windows(wav: np.ndarray, n_frames: int, fps: float, spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    from emotalk.infer.audio import MelSource

    return MelSource(wav, fps, spec).windows(range(n_frames))


def frame_loudness(wav: np.ndarray, n_frames: int, fps: float, spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    from emotalk.infer.audio import MelSource

    src = MelSource(wav, fps, spec)
    return np.array([src.rms_db(i) for i in range(n_frames)])


def silent_frames(loudness_db: np.ndarray, below: float = SILENCE_DB) -> np.ndarray:
    finite = loudness_db[np.isfinite(loudness_db)]
    if finite.size == 0:
        return np.ones(len(loudness_db), bool)
    return ~(loudness_db > np.percentile(finite, 95) - below)


def speech_chunks(paths: Sequence[Path], chunk_s: float = 3.0, min_s: float = 1.5) -> list[tuple[str, np.ndarray]]:
    """Each speech file cut into pieces of `chunk_s` seconds (a tail shorter than `min_s` is dropped)."""
    from emotalk.audio.load import load_audio

    sr = DEFAULT_SPEC.sample_rate
    out = []
    for p in paths:
        wav = load_audio(p, sr)
        step = int(chunk_s * sr)
        for i, s in enumerate(range(0, len(wav), step)):
            piece = wav[s : s + step]
            if len(piece) >= min_s * sr:
                out.append((f"{Path(p).stem}#{i}", piece))
    return out


# ---------------------------------------------------------------------------------------------------- sync judge


class SyncJudge:
    """The expert SyncNet's offset curve for frames and audio (cosine of the two embeddings)."""

    def __init__(self, expert: torch.nn.Module, spec: AVSpec = DEFAULT_SPEC, batch: int = 64) -> None:
        self.net, self.spec, self.batch = expert.eval(), spec, batch

    @torch.inference_mode()
    def embeddings(self, frames: np.ndarray, mels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Face embeddings of every T-frame window [n - T + 1, D] and audio embeddings of every frame's window."""
        T = self.spec.T
        x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0).permute(3, 0, 1, 2)  # (3, N, S, S)
        wins = x.unfold(1, T, 1).permute(1, 0, 4, 2, 3)  # (N - T + 1, 3, T, S, S)
        face = torch.cat([self.net.embed_face(wins[i : i + self.batch]) for i in range(0, len(wins), self.batch)])
        m = torch.from_numpy(np.ascontiguousarray(mels, dtype=np.float32)).unsqueeze(1)  # (N, 1, 80, 16)
        audio = torch.cat([self.net.embed_audio(m[i : i + self.batch]) for i in range(0, len(m), self.batch)])
        return face, audio

    def curve(self, frames: np.ndarray, mels: np.ndarray, max_offset: int = MAX_OFFSET) -> np.ndarray:
        """Mean cosine over windows at each audio offset d in [-max_offset, max_offset] (positive: audio later)."""
        face, audio = self.embeddings(frames, mels)
        n = len(face)
        out = np.full(2 * max_offset + 1, np.nan)
        for k, d in enumerate(range(-max_offset, max_offset + 1)):
            lo, hi = max(0, -d), min(n, len(audio) - d)
            if hi - lo >= 1:
                out[k] = float(torch.nn.functional.cosine_similarity(face[lo:hi], audio[lo + d : hi + d]).mean())
        return out


def offset_and_confidence(curve: np.ndarray) -> tuple[int, float]:
    valid = np.isfinite(curve)
    k = int(np.nanargmax(curve))
    max_offset = (len(curve) - 1) // 2
    return k - max_offset, float(np.nanmax(curve) - np.median(curve[valid]))


# ---------------------------------------------------------------------------------------------------- mouth opening


class MouthMeter:
    """Mouth opening of face crops: inner-lip gap over mouth width from `video.faces.FaceMesh` (NaN: no mesh).

    The inner lips (not the outer ones the gating's speaker check uses) read ~0 for a closed mouth, so silence
    shows as silence and the silence/speech ratio is not lifted by the lips' own thickness.
    """

    def __init__(self) -> None:
        from emotalk.video.faces import FaceMesh

        self.mesh = FaceMesh(grow=0.0)  # a crop already is the face box

    def __call__(self, crops_bgr: np.ndarray) -> np.ndarray:
        out = np.full(len(crops_bgr), np.nan)
        if len(crops_bgr):
            box = np.array([0.0, 0.0, crops_bgr.shape[2], crops_bgr.shape[1]])
            for i, crop in enumerate(crops_bgr):
                p = self.mesh.landmarks(crop, box)
                if p is not None:
                    gap = np.linalg.norm(p[_LIP_IN[1], :2] - p[_LIP_IN[0], :2])
                    out[i] = gap / max(float(np.linalg.norm(p[_CORNERS[1], :2] - p[_CORNERS[0], :2])), 1e-6)
        return out

    def close(self) -> None:
        self.mesh.close()


def leakage_ratio(opening: np.ndarray, silent: np.ndarray) -> float:
    """Mean opening in silent frames over mean opening in speech frames (NaN when either is missing)."""
    ok = np.isfinite(opening)
    s, v = opening[ok & silent], opening[ok & ~silent]
    if len(s) == 0 or len(v) == 0 or v.mean() <= 0:
        return float("nan")
    return float(s.mean() / v.mean())


# ---------------------------------------------------------------------------------------------------- protocol


@dataclass
class RealFaceResult:
    checkpoint: str
    expert: str
    n_test_clips: int
    reenactment: dict[str, float] = field(default_factory=dict)
    dubbing: dict[str, float] = field(default_factory=dict)
    real: dict[str, float] = field(default_factory=dict)
    leakage: dict[str, float] = field(default_factory=dict)
    others: dict[str, dict[str, float]] = field(default_factory=dict)
    video: dict[str, float] = field(default_factory=dict)
    per_clip: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)


def _lower(x: np.ndarray) -> np.ndarray:
    return x[:, x.shape[1] // 2 :]


def reenact(model: Any, clip: FaceClip, other: FaceClip, spec: AVSpec = DEFAULT_SPEC) -> np.ndarray:
    """The clip's frames regenerated from its own audio, with the reference frames taken from `other`."""
    n = len(clip.faces)
    refs = other.faces[pingpong(len(other.faces), n)]
    mels = mel_windows(clip.wav, n, clip.fps, spec)
    return _generate(model, clip.faces, refs, mels)


@torch.inference_mode()
def _generate(model: Any, target: np.ndarray, refs: np.ndarray, mels: np.ndarray, batch: int = 32) -> np.ndarray:
    """Generator frames for masked `target` + `refs` (what LoadedGenerator does with refs = target)."""
    out = []
    emo = np.zeros((len(target), 6), np.float32)
    emo[:, 4] = 1.0  # neutral (ignored by models without emotion)
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
    return _generate(model, frames, frames, mels), mels


def video_checks(
    checkpoint: Path, data: Path, metas: Sequence[ClipMeta], chunks: Sequence[tuple[str, np.ndarray]], work: Path
) -> dict[str, float]:
    """Dub whole source videos (speech chunk i for clip i) and compare eyes and lower-face sharpness to the source."""
    import cv2

    from emotalk.audio.load import write_wav
    from emotalk.evaluate.image_metrics import frame_ssim_psnr
    from emotalk.infer.pipeline import Dubber
    from emotalk.video.decode import read_frames

    eye, sharp = [], []
    work.mkdir(parents=True, exist_ok=True)
    with Dubber(checkpoint) as dubber:
        for i, meta in enumerate(metas):
            wav_path = work / f"speech_{i}.wav"
            write_wav(wav_path, chunks[i % len(chunks)][1], DEFAULT_SPEC.sample_rate)
            out = dubber.dub(meta.source, wav_path, "neutral", work / f"dub_{i}.mp4").output
            src, dub_ = read_frames(meta.source, fps=DEFAULT_SPEC.fps), read_frames(out)
            boxes = np.load(clip_dir(data, meta.clip_id) / "boxes.npy")
            n = min(len(src), len(dub_), len(boxes))
            eyes_s, eyes_d, lap = [], [], []
            for j in range(n):
                if not np.isfinite(boxes[j]).all():
                    continue
                x1, y1, x2, y2 = (int(np.rint(v)) for v in boxes[j])
                h = y2 - y1
                band = slice(y1 + int(0.15 * h), y1 + int(0.45 * h))
                eyes_s.append(cv2.resize(src[j][band, x1:x2], (96, 32)))
                eyes_d.append(cv2.resize(dub_[j][band, x1:x2], (96, 32)))
                low = slice(y1 + int(0.6 * h), y2)
                var = [
                    cv2.Laplacian(cv2.cvtColor(f[low, x1:x2], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
                    for f in (src[j], dub_[j])
                ]
                lap.append(var[1] / max(var[0], 1e-6))
            if eyes_s:
                eye.append(float(frame_ssim_psnr(np.stack(eyes_d), np.stack(eyes_s), gray=True)[0].mean()))
                sharp.append(float(np.mean(lap)))
    return {"eye_ssim": _mean(eye), "lower_sharpness_ratio": _mean(sharp), "n_videos": len(eye)}


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
    from emotalk.data.datamodule import load_clips
    from emotalk.data.splits import SplitConfig, assign_splits
    from emotalk.evaluate.image_metrics import frame_ssim_psnr
    from emotalk.infer.model import load_generator
    from emotalk.models.stages import load_net

    t0 = time.perf_counter()
    model = load_generator(checkpoint, device=device)
    judge = SyncJudge(load_net(expert_path, "syncnet", "expert SyncNet", "syncnet_grid"))
    metas = load_clips(data)
    test = [metas[i] for i in assign_splits(metas, SplitConfig(actor_datasets=("grid",)), warn=False)["test"]]
    rng = np.random.default_rng(seed)
    if max_clips and len(test) > max_clips:
        test = [test[i] for i in sorted(rng.choice(len(test), max_clips, replace=False))]
    clips = [FaceClip.load(data, m) for m in test]
    if len(clips) < 2:
        raise ValueError(f"{data} has {len(clips)} test clips; self-reenactment needs at least 2")
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
    gen_m: dict[str, list[float]] = {k: [] for k in ("ssim", "psnr", "ref_ssim", "ref_psnr")}
    real_conf, real_off, dub_conf, dub_off, leak_dub, leak_real = [], [], [], [], [], []
    for i, clip in enumerate(clips):
        other = clips[(i + 1 + int(rng.integers(len(clips) - 1))) % len(clips)]
        if other is clip:
            other = clips[(i + 1) % len(clips)]
        fake = reenact(model, clip, other)
        refs = other.faces[pingpong(len(other.faces), len(clip.faces))]
        s, p = frame_ssim_psnr(_lower(fake), _lower(clip.faces))
        rs, rp = frame_ssim_psnr(_lower(refs), _lower(clip.faces))
        for k, v in zip(gen_m, (s, p, rs, rp), strict=True):
            gen_m[k].append(float(np.mean(v)))
        own_mels = mel_windows(clip.wav, len(clip.faces), clip.fps)
        off, conf = offset_and_confidence(judge.curve(clip.faces, own_mels))
        real_off.append(off)
        real_conf.append(conf)
        name, wav = chunks[i % len(chunks)]
        dubbed, mels = dub(model, clip, wav)
        d_off, d_conf = offset_and_confidence(judge.curve(dubbed, mels))
        dub_off.append(d_off)
        dub_conf.append(d_conf)
        row: dict[str, Any] = {
            "clip": clip.clip_id,
            "speech": name,
            "reenact_ssim": gen_m["ssim"][-1],
            "reenact_psnr": gen_m["psnr"][-1],
            "copy_ssim": gen_m["ref_ssim"][-1],
            "copy_psnr": gen_m["ref_psnr"][-1],
            "real_offset": off,
            "real_conf": conf,
            "dub_offset": d_off,
            "dub_conf": d_conf,
        }
        if i < leakage_clips:
            silent = silent_frames(frame_loudness(wav, len(dubbed), clip.fps))
            row["dub_leakage"] = leakage_ratio(meter(dubbed), silent)
            leak_dub.append(row["dub_leakage"])
            if clip.silences:
                real_silent = np.zeros(len(clip.faces), bool)
                for a, b in clip.silences:
                    real_silent[a:b] = True
                row["real_leakage"] = leakage_ratio(meter(clip.faces), real_silent)
                leak_real.append(row["real_leakage"])
        res.per_clip.append(row)
        log.info("%d/%d %s: %s", i + 1, len(clips), clip.clip_id, row)
    res.reenactment = {
        "lower_ssim": _mean(gen_m["ssim"]),
        "lower_psnr": _mean(gen_m["psnr"]),
        "copy_reference_lower_ssim": _mean(gen_m["ref_ssim"]),
        "copy_reference_lower_psnr": _mean(gen_m["ref_psnr"]),
    }
    res.real = _sync_summary(real_off, real_conf)
    res.dubbing = _sync_summary(dub_off, dub_conf)
    res.dubbing["conf_vs_real"] = res.dubbing["conf_mean"] / res.real["conf_mean"] if res.real["conf_mean"] else 0.0
    res.leakage = {
        "dub_silent_over_speech": _mean(leak_dub),
        "real_silent_over_speech": _mean(leak_real),
        "n_dubs": int(np.isfinite(leak_dub).sum()) if leak_dub else 0,
    }
    grid_rows: list[tuple[str, np.ndarray, np.ndarray]] = [
        (clips[0].clip_id, clips[0].faces, dub(model, clips[0], chunks[0][1])[0])
    ]
    if others is not None:
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
    meter.close()
    if video_clips:
        res.video = video_checks(checkpoint, data, test[:video_clips], chunks, out / "videos")
    res.wall_seconds = time.perf_counter() - t0
    write_results(res, out, grid_rows)
    return res


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


def write_results(res: RealFaceResult, out: Path, grid_rows: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _atomic(out / "results.json", json.dumps(asdict(res), indent=2, default=float))
    _atomic(out / "results.md", render_markdown(res))
    save_dub_grid(out / "samples.png", grid_rows)


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def render_markdown(res: RealFaceResult) -> str:
    r, d, real, lk = res.reenactment, res.dubbing, res.real, res.leakage
    lines = [
        f"# Real-face protocol: {Path(res.checkpoint).name} (expert {Path(res.expert).name})",
        "",
        f"{res.n_test_clips} held-out test clips, {res.wall_seconds:.0f} s wall.",
        "",
        "| measure | model | baseline |",
        "|---|---|---|",
    ]
    rows = [
        ("self-reenactment lower-face SSIM", f"{r['lower_ssim']:.3f}", f"copy {r['copy_reference_lower_ssim']:.3f}"),
        (
            "self-reenactment lower-face PSNR (dB)",
            f"{r['lower_psnr']:.2f}",
            f"copy {r['copy_reference_lower_psnr']:.2f}",
        ),
        (
            f"dubs in sync (expert offset 0 ± {IN_SYNC_TOLERANCE})",
            f"{d['in_sync_fraction']:.0%} of {d['n']}",
            f"real clips, own audio: {real['in_sync_fraction']:.0%}",
        ),
        (
            "expert confidence (max − median cosine)",
            f"{d['conf_mean']:.3f} ({d['conf_vs_real']:.0%} of real)",
            f"real clips, own audio: {real['conf_mean']:.3f}",
        ),
        (
            "mouth opening, silence / speech",
            f"{lk['dub_silent_over_speech']:.2f}",
            f"real clips (alignments): {lk['real_silent_over_speech']:.2f}",
        ),
    ]
    if res.video:
        v = res.video
        rows += [
            (f"eye-region SSIM vs source ({v['n_videos']} whole dubs)", f"{v['eye_ssim']:.3f}", "source: 1"),
            ("lower-face sharpness / source's (Laplacian variance)", f"{v['lower_sharpness_ratio']:.2f}", "source: 1"),
        ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    if res.others:
        lines += [
            "",
            "Other real people (never trained on), dubbed with the same speech:",
            "",
            "| person | dubs in sync | confidence | own audio: offset, confidence | silence / speech opening |",
            "|---|---|---|---|---|",
        ]
        for name, o in res.others.items():
            lines.append(
                f"| {name} | {o['in_sync_fraction']:.0%} of {o['n']} | {o['conf_mean']:.3f} | "
                f"{o['own_audio_offset']:+d}, {o['own_audio_conf']:.3f} | {o['leakage']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def save_dub_grid(path: Path, rows: Sequence[tuple[str, np.ndarray, np.ndarray]], n: int = 6) -> Path:
    """One row per person: `n` source crops over `n` dubbed crops (the same frames), labelled."""
    import cv2

    tiles = []
    for name, src, dubbed in rows:
        idx = np.linspace(0, min(len(src), len(dubbed)) - 1, n).astype(int)
        top = np.concatenate(list(src[idx]), axis=1)
        bottom = np.concatenate(list(dubbed[idx]), axis=1)
        label = np.full((18, top.shape[1], 3), 255, np.uint8)
        cv2.putText(label, f"{name}: source / dubbed", (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        tiles.append(np.concatenate([label, top, bottom], axis=0))
    from emotalk.video.image_io import write_image

    return write_image(path, np.concatenate(tiles, axis=0))
