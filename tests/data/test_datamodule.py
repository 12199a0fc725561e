"""Actor splits and the TalkingFaceDataModule, built the way training builds it (Hydra compose + instantiate)."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from emotalk.cremad import ACTORS, TEST_ACTORS, VAL_ACTORS
from emotalk.data.augment import FrameAugment
from emotalk.data.batch import ClipBatch, GeneratorBatch, SyncBatch
from emotalk.data.clips import ClipMeta
from emotalk.data.datamodule import TalkingFaceDataModule
from emotalk.data.splits import SPLITS, SplitConfig, actor_hash_unit, assign_splits, split_of
from emotalk.data.voice_augment import VoiceAugment
from emotalk.errors import ConfigError, EmotalkError
from emotalk.spec import DEFAULT_SPEC

CONF = Path(__file__).resolve().parents[2] / "src" / "emotalk" / "conf"
T = DEFAULT_SPEC.T


def meta(actor: str, dataset: str = "crema_d", split: str | None = None, i: int = 0) -> ClipMeta:
    return ClipMeta(f"{actor}_{i}", dataset, actor, "x", 50, 0, split=split)


def actors_per_split(metas: list[ClipMeta], splits: dict[str, list[int]]) -> dict[str, set[str]]:
    return {s: {metas[i].actor for i in idx} for s, idx in splits.items()}


def compose_data(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(overrides=list(overrides))


def make_dm(root: Path, *overrides: str, data: str = "synthetic") -> TalkingFaceDataModule:
    cfg = compose_data(f"+data={data}", f"data.root={root}", "data.num_workers=0", *overrides)
    dm = instantiate(cfg.data)
    assert isinstance(dm, TalkingFaceDataModule)
    return dm


# -- splits ----------------------------------------------------------------------------------------------------
def test_cremad_split_is_by_actor_with_the_papers_held_out_actors():
    metas = [meta(a, i=i) for a in ACTORS for i in range(3)]
    per = actors_per_split(metas, assign_splits(metas))
    assert per["test"] == set(TEST_ACTORS) == {"1011", "1032", "1050", "1067", "1085"}
    assert per["val"] == set(VAL_ACTORS) == {"1006", "1024", "1043", "1061", "1079"}
    assert len(per["train"]) == 81
    assert not (per["train"] & per["val"]) and not (per["train"] & per["test"]) and not (per["val"] & per["test"])


def test_split_lists_are_configurable(fake_crema):
    _, metas = fake_crema
    cfg = SplitConfig.from_any({"test_actors": [1002], "val_actors": ["1001"]})  # ints from YAML become ids
    per = actors_per_split(metas, assign_splits(metas, cfg))
    assert per == {"train": {"1006", "1011"}, "val": {"1001"}, "test": {"1002"}}
    with pytest.raises(ConfigError, match="both test and validation"):
        SplitConfig(test_actors=("1001",), val_actors=("1001",))
    with pytest.raises(ConfigError, match="unknown split setting"):
        SplitConfig.from_any({"test_actor": ["1001"]})


def test_lrs2_filelist_splits_are_honoured(fake_lrs2):
    _, metas = fake_lrs2
    splits = assign_splits(metas)
    assert {s: [metas[i].clip_id for i in idx] for s, idx in splits.items()} == {
        "train": ["spk1__00000", "spk1__00001", "spk9__00004"],
        "val": ["spk2__00002"],
        "test": ["spk3__00003"],
    }
    assert split_of(meta("a", "lrs2", split="pretrain"), SplitConfig()) == "train"
    with pytest.raises(ConfigError, match="unknown split"):
        split_of(meta("a", "lrs2", split="holdout"), SplitConfig())


def test_unlabelled_folders_get_a_stable_actor_hash_split():
    metas = [meta(f"speaker{k}", "folder", i=i) for k in range(400) for i in range(2)]
    cfg = SplitConfig(val_fraction=0.1, test_fraction=0.1)
    a, b = assign_splits(metas, cfg), assign_splits(list(metas), cfg)
    assert a == b  # deterministic (SHA-1, not Python's salted hash)
    per = actors_per_split(metas, a)
    assert sum(len(v) for v in per.values()) == 400  # every actor in exactly one split
    assert 20 <= len(per["test"]) <= 60 and 20 <= len(per["val"]) <= 60
    assert actor_hash_unit("speaker1") == actor_hash_unit("speaker1") != actor_hash_unit("speaker2")
    # Listed actors keep their split in any data set; the CREMA-D rule does not hash unlisted actors.
    assert split_of(meta("1011", "folder"), cfg) == "test"
    assert all(split_of(meta(f"x{k}", "crema_d"), cfg) == "train" for k in range(50))


def test_an_empty_split_is_warned_about_loudly(caplog):
    metas = [meta("1001"), meta("1002")]
    with caplog.at_level(logging.WARNING, logger="emotalk.data.splits"):
        assign_splits(metas)
    assert "SPLIT 'val' IS EMPTY" in caplog.text and "SPLIT 'test' IS EMPTY" in caplog.text


# -- datamodule ------------------------------------------------------------------------------------------------
def test_hydra_instantiates_the_generator_datamodule_with_the_documented_batches(fake_crema):
    root, _ = fake_crema
    dm = make_dm(root, "+augment=paper", "data.batch_size=4", "data.samples_per_epoch=8")
    assert isinstance(dm.augment, FrameAugment) and dm.augment.config["p"] == 0.8
    assert dm.root == root and dm.mode == "generator" and dm.mask_mode == "full"
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    assert len(batches) == 2
    for b in [*batches, next(iter(dm.val_dataloader())), next(iter(dm.test_dataloader()))]:
        assert isinstance(b, GeneratorBatch) and len(b) == 4
        for v in (b.target, b.masked, b.reference):
            assert v.shape == (4, 3, T, 96, 96) and v.dtype == torch.float32
            assert v.min() >= 0 and v.max() <= 1
        assert (b.masked == 0).all()  # EmoGen's full mask
        assert b.indiv_mels.shape == (4, T, 1, 80, 16) and b.mel.shape == (4, 1, 80, 16)
        assert b.indiv_mels.dtype == b.mel.dtype == torch.float32
        assert b.emotion.dtype == b.level.dtype == torch.long
        assert ((b.emotion >= 0) & (b.emotion < 6)).all() and ((b.level >= 0) & (b.level < 4)).all()
    assert make_dm(root).augment is None  # no augment group composed: no augmentation


def test_voice_augment_from_the_config_reaches_the_training_windows_only(fake_crema):
    root, _ = fake_crema
    dm = make_dm(root, "data.voice_augment={p: 1, max_warp: 1.1, gain_db: 3}", "data.samples_per_epoch=8")
    dm.setup("fit")
    assert dm.datasets["train"].voice_augment == VoiceAugment(p=1.0, max_warp=1.1, gain_db=3.0)
    assert dm.datasets["val"].voice_augment is None and dm.datasets["test"].voice_augment is None
    assert dm.hparams["voice_augment"] == {"p": 1.0, "max_warp": 1.1, "gain_db": 3.0}
    assert make_dm(root).voice_augment is None  # the paper: off


def test_syncnet_and_emotion_modes_serve_their_batches(fake_crema):
    root, _ = fake_crema
    dm = make_dm(root, "data.mode=syncnet", "data.batch_size=6", "data.samples_per_epoch=12")
    b = next(iter(dm.train_dataloader()))
    assert isinstance(b, SyncBatch) and b.face.shape == (6, 3, T, 96, 96) and b.mel.shape == (6, 1, 80, 16)
    assert set(b.label.tolist()) <= {0.0, 1.0}
    dm = make_dm(root, "data.mode=emotion", "data.batch_size=6")
    b = next(iter(dm.val_dataloader()))
    assert isinstance(b, ClipBatch) and b.frames.shape == (6, 3, T, 96, 96) and b.emotion.dtype == torch.long


def test_emotion_batches_name_their_clip_and_the_test_plan_can_cover_clips_more_densely(fake_crema):
    root, _ = fake_crema
    dm = make_dm(root, "data.mode=emotion", "data.batch_size=4", "data.val_windows_per_clip=1",
                 "data.test_windows_per_clip=3")  # fmt: skip
    dm.setup()
    test = dm.datasets["test"]
    assert len(dm.datasets["val"]) == len(dm.datasets["val"].clips)  # one window per val clip
    assert len(test) > len(test.clips)  # several per test clip
    seen: dict[int, int] = {}
    for b in dm.test_dataloader():
        assert b.clip is not None and b.clip.shape == b.emotion.shape
        for c, e in zip(b.clip.tolist(), b.emotion.tolist(), strict=True):
            assert test.clips[c].emotion == e  # the id points at the clip the window came from
            seen[c] = seen.get(c, 0) + 1
    assert set(seen) == set(range(len(test.clips))) and max(seen.values()) > 1


def test_lrs2_config_uses_lower_half_masks_and_no_labels(fake_lrs2):
    root, _ = fake_lrs2
    dm = make_dm(root, "data.batch_size=2", "data.val_samples=null", data="lrs2")
    b = next(iter(dm.train_dataloader()))
    assert dm.mask_mode == "lower_half"
    assert (b.masked[..., 48:, :] == 0).all() and torch.equal(b.masked[..., :48, :], b.target[..., :48, :])
    assert (b.emotion == -1).all() and (b.level == -1).all()
    assert {c.meta.clip_id for c in dm.datasets["test"].clips} == {"spk3__00003"}


def test_training_batches_come_only_from_train_actors(fake_crema):
    root, metas = fake_crema
    by_no = {m.extra["fixture_no"]: m for m in metas}
    dm = make_dm(root, "data.batch_size=16", "data.samples_per_epoch=160")
    served = set()
    for b in dm.train_dataloader():
        nos = torch.round(b.target[:, 1, 0, 0, 0] * 255).long().tolist()  # G channel = fixture clip number
        served |= {by_no[n].actor for n in nos}
    assert served == {"1001", "1002"}  # 1006 is a validation actor, 1011 a test actor
    assert {c.meta.actor for c in dm.datasets["val"].clips} == {"1006"}
    assert {c.meta.actor for c in dm.datasets["test"].clips} == {"1011"}


def _fingerprint(loader) -> list[torch.Tensor]:
    return [torch.cat([b.target.flatten(1), b.reference.flatten(1), b.mel.flatten(1)], 1) for b in loader]


def test_validation_and_test_batches_are_identical_across_epochs_and_worker_counts(fake_crema):
    root, _ = fake_crema
    common = ("data.batch_size=5", "data.val_windows_per_clip=3", "data.samples_per_epoch=20")
    dm0 = make_dm(root, *common)
    dm2 = make_dm(root, *common, "data.num_workers=2")
    dm0.setup()
    dm2.setup()
    assert len(dm0.datasets["val"]) == 18  # 6 clips of actor 1006, 3 windows each
    for split in ("val", "test"):
        loader0 = getattr(dm0, f"{split}_dataloader")()
        loader2 = getattr(dm2, f"{split}_dataloader")()
        ref = _fingerprint(loader0)
        for run in (_fingerprint(loader0), _fingerprint(loader2), _fingerprint(loader2)):  # epochs 2, 1 and 2
            assert len(run) == len(ref)
            assert all(torch.equal(x, y) for x, y in zip(ref, run, strict=True))
    # Training, by contrast, draws new windows each epoch and in each worker.
    train0 = dm0.train_dataloader()
    assert not torch.equal(next(iter(train0)).target, next(iter(train0)).target)
    train2 = dm2.train_dataloader()
    epoch1, epoch2 = _fingerprint(train2), _fingerprint(train2)
    assert not torch.equal(epoch1[0], epoch1[1])  # batches 0 and 1 come from workers 0 and 1
    assert not any(torch.equal(x, y) for x, y in zip(epoch1, epoch2, strict=True))


def test_bad_root_is_a_clear_error_naming_the_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(EmotalkError, match=r"nowhere does not exist.*emotalk preprocess"):
        TalkingFaceDataModule(missing).setup()
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    with pytest.raises(EmotalkError, match=r"empty_folder is not a preprocessed folder.*emotalk preprocess"):
        TalkingFaceDataModule(empty).setup()
    (empty / "clips" / ".half-written.tmp-1").mkdir(parents=True)
    with pytest.raises(EmotalkError, match=r"empty_folder holds no finished clip"):
        TalkingFaceDataModule(empty).setup()
    with pytest.raises(ConfigError, match="mask_mode"):
        TalkingFaceDataModule(empty, mask_mode="upper")


def test_relative_root_is_relative_to_the_launch_directory(fake_crema, monkeypatch):
    root, _ = fake_crema
    monkeypatch.chdir(root.parent)
    dm = make_dm(Path(root.name))
    assert dm.root == root and dm.root.is_absolute()
    monkeypatch.delenv("EMOTALK_DATA_DIR", raising=False)
    monkeypatch.delenv("EMOTALK_ROOT", raising=False)
    assert compose_data("+data=cremad").data.root == "./data/cremad_pre"
    monkeypatch.setenv("EMOTALK_ROOT", "/srv/emotalk")  # the project root of conf/paths (paths.data_dir)
    assert compose_data("+data=lrs2").data.root == "/srv/emotalk/data/lrs2_pre"
    monkeypatch.setenv("EMOTALK_DATA_DIR", "/srv/data")
    assert compose_data("+data=synthetic").data.root == "/srv/data/synthetic_pre"


def test_loaders_survive_lightnings_distributed_sampler_reinjection(fake_crema):
    """Under DDP Lightning re-creates each DataLoader (subclass) from its init arguments with a new sampler."""
    from lightning.fabric.utilities.data import _replace_dunder_methods
    from lightning.pytorch.utilities.data import _update_dataloader
    from torch.utils.data import DataLoader, DistributedSampler

    root, _ = fake_crema
    dm = make_dm(root, "data.batch_size=4", "data.samples_per_epoch=16", "data.mask_mode=lower_half")
    dm.setup()
    with _replace_dunder_methods(DataLoader, "dataset"):
        loader = dm.train_dataloader()
    sampler = DistributedSampler(loader.dataset, num_replicas=2, rank=1, shuffle=True)
    again = _update_dataloader(loader, sampler)
    assert type(again) is type(loader) and again.sampler is sampler and len(again) == 2
    b = next(iter(again))
    assert isinstance(b, GeneratorBatch) and (b.masked[..., 48:, :] == 0).all() and b.masked[..., :48, :].any()


class _TinyModule(L.LightningModule):
    """Consumes GeneratorBatch through Lightning's loop (batch transfer of a dataclass)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[str] = []

    def training_step(self, batch: GeneratorBatch, batch_idx: int) -> torch.Tensor:
        self.seen.append(type(batch).__name__)
        return ((batch.target.mean() - self.w) ** 2).sum()

    def validation_step(self, batch: GeneratorBatch, batch_idx: int) -> None:
        self.seen.append(type(batch).__name__)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_trainer_runs_on_the_datamodule(fake_crema):
    root, _ = fake_crema
    dm = make_dm(root, "data.batch_size=4", "data.samples_per_epoch=8")
    model = _TinyModule()
    trainer = L.Trainer(
        fast_dev_run=True, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    trainer.fit(model, datamodule=dm)
    assert model.seen == ["GeneratorBatch", "GeneratorBatch"]
    assert np.isfinite(model.w.item())
    assert dm.hparams["mode"] == "generator" and dm.hparams["split"]["test_actors"][0] == "1011"
    assert set(SPLITS) == set(dm.datasets)


def test_grid_synthetic_mixture_draws_by_ratio_and_labels_grid_neutral(fake_crema, write_fake, tmp_path):
    """data=grid_synthetic: real (GRID-like, unlabelled, split by sentence) and synthetic clips in one DataModule."""
    from emotalk.data.clips import write_manifest
    from emotalk.spec import EMOTIONS

    crema_root, _ = fake_crema
    grid = tmp_path / "grid_pre"
    splits = ["train"] * 6 + ["val", "test"]
    metas = [write_fake(grid, f"s1_c{i}", "s1", 100 + i, 40, dataset="grid", split=s) for i, s in enumerate(splits)]
    write_manifest(grid, metas)
    dm = make_dm(grid, f"data.mix_roots=[{crema_root}]", "data.mix_ratio=0.8", "data.batch_size=50",
                 "data.samples_per_epoch=1000", data="grid_synthetic")  # fmt: skip
    nos, emotions = [], []
    for b in dm.train_dataloader():
        nos += torch.round(b.target[:, 1, 0, 0, 0] * 255).long().tolist()  # G channel = fixture clip number
        emotions += b.emotion.tolist()
    from_grid = np.array(nos) >= 100
    assert 0.74 < from_grid.mean() < 0.86  # the mixing ratio, within sampling noise of 1000 draws
    assert set(np.array(emotions)[from_grid]) == {EMOTIONS.index("neutral")}  # GRID's read speech counts as neutral
    assert len(set(np.array(emotions)[~from_grid])) > 1  # the synthetic clips keep their own emotions
    assert set(np.array(nos)[from_grid]) <= set(range(100, 106))  # only GRID's train sentences
    assert {c.meta.clip_id for c in dm.datasets["test"].clips} >= {"s1_c7"}
    assert {c.meta.actor for c in dm.datasets["test"].clips} == {"s1", "1011"}
    assert dm.mask_mode == "full"
    with pytest.raises(ConfigError, match="mix_ratio"):
        TalkingFaceDataModule(grid, mix_ratio=0.0)
