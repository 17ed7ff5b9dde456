"""BVH reader/writer: round trips, real CMU rigs, channel orders and malformed input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.core import rotations as R
from engine.core.skeleton import SMPLH_BODY
from engine.io.bvh import BvhClip, BvhError, format_bvh, parse_bvh, read_bvh, write_bvh

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cmu"


def _random_quats(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return R.quat_normalize(rng.normal(size=shape + (4,)))


def _same_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs((a * b).sum(-1))  # |cos(half angle)| == 1 for equal rotations, whatever the sign


@pytest.mark.parametrize("order", ["ZXY", "ZYX", "XYZ", "YXZ", "XZY", "YZX"])
def test_write_then_parse_gives_identical_rotations(tmp_path: Path, order: str) -> None:
    rng = np.random.default_rng(0)
    quats = _random_quats(rng, (7, 22))
    root = rng.normal(size=(7, 3))
    clip = BvhClip.from_rotations(SMPLH_BODY.joints, SMPLH_BODY.parents, SMPLH_BODY.offsets, quats, root,
                                  1 / 30, order=order)
    back = read_bvh(write_bvh(clip, tmp_path / "clip.bvh"))
    assert back.frames == 7
    assert back.fps == pytest.approx(30.0, rel=1e-6)
    got = back.local_rotations()
    for j, name in enumerate(SMPLH_BODY.joints):
        k = back.index(name)
        assert back.joints[k].rotation_order == order
        np.testing.assert_allclose(_same_rotation(got[:, k], quats[:, j]), 1.0, atol=1e-10)
    np.testing.assert_allclose(back.local_translations()[:, back.index("pelvis")], root, atol=1e-6)


def test_breadth_first_skeleton_is_written_depth_first_with_correct_parents() -> None:
    sk = SMPLH_BODY
    clip = BvhClip.from_rotations(sk.joints, sk.parents, sk.offsets, np.tile([0, 0, 0, 1.0], (1, 22, 1)),
                                  sk.offsets[:1], 1 / 30)
    for j, joint in enumerate(clip.joints):
        src = sk.index(joint.name)
        want_parent = sk.parents[src]
        assert (joint.parent < 0) == (want_parent < 0)
        if want_parent >= 0:
            assert clip.joints[joint.parent].name == sk.joints[want_parent]
            assert joint.parent < j
    # Rest pose FK reproduces the skeleton's own rest positions, joint by joint.
    pos = clip.world_positions()[0]
    rest = sk.rest_positions()
    for j, name in enumerate(clip.names):
        np.testing.assert_allclose(pos[j], rest[sk.index(name)], atol=1e-12)


def test_world_transforms_match_engine_forward_kinematics() -> None:
    rng = np.random.default_rng(1)
    sk = SMPLH_BODY
    quats = _random_quats(rng, (4, 22))
    root = rng.normal(size=(4, 3))
    clip = parse_bvh(format_bvh(BvhClip.from_rotations(sk.joints, sk.parents, sk.offsets, quats, root, 1 / 30)))
    want_pos, want_rot = R.forward_kinematics(quats, root, sk.offsets, sk.parents)
    pos, rot = clip.world_transforms()
    for j, name in enumerate(clip.names):
        np.testing.assert_allclose(pos[:, j], want_pos[:, sk.index(name)], atol=1e-5)
        np.testing.assert_allclose(_same_rotation(rot[:, j], want_rot[:, sk.index(name)]), 1.0, atol=1e-9)


def test_channel_order_semantics_zxy_is_rz_rx_ry() -> None:
    text = """HIERARCHY
ROOT hip
{
  OFFSET 1 2 3
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT arm
  {
    OFFSET 10 0 0
    CHANNELS 3 Yrotation Xrotation Zrotation
    End Site
    {
      OFFSET 5 0 0
    }
  }
}
MOTION
Frames: 1
Frame Time: 0.0083333
0.5 0 0 30 40 50 0 90 0
"""
    clip = parse_bvh(text)
    assert clip.names == ("hip", "arm")
    assert clip.joints[0].rotation_order == "ZXY"
    np.testing.assert_allclose(clip.joints[1].end_site, [5, 0, 0])
    rz, rx, ry = (R.axis_angle_to_matrix(np.array(a) * np.radians(d)) for a, d in
                  (([0, 0, 1.0], 30), ([1.0, 0, 0], 40), ([0, 1.0, 0], 50)))
    want = rz @ rx @ ry
    got = R.quat_to_matrix(clip.local_rotations()[0, 0])
    np.testing.assert_allclose(got, want, atol=1e-12)
    # Root position channels add to its OFFSET.
    np.testing.assert_allclose(clip.local_translations()[0, 0], [1.5, 2, 3])
    # Arm: Y 0, X 90, Z 0 → a 90° turn about X; the arm's child end lies 10 units along hip-rotated +X.
    pos = clip.world_positions()[0]
    np.testing.assert_allclose(pos[1], pos[0] + want @ np.array([10.0, 0, 0]), atol=1e-12)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\n}\n", "no MOTION"),
        ("HIERARCHY\nROOT a\n{\n OFFSET 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\n}\nMOTION\nFrames: 0\n"
         "Frame Time: 0.1\n", "line 5: expected a number"),
        ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Wrotation\n}\nMOTION\nFrames: 0\n"
         "Frame Time: 0.1\n", "unknown channel 'Wrotation'"),
        ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\n}\nMOTION\nFrames: 2\n"
         "Frame Time: 0.1\n1 2 3\n", "header says 2 frames but only 1"),
        ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\n}\nMOTION\nFrames: 1\n"
         "Frame Time: 0.1\n1 2\n", "line 10: expected 3 channel values, got 2"),
        ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\n}\nMOTION\nFrames: 2\n"
         "Frame Time: 0.1\n1 2 3\n1 x 3\n", "line 11: motion values must be numbers"),
        ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\n", "no MOTION"),
        ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\nMOTION\nFrames: 0\n"
         "Frame Time: 0.1\n", "unexpected end of hierarchy"),
        ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\n}\nMOTION\nFrames: 1\n"
         "Frame Time: 0\n1 2 3\n", "frame time must be positive"),
    ],
)
def test_malformed_bvh_raises_a_typed_error_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(BvhError, match=message):
        parse_bvh(text)


@pytest.mark.parametrize("rig_file", ["daz/02_01.bvh", "cmu-asf/16_01.bvh", "reallusion/01_01.bvh"])
def test_real_cmu_rigs_parse_and_round_trip(tmp_path: Path, rig_file: str) -> None:
    path = DATA / rig_file
    if not path.exists():
        pytest.skip(f"shared CMU data not found at {path}")
    full = read_bvh(path)
    assert full.frames > 100
    # Every 25th frame keeps the round trip fast on long trials while covering the whole clip.
    clip = BvhClip(full.joints, full.frame_time, full.motion[::25])
    back = read_bvh(write_bvh(clip, tmp_path / "copy.bvh"))
    assert back.names == clip.names and back.parents == clip.parents
    assert [j.channels for j in back.joints] == [j.channels for j in clip.joints]
    np.testing.assert_allclose(back.motion, clip.motion, atol=5e-7)
    np.testing.assert_allclose(back.world_positions(), clip.world_positions(), atol=1e-4)
    # After FK every rig is Y-up (RIGS.md): the head sits above the feet in the first frame.
    pos = clip.world_positions()[0]
    names = [n.lower() for n in clip.names]
    head = next(i for i, n in enumerate(names) if "head" in n)
    foot = next(i for i, n in enumerate(names) if "foot" in n)
    assert pos[head, 1] > pos[foot, 1] + 0.5 * np.ptp(pos[:, 1])
