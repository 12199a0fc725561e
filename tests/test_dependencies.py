"""The one `cv2` that opencv-contrib-python (for mediapipe) and opencv-python-headless (for albumentations) both
write is a single, complete build: every file from one distribution, with what mediapipe, albumentations, albucore
and emotalk call."""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.util
from importlib import metadata
from pathlib import Path

import pytest

OPENCV_DISTS = ("opencv-contrib-python", "opencv-python-headless")


def _cv2_attributes(package: str) -> set[str]:
    """Names used as `cv2.<name>` in a package's code (an AST walk: docstrings and comments do not count)."""
    root = Path(importlib.util.find_spec(package).origin).parent
    names: set[str] = set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_bytes())
        names |= {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "cv2"
        }
    return names


def _owner(dist: metadata.Distribution, file: Path) -> bool:
    """Whether `file` on disk is byte for byte the one `dist`'s RECORD lists."""
    for entry in dist.files or []:
        if entry.hash and Path(dist.locate_file(entry)).resolve() == file.resolve():
            digest = base64.urlsafe_b64encode(hashlib.new(entry.hash.mode, file.read_bytes()).digest())
            return digest.rstrip(b"=").decode() == entry.hash.value
    return False


def test_both_opencv_distributions_are_the_same_version() -> None:
    versions = {metadata.version(d) for d in OPENCV_DISTS}
    assert len(versions) == 1, versions


def test_the_shared_cv2_comes_whole_from_one_distribution() -> None:
    """Installing both interleaves their files under cv2/; a mix of two builds is not a working cv2."""
    import cv2

    pkg = Path(cv2.__file__).parent
    binaries = [p for p in pkg.iterdir() if p.suffix == ".so"]
    assert binaries, f"no cv2 extension module in {pkg}"
    owners = [d for d in OPENCV_DISTS if all(_owner(metadata.distribution(d), b) for b in binaries)]
    assert owners, f"{[b.name for b in binaries]} match neither {OPENCV_DISTS}' RECORD"
    dist = metadata.distribution(owners[0])
    ours = [f for f in dist.files or [] if f.parts[0] == "cv2" and f.hash]
    mixed = [str(f) for f in ours if not _owner(dist, Path(dist.locate_file(f)))]
    assert not mixed, f"cv2 files from another build than {owners[0]}: {mixed[:5]}"


@pytest.mark.parametrize("package", ["mediapipe", "albumentations", "albucore", "emotalk"])
def test_cv2_has_what_each_user_calls(package: str) -> None:
    import cv2

    used = _cv2_attributes(package)
    assert used, package
    assert not sorted(n for n in used if not hasattr(cv2, n))
    # the contrib build (mediapipe's) also brings the extra modules; dnn is in both
    assert all(hasattr(cv2, m) for m in ("dnn", "ximgproc", "xfeatures2d", "face"))


def test_mediapipe_and_albumentations_work_in_one_process() -> None:
    import albumentations as A
    import mediapipe as mp
    import numpy as np

    image = np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    out = A.Compose([A.Rotate(limit=10, p=1.0), A.RandomBrightnessContrast(p=1.0), A.Resize(64, 64)])(image=image)
    assert out["image"].shape == (64, 64, 3)
    with mp.solutions.face_detection.FaceDetection(model_selection=0) as detector:
        assert detector.process(image).detections is None  # noise: runs, finds no face
