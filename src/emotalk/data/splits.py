"""Train/val/test assignment of preprocessed clips: by actor, never by clip (mission.md §1).

Rules, first match wins, per clip:

1. `ClipMeta.split` is set (a data set's own filelists, e.g. LRS2 `train.txt/val.txt/test.txt`): use it.
2. The actor is listed in `test_actors` / `val_actors`: that split.
3. The clip's data set splits by actor (`actor_datasets`, CREMA-D and the synthetic CREMA-D): train.
4. Anything else (an unlabelled folder of videos without filelists): a deterministic hash of the actor id
   against `test_fraction` / `val_fraction`, so that every clip of one actor lands in the same split on every
   machine and every run (not Python's salted `hash`).

The reference draws a random 95/5 split over clips and then samples every batch from all clips anyway
(reference-code.md §2.2, Q2), so its "validation" numbers are on training data; nothing here does that.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from emotalk.cremad import TEST_ACTORS, VAL_ACTORS
from emotalk.data.clips import ClipMeta
from emotalk.errors import ConfigError

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Names other tools use for the same three splits (LRS2 ships `val.txt`; some lists say `valid`/`dev`).
_ALIASES = {
    "train": "train",
    "pretrain": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
}


@dataclass(frozen=True)
class SplitConfig:
    """Which actors are held out, and how folders without filelists are split.

    >>> SplitConfig().test_actors[:2]
    ('1011', '1032')
    """

    test_actors: tuple[str, ...] = TEST_ACTORS
    val_actors: tuple[str, ...] = VAL_ACTORS
    # Data sets whose unlisted actors all train (CREMA-D and its synthetic twin); others use the actor hash.
    actor_datasets: tuple[str, ...] = ("crema_d", "synthetic")
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    salt: str = "emotalk"

    def __post_init__(self) -> None:
        overlap = set(self.test_actors) & set(self.val_actors)
        if overlap:
            raise ConfigError(f"actors {sorted(overlap)} are listed as both test and validation actors")
        if not (self.val_fraction >= 0 and self.test_fraction >= 0 and self.val_fraction + self.test_fraction < 1):
            raise ConfigError(
                f"split fractions val={self.val_fraction}, test={self.test_fraction} must be >= 0 and sum to < 1"
            )

    @classmethod
    def from_any(cls, cfg: SplitConfig | Mapping[str, Any] | None) -> SplitConfig:
        """Build from a config mapping (Hydra node or dict); actor ids become strings ("1011", even if 1011)."""
        if cfg is None:
            return cls()
        if isinstance(cfg, SplitConfig):
            return cfg
        known = {f.name for f in fields(cls)}
        unknown = set(cfg) - known
        if unknown:
            raise ConfigError(f"unknown split setting(s) {sorted(unknown)}; known: {sorted(known)}")
        kw: dict[str, Any] = {}
        for k, v in cfg.items():
            if k in ("test_actors", "val_actors", "actor_datasets"):
                kw[k] = tuple(str(a) for a in (v or ()))
            else:
                kw[k] = v
        return cls(**kw)


def actor_hash_unit(actor: str, salt: str = "emotalk") -> float:
    """A stable number in [0, 1) for an actor id (SHA-1, identical across processes and machines)."""
    digest = hashlib.sha1(f"{salt}:{actor}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(meta: ClipMeta, cfg: SplitConfig) -> str:
    """The split ('train' | 'val' | 'test') of one clip under the rules in the module docstring."""
    if meta.split:
        key = str(meta.split).strip().lower()
        if key not in _ALIASES:
            raise ConfigError(
                f"clip {meta.clip_id}: unknown split {meta.split!r} in its manifest entry; expected one of {SPLITS}"
            )
        return _ALIASES[key]
    if meta.actor in cfg.test_actors:
        return "test"
    if meta.actor in cfg.val_actors:
        return "val"
    if meta.dataset in cfg.actor_datasets:
        return "train"
    u = actor_hash_unit(meta.actor, cfg.salt)
    if u < cfg.test_fraction:
        return "test"
    if u < cfg.test_fraction + cfg.val_fraction:
        return "val"
    return "train"


def assign_splits(metas: Iterable[ClipMeta], cfg: SplitConfig | None = None, warn: bool = True) -> dict[str, list[int]]:
    """Indices into `metas` per split, in input order. Logs a warning for every empty split."""
    cfg = cfg or SplitConfig()
    metas = list(metas)
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, m in enumerate(metas):
        out[split_of(m, cfg)].append(i)
    if warn:
        for s in SPLITS:
            if not out[s] and metas:
                log.warning(
                    "SPLIT %r IS EMPTY: none of the %d clips belongs to it (test actors %s, val actors %s). "
                    "Its metrics will be missing; check the data root and the split settings.",
                    s,
                    len(metas),
                    ",".join(cfg.test_actors),
                    ",".join(cfg.val_actors),
                )
        _check_actor_disjoint(metas, out)
    return out


def _check_actor_disjoint(metas: list[ClipMeta], splits: dict[str, list[int]]) -> None:
    """Warn when an actor appears in two splits (only possible through a data set's own filelists)."""
    seen: dict[str, str] = {}
    shared: set[str] = set()
    for s in SPLITS:
        for i in splits[s]:
            a = metas[i].actor
            if seen.setdefault(a, s) != s:
                shared.add(a)
    if shared:
        log.warning(
            "%d actor(s) appear in more than one split because the data set's own split puts them there (LRS2 "
            "filelists, GRID's single-speaker sentence split; e.g. %s); held-out numbers are then not actor-disjoint",
            len(shared),
            ", ".join(sorted(shared)[:5]),
        )
