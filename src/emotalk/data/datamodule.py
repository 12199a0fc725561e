"""`TalkingFaceDataModule`: the one LightningDataModule over any preprocessed folder (CREMA-D, LRS2, synthetic).

``mode`` picks the consumer (data/windows.py): ``generator`` → `GeneratorBatch`, ``syncnet`` → `SyncBatch`,
``emotion`` → `ClipBatch`. Splits are by actor (data/splits.py); training draws ``samples_per_epoch`` random
windows of the train clips per epoch, validation and test serve a fixed plan.

``root`` may be relative: it is taken relative to the directory the command was started from (Hydra's original
working directory, via ``hydra.utils.to_absolute_path``), so it means the same thing whether or not a run
changes into its output folder (``hydra.job.chdir``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from typing_extensions import override

from emotalk.data.augment import FrameAugment, build_augment
from emotalk.data.clips import CLIPS_DIR, MANIFEST, ClipMeta, read_manifest
from emotalk.data.splits import SPLITS, SplitConfig, assign_splits
from emotalk.data.voice_augment import VoiceAugment
from emotalk.data.windows import MASK_MODES, MODES, ClipWindows, WindowDataset, WindowLoader, build_index
from emotalk.errors import ConfigError, EmotalkError
from emotalk.spec import DEFAULT_SPEC, EMOTIONS, AVSpec

log = logging.getLogger(__name__)


def resolve_root(root: str | Path) -> Path:
    """An absolute data root: relative paths are relative to where the command was started (not Hydra's run dir)."""
    try:
        from hydra.utils import to_absolute_path

        return Path(to_absolute_path(str(root)))
    except ImportError:  # pragma: no cover - hydra is a dependency; keep the module usable without it
        return Path(root).absolute()


def load_clips(root: str | Path) -> list[ClipMeta]:
    """The manifest (or the finished clip folders) of a preprocessed root; a clear error when there is none."""
    root = Path(root)
    hint = (
        "Run `emotalk preprocess --dataset crema_d|lrs2|folder --input <videos> --out <root>` first "
        "(or `emotalk synth` then `emotalk preprocess` for the synthetic set), or point data.root at a "
        "preprocessed folder."
    )
    if not root.is_dir():
        raise EmotalkError(f"data root {root} does not exist. {hint}")
    if not (root / MANIFEST).is_file() and not (root / CLIPS_DIR).is_dir():
        raise EmotalkError(f"data root {root} is not a preprocessed folder (no {MANIFEST}, no {CLIPS_DIR}/). {hint}")
    metas = read_manifest(root)
    if not metas:
        raise EmotalkError(f"data root {root} holds no finished clip. {hint}")
    return metas


class TalkingFaceDataModule(L.LightningDataModule):
    """Train/val/test loaders of windows for the generator, the expert SyncNet or the emotion classifier.

    Args:
        root: a preprocessed folder (data/clips.py layout).
        mode: generator | syncnet | emotion.
        batch_size: items per batch (paper: 16 generator, 64-128 expert and classifier).
        num_workers: DataLoader workers (persistent when > 0).
        mask_mode: full (EmoGen) | lower_half (Wav2Lip); generator mode only.
        augment: a FrameAugment, its config mapping, or None; training loader only.
        split: a SplitConfig or its mapping (test/val actors, folder fractions).
        samples_per_epoch: training items per epoch (drawn at random from the train clips).
        val_windows_per_clip / val_samples: the fixed evaluation plan (evenly spaced starts per clip; at most
            val_samples rows, None = all), used for both validation and test.
        test_windows_per_clip: the test plan's windows per clip when it should differ from validation's (None:
            the same); the classifier scores whole clips at test, as EmoAcc does, so it asks for more.
        neg_min_offset: syncnet: off-sync video windows start at least this many frames away (None: T).
        reference_other_clip: generator: probability that the reference window comes from another clip of the
            same actor (another emotion), so the expression must follow the emotion label; 0 = the paper (Q4).
        seed: seed of the evaluation plan (training draws follow torch's per-worker seeds).
        spec: AVSpec or its dict (T, mel_step, audio_offset_frames, ...); the default spec when None.
        mix_roots: more preprocessed folders mixed into the same splits (e.g. the synthetic CREMA-D beside GRID:
            real mouths from one, identities and emotions from the other).
        mix_ratio: with `mix_roots`, the share of training draws taken from `root` (the rest from the mixed-in
            folders, each clip equally likely within its side); evaluation plans cover every folder's clips.
        unlabelled_emotion: the emotion given to clips without a label (GRID's read speech: "neutral"), so an
            emotion model can train on them; None keeps them unlabelled (-1).
        voice_augment: training loader: other voices for the audio of the network in training, the generator's
            per-frame mels or the expert's window (p, max_warp, gain_db; data/voice_augment.py), for a corpus with
            few speakers; None: off (the paper).
    """

    def __init__(
        self,
        root: str | Path,
        mode: str = "generator",
        batch_size: int = 16,
        num_workers: int = 0,
        mask_mode: str = "full",
        augment: FrameAugment | Mapping[str, Any] | None = None,
        split: SplitConfig | Mapping[str, Any] | None = None,
        samples_per_epoch: int = 4096,
        val_windows_per_clip: int = 2,
        val_samples: int | None = None,
        test_windows_per_clip: int | None = None,
        neg_min_offset: int | None = None,
        seed: int = 0,
        pin_memory: bool = False,
        drop_last: bool = True,
        spec: AVSpec | Mapping[str, Any] | None = None,
        reference_other_clip: float = 0.0,
        mix_roots: Sequence[str | Path] = (),
        mix_ratio: float = 0.5,
        unlabelled_emotion: str | None = None,
        voice_augment: VoiceAugment | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 < float(mix_ratio) <= 1.0:
            raise ConfigError(f"data.mix_ratio={mix_ratio} must be in (0, 1]")
        if unlabelled_emotion is not None and unlabelled_emotion not in EMOTIONS:
            raise ConfigError(f"data.unlabelled_emotion={unlabelled_emotion!r}: use one of {', '.join(EMOTIONS)}")
        self.mix_roots = [resolve_root(r) for r in mix_roots]
        self.mix_ratio, self.unlabelled_emotion = float(mix_ratio), unlabelled_emotion
        self.reference_other_clip = float(reference_other_clip)
        if mode not in MODES:
            raise ConfigError(f"data.mode={mode!r} is unknown; use one of {', '.join(MODES)}")
        if mask_mode not in MASK_MODES:
            raise ConfigError(f"data.mask_mode={mask_mode!r} is unknown; use one of {', '.join(MASK_MODES)}")
        if batch_size < 1 or num_workers < 0 or samples_per_epoch < 1:
            raise ConfigError(
                f"data: batch_size ({batch_size}) and samples_per_epoch ({samples_per_epoch}) must be >= 1, "
                f"num_workers ({num_workers}) >= 0"
            )
        self.root = resolve_root(root)
        self.mode, self.mask_mode = mode, mask_mode
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.augment = build_augment(augment)
        self.voice_augment = VoiceAugment.from_any(voice_augment)
        self.split_cfg = SplitConfig.from_any(split)
        self.samples_per_epoch, self.val_windows_per_clip = int(samples_per_epoch), int(val_windows_per_clip)
        self.val_samples = None if val_samples is None else int(val_samples)
        self.test_windows_per_clip = None if test_windows_per_clip is None else int(test_windows_per_clip)
        self.neg_min_offset, self.seed = neg_min_offset, int(seed)
        self.pin_memory, self.drop_last = pin_memory, drop_last
        if spec is None or isinstance(spec, AVSpec):
            self.spec = spec or DEFAULT_SPEC
        else:
            self.spec = AVSpec.from_dict(dict(spec))
        self.save_hyperparameters(ignore=["augment", "split", "spec", "voice_augment"])
        self.hparams["augment"] = None if self.augment is None else dict(self.augment.config)
        self.hparams["voice_augment"] = None if self.voice_augment is None else self.voice_augment.config
        self.hparams["split"] = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self.split_cfg).items()}
        self.metas: list[ClipMeta] = []
        self.split_index: dict[str, list[int]] = {}
        self.datasets: dict[str, WindowDataset] = {}

    # -- setup -----------------------------------------------------------------------------------------------
    @override
    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        sources = [self.root, *self.mix_roots]
        per_root = [load_clips(r) for r in sources]
        if self.unlabelled_emotion:
            per_root = [
                [m if m.emotion else replace(m, emotion=self.unlabelled_emotion) for m in ms] for ms in per_root
            ]
        self.metas = [m for ms in per_root for m in ms]
        self.split_index = assign_splits(self.metas, self.split_cfg)
        index = [w for r, ms in zip(sources, per_root, strict=True) for w in build_index(r, ms, self.spec)]
        # training draw weight per clip: mix_ratio shared by the primary root's clips, the rest by the others'
        n_primary = len(per_root[0])
        is_primary = np.arange(len(self.metas)) < n_primary
        rank = self.trainer.global_rank if self.trainer is not None else 0
        for s in SPLITS:
            clips: list[ClipWindows] = [index[i] for i in self.split_index[s]]
            train = s == "train"
            per_clip = self.val_windows_per_clip
            if s == "test" and self.test_windows_per_clip:
                per_clip = self.test_windows_per_clip
            weights = None
            if train and self.mix_roots:
                prim = is_primary[self.split_index[s]]
                n_p, n_o = int(prim.sum()), int((~prim).sum())
                share = (self.mix_ratio if n_o else 1.0, 1.0 - self.mix_ratio if n_p else 1.0)
                weights = np.where(prim, share[0] / max(n_p, 1), share[1] / max(n_o, 1)).tolist()
            self.datasets[s] = WindowDataset(
                clips,
                self.mode,
                spec=self.spec,
                train=train,
                samples_per_epoch=self.samples_per_epoch,
                windows_per_clip=per_clip,
                max_samples=self.val_samples,
                seed=self.seed,
                augment=self.augment if train else None,
                neg_min_offset=self.neg_min_offset,
                rank=rank,
                name=s,
                reference_other_clip=self.reference_other_clip,
                clip_weights=weights,
                voice_augment=self.voice_augment,  # the dataset keeps it for training only
            )
        log.info(
            "data %s (%s): %s",
            self.root,
            self.mode,
            ", ".join(
                f"{s} {len(self.split_index[s])} clips / {len(self.datasets[s].clips)} usable / "
                f"{len(self.datasets[s])} items"
                for s in SPLITS
            ),
        )

    def _loader(self, split: str, train: bool) -> WindowLoader:
        if not self.datasets:
            self.setup()
        ds = self.datasets[split]
        if len(ds) == 0:
            log.warning("the %s loader is EMPTY (no usable %s clip under %s)", split, self.mode, self.root)
        return WindowLoader(
            ds,
            mode=self.mode,
            mask_mode=self.mask_mode,
            batch_size=self.batch_size,
            shuffle=False,  # training items are random draws already; evaluation keeps its plan order
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
            drop_last=self.drop_last and train and len(ds) >= self.batch_size,
        )

    @override
    def train_dataloader(self) -> WindowLoader:
        return self._loader("train", train=True)

    @override
    def val_dataloader(self) -> WindowLoader:
        return self._loader("val", train=False)

    @override
    def test_dataloader(self) -> WindowLoader:
        return self._loader("test", train=False)
