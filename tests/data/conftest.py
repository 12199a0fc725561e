"""Fake preprocessed clips (data/clips.py format) whose content says exactly which frame and clip was served.

Frame i of fixture clip number n is a constant image: B = i, G = n, R = 200 (no-face frames are zeros).
Mel column j holds j + 0.001·row, so a window's first column names its start column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from emotalk.cremad import format_name
from emotalk.data.clips import ClipMeta, write_clip, write_manifest
from emotalk.spec import EMOTIONS, LEVELS

S = 96
R_VALUE = 200


def fake_faces(n_frames: int, clip_no: int, noface: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    faces = np.empty((n_frames, S, S, 3), np.uint8)
    faces[..., 0] = np.arange(n_frames, dtype=np.uint8)[:, None, None]
    faces[..., 1] = clip_no
    faces[..., 2] = R_VALUE
    has_face = np.ones(n_frames, bool)
    has_face[list(noface)] = False
    faces[~has_face] = 0
    return faces, has_face


def fake_mel(n_frames: int, fps: float = 25.0) -> np.ndarray:
    """[80, M] with M = 1 + n_samples // 200, as audio/mel.py would give for n_frames of 16 kHz audio."""
    n_cols = 1 + round(n_frames / fps * 16000) // 200
    return (np.arange(n_cols, dtype=np.float32)[None, :] + 0.001 * np.arange(80, dtype=np.float32)[:, None]).astype(
        np.float32
    )


def write_fake_clip(
    root: Path,
    clip_id: str,
    actor: str,
    clip_no: int,
    n_frames: int,
    *,
    emotion: str | None = None,
    level: str | None = None,
    dataset: str = "crema_d",
    split: str | None = None,
    noface: Sequence[int] = (),
) -> ClipMeta:
    faces, has_face = fake_faces(n_frames, clip_no, noface)
    boxes = np.tile(np.array([10, 10, 90, 90], np.float32), (n_frames, 1))
    boxes[~has_face] = np.nan
    meta = ClipMeta(
        clip_id=clip_id,
        dataset=dataset,
        actor=actor,
        source=f"/fake/{clip_id}.mp4",
        n_frames=n_frames,
        n_noface=int((~has_face).sum()),
        emotion=emotion,
        level=level,
        split=split,
        width=480,
        height=360,
        extra={"fixture_no": clip_no},
    )
    write_clip(root, meta, faces, has_face, boxes, fake_mel(n_frames), lambda p: p.write_bytes(b""))
    return meta


#: actors of the default fixture: two train actors, one validation (1006) and one test (1011) actor.
FAKE_ACTORS: tuple[str, ...] = ("1001", "1002", "1006", "1011")


def make_fake_crema(
    root: Path, actors: Sequence[str] = FAKE_ACTORS, dataset: str = "crema_d", manifest: bool = True
) -> list[ClipMeta]:
    """One clip per actor and emotion, 30-60 frames; every third clip has no-face frames (at 7 and n-3)."""
    metas = []
    for a_i, actor in enumerate(actors):
        for e_i, emotion in enumerate(EMOTIONS):
            no = len(metas)
            n = 30 + (7 * no) % 31
            level = LEVELS[(a_i + e_i) % len(LEVELS)]
            noface = (7, n - 3) if no % 3 == 0 else ()
            clip_id = format_name(actor, "DFA", emotion, level)
            metas.append(
                write_fake_clip(
                    root, clip_id, actor, no, n, emotion=emotion, level=level, dataset=dataset, noface=noface
                )
            )
    if manifest:
        write_manifest(root, metas)
    return metas


def make_fake_lrs2(root: Path) -> list[ClipMeta]:
    """Unlabelled clips whose split comes from filelists; speaker 'spk9' sits in train but is a 'test' hash."""
    metas = []
    layout = [("spk1", "train"), ("spk1", "train"), ("spk2", "val"), ("spk3", "test"), ("spk9", "train")]
    for no, (spk, split) in enumerate(layout):
        metas.append(write_fake_clip(root, f"{spk}__{no:05d}", spk, no, 40, dataset="lrs2", split=split))
    write_manifest(root, metas)
    return metas


@pytest.fixture(scope="session")
def fake_crema(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ClipMeta]]:
    """A 24-clip preprocessed CREMA-D-like root (4 actors x 6 emotions). Read-only: tests must not modify it."""
    root = tmp_path_factory.mktemp("fake_crema_pre")
    return root, make_fake_crema(root)


@pytest.fixture(scope="session")
def fake_lrs2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ClipMeta]]:
    root = tmp_path_factory.mktemp("fake_lrs2_pre")
    return root, make_fake_lrs2(root)


@pytest.fixture
def make_fake_dataset() -> Callable[..., list[ClipMeta]]:
    """The builder itself, for tests that need their own actors or data set name."""
    return make_fake_crema


@pytest.fixture
def write_fake() -> Callable[..., ClipMeta]:
    """`write_fake_clip`, for tests that build their own roots (e.g. a GRID-like set beside the fake CREMA-D)."""
    return write_fake_clip
