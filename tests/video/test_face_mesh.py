"""The face mesh on real faces (issue #14): plausible and near-frontal on the real clips, turned when squeezed,
implausible upside down, absent on a face-less frame; the mouth opening follows speech."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotalk.video.decode import read_frames
from emotalk.video.faces import FaceDetector, FaceMesh, mesh_geometry

pytestmark = pytest.mark.media


@pytest.fixture(scope="module")
def tools():
    with FaceDetector(max_side=320) as det:
        mesh = FaceMesh()
        yield det, mesh
        mesh.close()


def frames_of(media, name, every=10, n=60):
    path = media / "crema-d" / "VideoFlash" / name if name.endswith(".flv") else media / "video" / name
    return read_frames(path, max_side=640)[:n:every]


@pytest.mark.parametrize("name", ["1001_DFA_ANG_XX.flv", "hdtf_retalking_face2.mp4", "retalking_face4.mp4"])
def test_real_frontal_faces_are_plausible_and_frontal(tools, media, name):
    det, mesh = tools
    for f in frames_of(media, name):
        box = det.detect(f)[0].as_array()
        g = mesh.geometry(f, box)
        assert g is not None and g.plausible and g.yaw < 25 and g.pitch < 20 and g.overlap > 0.8, g


def test_a_squeezed_face_reads_as_turned(tools, media):
    det, mesh = tools
    yaws = []
    for f in frames_of(media, "1001_DFA_ANG_XX.flv", every=5):
        sq = cv2.resize(f, (round(f.shape[1] * 0.45), f.shape[0]), interpolation=cv2.INTER_AREA)
        faces = det.detect(sq)
        g = mesh.geometry(sq, faces[0].as_array()) if faces else None
        yaws.append(90.0 if g is None else g.yaw)
    assert np.median(yaws) > 35, yaws


def test_upside_down_landmarks_and_empty_boxes_are_doubted(tools, media):
    det, mesh = tools
    f = frames_of(media, "1001_DFA_ANG_XX.flv")[0]
    box = det.detect(f)[0].as_array()
    pts = mesh.landmarks(f, box)
    assert pts is not None and mesh_geometry(pts, box).plausible
    flipped = pts.copy()
    flipped[:, 1] = 2 * pts[:, 1].mean() - pts[:, 1]  # a face mirrored top to bottom: chin above the eyes
    g = mesh_geometry(flipped, box)
    assert abs(g.roll) > 150 and g.pitch > 90  # the pose check rejects it
    assert abs(mesh_geometry(pts, box).roll) < 10
    assert not mesh_geometry(pts + np.array([400.0, 0, 0]), box).plausible  # a mesh outside the detection's box
    background = np.ascontiguousarray(cv2.resize(f[:90, :120], (480, 360)))  # green screen, no face
    g = mesh.geometry(background, box)
    assert g is None or not g.plausible


def test_the_mouth_opening_follows_speech(tools, media):
    det, mesh = tools
    talking = [mesh.geometry(f, det.detect(f)[0].as_array()).mouth for f in frames_of(media, "1001_DFA_ANG_XX.flv", 2)]
    assert np.std(talking) > 0.01 and max(talking) > 2 * min(talking)
