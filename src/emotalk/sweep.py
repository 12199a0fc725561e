"""Multirun job folders named by the swept values only (`0_loss.beta=0.02`), not by every override.

Hydra's `hydra.job.override_dirname` joins all of a job's overrides, so a fixed `data.root=/abs/path` splits each
job folder into a tree as deep as the path. `conf/hydra/default.yaml` names the folder with the
`emotalk.sweep_subdir` resolver instead, and installs `SweptKeys`, which records the swept keys (command-line sweeps
such as `loss.beta=0.0,0.02` and `hydra.sweeper.params`, e.g. optuna's search space) when the multirun starts. The
full override list stays in each job's `.hydra/overrides.yaml`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

RESOLVER = "emotalk.sweep_subdir"
MAX_NAME = 200  # bytes: file systems allow 255 per folder name

_swept: frozenset[str] | None = None  # set by SweptKeys.on_multirun_start; None: not in a multirun we started


def _key(o: Override) -> str:
    return o.key_or_group if o.package is None else f"{o.key_or_group}@{o.package}"


def swept_keys(overrides: Iterable[str], params: Mapping[str, Any] | None = None) -> frozenset[str]:
    """Keys a multirun varies: command-line sweep overrides plus the sweeper's `params` search space."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return frozenset({_key(o) for o in parsed if o.is_sweep_override()} | set(params or {}))


def sweep_subdir(num: int, overrides: Iterable[str], swept: frozenset[str] | None = None) -> str:
    """`<job number>_<key=value,...>` over the swept keys of one job's overrides, as one folder name.

    >>> sweep_subdir(1, ["data.root=/a/b", "loss.beta=0.02"], frozenset({"loss.beta"}))
    '1_loss.beta=0.02'
    """
    swept = _swept if swept is None else swept
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    items = sorted(
        f"{_key(o)}={o.get_value_element_as_str()}" for o in parsed if swept is None or _key(o) in swept
    )  # no record of the swept keys (another launcher process): name by every override, as Hydra does
    name = ",".join(items).replace("/", "_")  # a swept path must not open sub-folders
    if len(name.encode()) > MAX_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name.encode()[: MAX_NAME - 9].decode(errors='ignore')}~{digest}"
    return f"{num}_{name}" if name else str(num)


class SweptKeys(Callback):
    """Hydra callback: remember which keys this multirun sweeps, before its jobs name their folders."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _swept
        params = config.hydra.sweeper.get("params")
        _swept = swept_keys(config.hydra.overrides.task, OmegaConf.to_container(params) if params else None)


OmegaConf.register_new_resolver(RESOLVER, lambda num, overrides: sweep_subdir(int(num), overrides), replace=True)
