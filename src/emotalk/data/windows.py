"""Sample windows over preprocessed clips (data/clips.py) for the three consumers (mission.md §3).

* ``generator``: target = frames f..f+T-1, reference = T frames from another start f' ≠ f of the same clip,
  per-frame mels (16 columns from ``spec.mel_start(k)`` for each frame k) and the sync-loss mel (16 columns from
  ``spec.mel_start(f)``), emotion and level → `GeneratorBatch`.
* ``syncnet``: the audio window of f against the video window at f (label 1) or at a start f' with
  |f' − f| ≥ ``neg_min_offset`` (label 0, default T: the two windows share no frame) → `SyncBatch`.
* ``emotion``: T consecutive full-face frames and the clip's emotion → `ClipBatch`.

A window is valid only when all its T frames have a face (``has_face``); frames keep their index and are never
renumbered. For ``generator`` and ``syncnet`` the audio windows of all T frames must also lie inside the mel, so
no window is padded or shifted: the valid range follows from ``spec.mel_start`` (one convention,
``spec.audio_offset_frames``, used here and at inference; reference-code.md Q3).

Training draws a random clip of its own split and a random start per item (an epoch is ``samples_per_epoch``
items); the reference instead ignores the index and draws from *all* clips (§2.2, Q2). Evaluation serves a fixed
plan of (clip, start, aux) rows built from a seed: evenly spaced starts per clip, identical in every epoch and
for any number of workers. Items are dicts of numpy arrays (uint8 frames [T, H, W, 3] BGR, float32 mels);
`collate_fn` (or `WindowLoader`, which does the float conversion outside the workers) turns a list of them into
the batch dataclass, where frames become [B, 3, T, H, W] float in [0, 1].
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from emotalk.data.batch import ClipBatch, GeneratorBatch, SyncBatch
from emotalk.data.clips import ClipMeta, clip_dir
from emotalk.data.voice_augment import VoiceAugment
from emotalk.errors import ConfigError
from emotalk.spec import DEFAULT_SPEC, EMOTIONS, LEVELS, AVSpec

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("generator", "syncnet", "emotion")
#: A generator row's aux >= this encodes a reference from another clip: (clip + 1) * stride + start.
REF_CLIP_STRIDE = 1 << 24
MASK_MODES: tuple[str, ...] = ("full", "lower_half")

Item = dict[str, Any]


class FrameTransform(Protocol):
    """What the datasets need from an augmentation (data/augment.py): one call per sample, reseedable."""

    def __call__(self, frames: np.ndarray) -> np.ndarray: ...

    def reseed(self, seed: int) -> None: ...


@dataclass
class ClipWindows:
    """The static window index of one clip (built once in the main process, shared with workers)."""

    meta: ClipMeta
    path: Path
    n_frames: int
    n_mel: int
    face_starts: np.ndarray  # int64: starts f whose T frames all have a face
    starts: np.ndarray  # int64: face_starts whose T per-frame audio windows all lie inside the mel

    @property
    def emotion(self) -> int:
        return EMOTIONS.index(self.meta.emotion) if self.meta.emotion else -1

    @property
    def level(self) -> int:
        return LEVELS.index(self.meta.level) if self.meta.level else -1


def face_window_starts(has_face: np.ndarray, T: int) -> np.ndarray:
    """Starts f (ascending) such that frames f..f+T-1 all have a face.

    >>> face_window_starts(np.array([1, 1, 1, 0, 1, 1, 1, 1], bool), 3).tolist()
    [0, 4, 5]
    """
    ok = np.asarray(has_face, dtype=bool)
    n = len(ok) - T + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    c = np.concatenate([[0], np.cumsum(ok, dtype=np.int64)])
    s = np.arange(n, dtype=np.int64)
    return s[(c[s + T] - c[s]) == T]


def frame_mel_starts(start: int, spec: AVSpec, fps: float) -> np.ndarray:
    """First mel column of the audio window of each frame start..start+T-1 (spec.mel_start, one convention)."""
    return np.array([spec.mel_start(start + k, fps) for k in range(spec.T)], dtype=np.int64)


def audio_valid(starts: np.ndarray, n_mel: int, spec: AVSpec, fps: float) -> np.ndarray:
    """Mask over `starts`: every per-frame audio window of the T frames lies inside [0, n_mel).

    mel_start is monotone in the frame, so the first frame's window bounds the left and the last one's the right.
    """
    first = np.array([spec.mel_start(int(f), fps) for f in starts], dtype=np.int64)
    last = np.array([spec.mel_start(int(f) + spec.T - 1, fps) for f in starts], dtype=np.int64)
    return (first >= 0) & (last + spec.mel_step <= n_mel) if len(starts) else np.zeros(0, bool)


def index_clip(root: Path | str, meta: ClipMeta, spec: AVSpec = DEFAULT_SPEC) -> ClipWindows:
    """Read has_face.npy and the mel's shape (header only) of one clip and compute its valid starts."""
    path = clip_dir(root, meta.clip_id)
    has_face = np.load(path / "has_face.npy")
    n_mel = int(np.load(path / "mel.npy", mmap_mode="r").shape[1])
    face_starts = face_window_starts(has_face, spec.T)
    starts = face_starts[audio_valid(face_starts, n_mel, spec, meta.fps)]
    return ClipWindows(meta, path, len(has_face), n_mel, face_starts, starts)


def build_index(root: Path | str, metas: Sequence[ClipMeta], spec: AVSpec = DEFAULT_SPEC) -> list[ClipWindows]:
    return [index_clip(root, m, spec) for m in metas]


def far_starts(clip: ClipWindows, f: int, min_offset: int) -> np.ndarray:
    """Face-window starts at least `min_offset` frames from f: the off-sync candidates for f."""
    return clip.face_starts[np.abs(clip.face_starts - f) >= min_offset]


class WindowDataset(Dataset):
    """Windows of one split for one consumer (`mode`); see the module docstring.

    Args:
        clips: the split's clips (`build_index`). Clips with no valid window for `mode` are left out (logged).
        mode: generator | syncnet | emotion.
        train: random draws (`samples_per_epoch` items) instead of the fixed evaluation plan.
        windows_per_clip: evaluation: evenly spaced starts per clip.
        max_samples: evaluation: at most this many rows (an evenly spaced subset of the plan); None = all.
        seed: evaluation plan seed; mixed into the training draws.
        augment: applied to all frames of an item at once (data/augment.py), usually only for training.
        neg_min_offset: syncnet: off-sync video starts are at least this many frames away (default T).
        cache_size: clips whose memory maps and mels each worker keeps open (each map holds a file descriptor).
        clip_weights: training: relative probability of drawing each clip (None: uniform), e.g. a data set mixture.
        voice_augment: other voices for the audio of the network being trained (data/voice_augment.py), training
            only: the generator's per-frame mels (the frozen expert's sync window keeps the real audio), or the
            expert's own window in syncnet mode.
    """

    def __init__(
        self,
        clips: Sequence[ClipWindows],
        mode: str = "generator",
        *,
        spec: AVSpec = DEFAULT_SPEC,
        train: bool = True,
        samples_per_epoch: int = 1000,
        windows_per_clip: int = 2,
        max_samples: int | None = None,
        seed: int = 0,
        augment: FrameTransform | None = None,
        neg_min_offset: int | None = None,
        cache_size: int = 64,
        rank: int = 0,
        name: str = "",
        reference_other_clip: float = 0.0,
        clip_weights: Sequence[float] | None = None,
        voice_augment: VoiceAugment | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown data mode {mode!r}; use one of {', '.join(MODES)}")
        self.mode, self.spec, self.train, self.seed = mode, spec, train, int(seed)
        self.augment, self.rank, self.cache_size = augment, int(rank), int(cache_size)
        self.neg_min_offset = spec.T if neg_min_offset is None else int(neg_min_offset)
        self.samples_per_epoch = int(samples_per_epoch)
        self.name = name or ("train" if train else "eval")
        self.clips, self.candidates = self._usable(clips)
        # Training draws: uniform over clips, or by weight (a mixture of data sets, see TalkingFaceDataModule.mix)
        self.p_clip: np.ndarray | None = None
        if clip_weights is not None:
            if len(clip_weights) != len(clips):
                raise ConfigError(f"{len(clip_weights)} clip weights for {len(clips)} clips")
            kept = {id(c) for c in self.clips}
            w = np.array([wt for c, wt in zip(clips, clip_weights, strict=True) if id(c) in kept], dtype=np.float64)
            if len(w) and w.sum() > 0:
                self.p_clip = w / w.sum()
        self.reference_other_clip = float(reference_other_clip)
        self.voice_augment = voice_augment if train else None
        # Other clips of the same actor (any emotion): the counterfactual reference (see _aux).
        by_actor: dict[str, list[int]] = {}
        for i, c in enumerate(self.clips):
            if len(c.face_starts):
                by_actor.setdefault(c.meta.actor, []).append(i)
        self.same_actor = [[j for j in by_actor.get(c.meta.actor, []) if j != i] for i, c in enumerate(self.clips)]
        self.plan = None if train else self._eval_plan(windows_per_clip, max_samples)
        self._rng: np.random.Generator | None = None
        self._rng_pid = -1
        self._faces: OrderedDict[int, np.ndarray] = OrderedDict()
        self._mels: OrderedDict[int, np.ndarray] = OrderedDict()

    # -- index -----------------------------------------------------------------------------------------------
    def _usable(self, clips: Sequence[ClipWindows]) -> tuple[list[ClipWindows], list[np.ndarray]]:
        """Clips with at least one window for this mode, and each one's candidate starts."""
        kept, cands, dropped = [], [], []
        for c in clips:
            if self.mode == "generator":
                cand = c.starts if len(c.face_starts) >= 2 else c.starts[:0]  # a reference needs another start
            elif self.mode == "syncnet":
                lo, hi = (c.face_starts.min(), c.face_starts.max()) if len(c.face_starts) else (0, -1)
                d = self.neg_min_offset
                cand = c.starts[(c.starts - d >= lo) | (c.starts + d <= hi)]  # some off-sync start exists
            else:
                cand = c.face_starts if c.emotion >= 0 else c.face_starts[:0]  # the classifier needs a label
            (kept if len(cand) else dropped).append(c)
            if len(cand):
                cands.append(cand)
        if dropped:
            log.info(
                "%s/%s: %d of %d clips have no valid window (too short, no faces%s), e.g. %s",
                self.name,
                self.mode,
                len(dropped),
                len(clips),
                ", no emotion label" if self.mode == "emotion" else ", audio too short",
                dropped[0].meta.clip_id,
            )
        if not kept:
            log.warning("%s/%s: NO usable clip: this dataset is empty", self.name, self.mode)
        return kept, cands

    def _aux(self, c: int, f: int, rng: np.random.Generator, positive: bool) -> int:
        """Reference start (generator), video start (syncnet: f when in sync) or -1 (emotion)."""
        clip = self.clips[c]
        if self.mode == "generator":
            if self.reference_other_clip > 0 and self.same_actor[c] and rng.random() < self.reference_other_clip:
                # Beyond the paper (reference-code.md Q4): a reference from another clip of the same actor, so
                # identity comes from the reference and the expression must come from the emotion label.
                c2 = self.same_actor[c][int(rng.integers(len(self.same_actor[c])))]
                starts = self.clips[c2].face_starts
                return (c2 + 1) * REF_CLIP_STRIDE + int(starts[rng.integers(len(starts))])
            others = clip.face_starts[clip.face_starts != f]
            return int(others[rng.integers(len(others))])
        if self.mode == "syncnet":
            if positive:
                return f
            far = far_starts(clip, f, self.neg_min_offset)
            return int(far[rng.integers(len(far))])
        return -1

    def _eval_plan(self, windows_per_clip: int, max_samples: int | None) -> np.ndarray:
        """Fixed rows (clip, start, aux): evenly spaced starts per clip, aux drawn from `seed`.

        Sync labels alternate over the plan, so the evaluation set is exactly balanced.
        """
        rng = np.random.default_rng(self.seed)
        rows: list[tuple[int, int, int]] = []
        for c, cand in enumerate(self.candidates):
            k = max(1, min(int(windows_per_clip), len(cand)))
            picks = np.unique(((np.arange(k) + 0.5) * len(cand) / k).astype(np.int64))
            for f in cand[picks]:
                rows.append((c, int(f), self._aux(c, int(f), rng, positive=len(rows) % 2 == 0)))
        plan = np.array(rows, dtype=np.int64).reshape(-1, 3)
        if max_samples is not None and len(plan) > max_samples:
            keep = ((np.arange(max_samples) + 0.5) * len(plan) / max_samples).astype(np.int64)
            plan = plan[keep]
        return plan

    # -- per-worker state ------------------------------------------------------------------------------------
    def _generator(self) -> np.random.Generator:
        """This process's random stream: seeded once per worker (torch seeds each worker differently per epoch
        and per worker id; mixing the rank keeps DDP ranks apart), then stateful, so epochs differ."""
        pid = os.getpid()
        if self._rng is None or self._rng_pid != pid:
            ss = np.random.SeedSequence([self.seed, self.rank, torch.initial_seed() % 2**63])
            self._rng, self._rng_pid = np.random.default_rng(ss), pid
            if self.augment is not None:
                self.augment.reseed(int(self._rng.integers(2**31)))
        return self._rng

    def _frames(self, c: int) -> np.ndarray:
        arr = self._faces.get(c)
        if arr is None:
            arr = np.load(self.clips[c].path / "faces.npy", mmap_mode="r")  # [N, H, W, 3] uint8, not read yet
            self._faces[c] = arr
            if len(self._faces) > self.cache_size:
                self._faces.popitem(last=False)
        else:
            self._faces.move_to_end(c)
        return arr

    def _mel(self, c: int) -> np.ndarray:
        arr = self._mels.get(c)
        if arr is None:
            arr = np.load(self.clips[c].path / "mel.npy")  # [80, M] float32, a few KB per second
            self._mels[c] = arr
            if len(self._mels) > self.cache_size:
                self._mels.popitem(last=False)
        else:
            self._mels.move_to_end(c)
        return arr

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes open their own maps (a pickled np.memmap would be copied into memory).
        state = self.__dict__.copy()
        state["_faces"], state["_mels"], state["_rng"], state["_rng_pid"] = OrderedDict(), OrderedDict(), None, -1
        return state

    # -- items -----------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        if not self.clips:
            return 0
        return self.samples_per_epoch if self.plan is None else len(self.plan)

    def row(self, index: int) -> tuple[int, int, int]:
        """(clip, start, aux) of item `index`: drawn at random when training, from the plan otherwise."""
        if self.plan is not None:
            c, f, aux = self.plan[index]
            return int(c), int(f), int(aux)
        rng = self._generator()
        c = int(rng.integers(len(self.clips)) if self.p_clip is None else rng.choice(len(self.clips), p=self.p_clip))
        cand = self.candidates[c]
        f = int(cand[rng.integers(len(cand))])
        return c, f, self._aux(c, f, rng, positive=bool(rng.random() < 0.5))

    def __getitem__(self, index: int) -> Item:
        if self.plan is None:
            self._generator()  # seeds the augmentation in this worker before its first use
        c, f, aux = self.row(index)
        return self.load(c, f, aux)

    def load(self, c: int, f: int, aux: int) -> Item:
        """The item of row (clip c, start f, aux) as a dict of numpy arrays."""
        T, clip = self.spec.T, self.clips[c]
        faces = self._frames(c)
        item: Item = {"clip": c, "start": f, "emotion": clip.emotion, "level": clip.level}
        if self.mode == "generator":
            # Target and reference together, so one augmentation call gives both the same parameters.
            ref_clip, ref_start = divmod(aux, REF_CLIP_STRIDE)
            ref_faces = faces if ref_clip == 0 else self._frames(ref_clip - 1)
            both = self._augment(np.concatenate([faces[f : f + T], ref_faces[ref_start : ref_start + T]]))
            mel = self._mel(c)
            cols = frame_mel_starts(f, self.spec, clip.meta.fps)[:, None] + np.arange(self.spec.mel_step)
            item |= {
                "target": both[:T],
                "reference": both[T:],
                "indiv_mels": self._voice(np.ascontiguousarray(mel[:, cols].transpose(1, 0, 2))),  # (T, M, S)
                "mel": self._mel_window(mel, f, clip),
                "ref_start": aux,
            }
        elif self.mode == "syncnet":
            item |= {
                "face": self._augment(faces[aux : aux + T]),
                "mel": self._voice(self._mel_window(self._mel(c), f, clip)),  # the expert in training hears any voice
                "label": float(aux == f),
                "video_start": aux,
            }
        else:
            item["frames"] = self._augment(faces[f : f + T])
        return item

    def _mel_window(self, mel: np.ndarray, f: int, clip: ClipWindows) -> np.ndarray:
        """The sync-loss window: `mel_step` columns from spec.mel_start(f) (inside the mel by construction)."""
        s = self.spec.mel_start(f, clip.meta.fps)
        return np.ascontiguousarray(mel[:, s : s + self.spec.mel_step])

    def _voice(self, mels: np.ndarray) -> np.ndarray:
        """The audio of the network in training, in another voice when voice_augment is set (one draw per call)."""
        return mels if self.voice_augment is None else self.voice_augment(mels, self._generator(), self.spec)

    def _augment(self, frames: np.ndarray) -> np.ndarray:
        if self.augment is None:
            return np.array(frames)  # copy out of the memory map
        return self.augment(np.ascontiguousarray(frames))


# -- collate -------------------------------------------------------------------------------------------------
# Two stages. `stack_items` runs in the DataLoader workers and keeps frames uint8 [B, T, H, W, 3]: a float
# batch is 4x larger, and moving it through shared memory cost more than the augmentation itself (2 workers
# were slower than none). `finish_batch` runs in the main process (WindowLoader) and builds the dataclass.
# `collate_fn` chains both, for plain DataLoaders.
VIDEO_KEYS: dict[str, tuple[str, ...]] = {
    "generator": ("target", "reference"),
    "syncnet": ("face",),
    "emotion": ("frames",),
}


def stack_items(items: Sequence[Item], mode: str) -> dict[str, torch.Tensor]:
    """Items -> one tensor per field: uint8 frames [B, T, H, W, 3], float32 mels, long labels, float sync label."""
    out = {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in VIDEO_KEYS[mode]}
    if mode in ("generator", "syncnet"):
        out["mel"] = torch.from_numpy(np.stack([it["mel"] for it in items]))  # (B, M, S)
    if mode == "generator":
        out["indiv_mels"] = torch.from_numpy(np.stack([it["indiv_mels"] for it in items]))  # (B, T, M, S)
    if mode == "syncnet":
        out["label"] = torch.tensor([it["label"] for it in items], dtype=torch.float32)
    else:
        out["emotion"] = torch.tensor([it["emotion"] for it in items], dtype=torch.long)
        out["level"] = torch.tensor([it["level"] for it in items], dtype=torch.long)
    if mode == "emotion":
        out["clip"] = torch.tensor([it["clip"] for it in items], dtype=torch.long)
    return out


def to_video(x: torch.Tensor) -> torch.Tensor:
    """uint8 [B, T, H, W, 3] -> float [B, 3, T, H, W] in [0, 1] (BGR kept)."""
    return x.permute(0, 4, 1, 2, 3).contiguous().float().div_(255.0)  # (B, 3, T, H, W)


def video_tensor(frames: Sequence[np.ndarray]) -> torch.Tensor:
    """uint8 [T, H, W, 3] per item -> float [B, 3, T, H, W] in [0, 1]."""
    return to_video(torch.from_numpy(np.stack(frames)))


def apply_mask(target: torch.Tensor, mask_mode: str) -> torch.Tensor:
    """full: all zeros (EmoGen, the generator redraws the whole face); lower_half: rows H/2: zeroed (Wav2Lip)."""
    if mask_mode == "full":
        return torch.zeros_like(target)
    if mask_mode == "lower_half":
        out = target.clone()
        out[..., target.shape[-2] // 2 :, :] = 0
        return out
    raise ConfigError(f"unknown mask_mode {mask_mode!r}; use one of {', '.join(MASK_MODES)}")


def finish_batch(raw: dict[str, torch.Tensor], mode: str, mask_mode: str = "full") -> Any:
    """Stacked fields (`stack_items`) -> GeneratorBatch | SyncBatch | ClipBatch."""
    if mode == "generator":
        target = to_video(raw["target"])
        return GeneratorBatch(
            target=target,
            masked=apply_mask(target, mask_mode),
            reference=to_video(raw["reference"]),
            indiv_mels=raw["indiv_mels"].unsqueeze(2),  # (B, T, 1, M, S)
            mel=raw["mel"].unsqueeze(1),  # (B, 1, M, S)
            emotion=raw["emotion"],
            level=raw["level"],
        )
    if mode == "syncnet":
        return SyncBatch(face=to_video(raw["face"]), mel=raw["mel"].unsqueeze(1), label=raw["label"])
    if mode == "emotion":
        return ClipBatch(frames=to_video(raw["frames"]), emotion=raw["emotion"], level=raw["level"], clip=raw["clip"])
    raise ConfigError(f"unknown data mode {mode!r}; use one of {', '.join(MODES)}")


def _collate(items: Sequence[Item], mode: str, mask_mode: str) -> Any:
    return finish_batch(stack_items(items, mode), mode, mask_mode)


def collate_fn(mode: str, mask_mode: str = "full") -> Callable[[Sequence[Item]], Any]:
    """The (picklable) one-stage collate function of a mode: items -> batch dataclass."""
    _check(mode, mask_mode)
    return partial(_collate, mode=mode, mask_mode=mask_mode)


def _check(mode: str, mask_mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"unknown data mode {mode!r}; use one of {', '.join(MODES)}")
    if mask_mode not in MASK_MODES:
        raise ConfigError(f"unknown mask_mode {mask_mode!r}; use one of {', '.join(MASK_MODES)}")


class WindowLoader(DataLoader):
    """A DataLoader whose workers send compact uint8 stacks; the batch dataclass is built in this process.

    Iterating it yields `GeneratorBatch` / `SyncBatch` / `ClipBatch` exactly like a DataLoader with
    `collate_fn(mode, mask_mode)`, only faster with workers. (Lightning re-creates DataLoader subclasses from
    their init arguments, e.g. to add a DistributedSampler; `mode` and `mask_mode` are such arguments.)
    """

    def __init__(self, dataset: Dataset, mode: str = "generator", mask_mode: str = "full", **kwargs: Any) -> None:
        _check(mode, mask_mode)
        kwargs["collate_fn"] = partial(stack_items, mode=mode)
        super().__init__(dataset, **kwargs)
        self.mode, self.mask_mode = mode, mask_mode

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        for raw in super().__iter__():
            yield finish_batch(raw, self.mode, self.mask_mode)
