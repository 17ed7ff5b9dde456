"""The plugin's pure-Python world-delta retarget: the shared table, the engine's reference implementation,
first-principles poses, and a mesh that faces +Y like Unreal's skeletal meshes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from motionbridge_unreal import protocol
from motionbridge_unreal.retarget import (
    RetargetError,
    TargetSkeleton,
    WorldDeltaRetargeter,
    quat_about_z,
    quat_from_to,
    quat_mul,
    quat_rotate,
    quat_slerp,
)

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import BODY_JOINTS, SMPLH_BODY
from engine.core.targets import TARGETS, UNREAL_BONES
from engine.retarget.rig import retarget as engine_retarget
from engine.retarget.rigs import manny

CASES_PATH = Path(__file__).resolve().parents[1] / "data" / "retarget_cases.json"
UNREAL = TARGETS["unreal"]


def _same_rotation(a, b, tol: float = 1e-5) -> bool:
    return abs(float(np.dot(a, b))) > 1.0 - tol


def _to_wire(root_m, local_rotations):
    """Source-frame motion → the protocol's unreal target, through engine.core.targets (the daemon's conversion)."""
    return UNREAL.convert_positions(np.asarray(root_m)), UNREAL.convert_rotations(np.asarray(local_rotations))


def _retargeter(skeleton: TargetSkeleton) -> WorldDeltaRetargeter:
    return WorldDeltaRetargeter(skeleton, list(UNREAL_BONES), list(SMPLH_BODY.parents),
                                protocol.source_rest_in_unreal(SMPLH_BODY.offsets))


def _world_positions(skeleton: TargetSkeleton, pose) -> dict[str, np.ndarray]:
    """FK over the whole target with the pose's locals (driven bones) and reference locals elsewhere."""
    rot, pos = [], []
    for b, p in enumerate(skeleton.parents):
        name = skeleton.names[b]
        local = pose.local_rotations.get(name, skeleton.rotations[b])
        trans = pose.root_local_translation if name == pose.root_bone else skeleton.translations[b]
        if p < 0:
            rot.append(local)
            pos.append(np.array(trans))
        else:
            rot.append(quat_mul(rot[p], local))
            pos.append(pos[p] + np.array(quat_rotate(rot[p], trans)))
    return dict(zip(skeleton.names, pos, strict=True))


@pytest.fixture(scope="module")
def table() -> dict:
    if not CASES_PATH.exists():
        pytest.skip(f"{CASES_PATH} is missing (written by scripts/make_retarget_cases.py)")
    return json.loads(CASES_PATH.read_text())


def _table_skeleton(table: dict) -> TargetSkeleton:
    t = table["target"]
    return TargetSkeleton(t["bones"], t["parents"], t["rest_local_translations"], t["rest_local_rotations"])


def test_the_table_describes_the_same_source_and_basis_as_the_plugin(table: dict) -> None:
    assert table["source"]["joints"] == list(BODY_JOINTS)
    assert np.allclose(table["target"]["basis"], protocol.UNREAL_BASIS)
    assert table["target"]["scale"] == protocol.UNREAL_SCALE


@pytest.mark.parametrize("case_name", ["t_pose", "right_arm_raised_sideways", "left_arm_forward_elbow_bent",
                                       "walk_like_mixed"])
def test_matches_the_shared_retarget_table(table: dict, case_name: str) -> None:
    case = next(c for c in table["cases"] if c["name"] == case_name)
    skeleton = _table_skeleton(table)
    root, rotations = _to_wire(case["source_root"], case["source_local_rotations"])
    pose = _retargeter(skeleton).retarget(tuple(root), [tuple(q) for q in rotations])
    driven = [b for b in skeleton.names if b in table["target"]["bone_map"]]
    assert sorted(pose.bones) == sorted(driven)
    for bone in driven:
        assert _same_rotation(case["expected_local_rotations"][bone], pose.local_rotations[bone]), bone
    assert np.allclose(pose.root_local_translation, case["expected_hips_translation"], atol=1e-3)
    world = _world_positions(skeleton, pose)
    for bone, expected in case["expected_world_positions"].items():
        assert np.allclose(world[bone], expected, atol=1e-3), bone


def test_a_poses_arms_come_up_to_the_source_t_pose(table: dict) -> None:
    skeleton = _table_skeleton(table)
    rest_hand_z = skeleton.world_positions[skeleton.index["hand_r"]][2]
    rest_arm_z = skeleton.world_positions[skeleton.index["upperarm_r"]][2]
    assert rest_hand_z < rest_arm_z - 20.0, "the fixture's rest really is an A-pose"
    pose = _retargeter(skeleton).retarget((0.0, 0.0, 95.0), [(0.0, 0.0, 0.0, 1.0)] * 22)
    world = _world_positions(skeleton, pose)
    assert abs(world["hand_r"][2] - world["upperarm_r"][2]) < 1e-3
    assert abs(world["hand_l"][2] - world["upperarm_l"][2]) < 1e-3


def test_raising_the_right_arm_raises_upperarm_r_above_the_shoulder(table: dict) -> None:
    skeleton = _table_skeleton(table)
    source = np.tile([0.0, 0.0, 0.0, 1.0], (22, 1))
    # The character's right arm points along source −X; +90° about +Z turns it up (+Y).
    source[BODY_JOINTS.index("right_shoulder")] = R.axis_angle_to_quat(np.array([0.0, 0.0, -math.pi / 2]))
    root, rotations = _to_wire(SMPLH_BODY.offsets[0], source)
    world = _world_positions(skeleton, _retargeter(skeleton).retarget(tuple(root), [tuple(q) for q in rotations]))
    arm = world["hand_r"] - world["upperarm_r"]
    assert arm[2] > 0.99 * np.linalg.norm(arm), "the right hand is straight above the right shoulder"
    assert abs(world["hand_l"][2] - world["upperarm_l"][2]) < 1e-3, "the left arm stays horizontal"


def test_matches_the_engine_reference_on_a_random_motion() -> None:
    rng = np.random.default_rng(7)
    frames = 12
    local = R.axis_angle_to_quat(rng.normal(scale=0.5, size=(frames, 22, 3)))
    root = SMPLH_BODY.offsets[0] + rng.normal(scale=0.3, size=(frames, 3))
    motion = Motion(root=root.astype(np.float32), rotations=local.astype(np.float32))
    rig = manny()
    expected = engine_retarget(motion, rig)
    skeleton = TargetSkeleton(rig.bones, rig.parents, rig.rest_translations, rig.rest_rotations)
    retargeter = _retargeter(skeleton)
    wire_root, wire_rot = _to_wire(motion.root, motion.rotations)
    hips = rig.index("pelvis")
    for f in range(frames):
        pose = retargeter.retarget(tuple(wire_root[f]), [tuple(q) for q in wire_rot[f]])
        for bone in pose.bones:
            assert _same_rotation(expected.rotations[f, rig.index(bone)], pose.local_rotations[bone], 1e-4), (f, bone)
        assert np.allclose(pose.root_local_translation, expected.translations[f, hips], atol=1e-2)


def _turned(skeleton: TargetSkeleton, yaw: float) -> TargetSkeleton:
    """The same skeleton with everything under the root turned about +Z (a mesh that faces +Y for 90°)."""
    turn = quat_about_z(yaw)
    translations, rotations = [], []
    for b, p in enumerate(skeleton.parents):
        t, q = skeleton.translations[b], skeleton.rotations[b]
        if p == 0:
            t, q = quat_rotate(turn, t), quat_mul(turn, q)
        translations.append(t)
        rotations.append(q)
    return TargetSkeleton(skeleton.names, skeleton.parents, translations, rotations)


def test_a_mesh_facing_plus_y_gets_the_same_motion_turned_by_its_facing(table: dict) -> None:
    facing_x = _table_skeleton(table)
    facing_y = _turned(facing_x, math.pi / 2)
    case = next(c for c in table["cases"] if c["name"] == "walk_like_mixed")
    root, rotations = _to_wire(case["source_root"], case["source_local_rotations"])
    frame = (tuple(root), [tuple(q) for q in rotations])
    turned = _retargeter(facing_y)
    assert turned.facing_yaw == pytest.approx(math.pi / 2, abs=1e-9)
    a, b = _retargeter(facing_x).retarget(*frame), turned.retarget(*frame)
    turn = quat_about_z(math.pi / 2)
    for bone in a.bones:
        if bone == "pelvis":
            assert _same_rotation(quat_mul(turn, a.local_rotations[bone]), b.local_rotations[bone])
        else:
            assert _same_rotation(a.local_rotations[bone], b.local_rotations[bone]), bone
        assert _same_rotation(quat_mul(turn, a.component_rotations[bone]), b.component_rotations[bone]), bone
    assert np.allclose(quat_rotate(turn, a.root_local_translation), b.root_local_translation, atol=1e-6)


def test_a_skeleton_built_like_the_source_gets_the_wire_rotations_unchanged() -> None:
    rest = protocol.source_rest_in_unreal(SMPLH_BODY.offsets)
    skeleton = TargetSkeleton(list(UNREAL_BONES), list(SMPLH_BODY.parents), rest, [(0.0, 0.0, 0.0, 1.0)] * 22)
    rng = np.random.default_rng(3)
    wire = UNREAL.convert_rotations(R.axis_angle_to_quat(rng.normal(scale=0.7, size=(22, 3))))
    root = (12.0, -30.0, 90.0)
    pose = _retargeter(skeleton).retarget(root, [tuple(q) for q in wire])
    for j, bone in enumerate(UNREAL_BONES):
        assert _same_rotation(wire[j], pose.local_rotations[bone], 1e-6), bone
    assert np.allclose(pose.root_local_translation, root, atol=1e-4)


def test_quaternion_helpers_agree_with_engine_rotations() -> None:
    rng = np.random.default_rng(11)
    a, b = R.quat_normalize(rng.normal(size=(2, 4)))
    v = rng.normal(size=3)
    assert np.allclose(quat_mul(tuple(a), tuple(b)), R.quat_mul(a, b))
    assert np.allclose(quat_rotate(tuple(a), tuple(v)), R.quat_apply(a, v))
    assert np.allclose(quat_slerp(tuple(a), tuple(b), 0.3), R.quat_slerp(a, b, 0.3)) or np.allclose(
        quat_slerp(tuple(a), tuple(b), 0.3), -R.quat_slerp(a, b, 0.3))
    u, w = rng.normal(size=(2, 3))
    turned = quat_rotate(quat_from_to(tuple(u), tuple(w)), tuple(u))
    assert np.allclose(np.array(turned) / np.linalg.norm(turned), w / np.linalg.norm(w))
    opposite = quat_rotate(quat_from_to((1.0, 0.0, 0.0), (-1.0, 0.0, 0.0)), (1.0, 0.0, 0.0))
    assert np.allclose(opposite, (-1.0, 0.0, 0.0))


def test_bad_skeletons_and_frames_raise_retarget_error() -> None:
    with pytest.raises(RetargetError, match="parents must come before"):
        TargetSkeleton(["a", "b"], [1, -1], [(0, 0, 0)] * 2, [(0, 0, 0, 1)] * 2)
    with pytest.raises(RetargetError, match="equal length"):
        TargetSkeleton(["a"], [-1, 0], [(0, 0, 0)], [(0, 0, 0, 1)])
    foreign = TargetSkeleton(["Hips", "Spine"], [-1, 0], [(0, 0, 90), (0, 0, 10)], [(0, 0, 0, 1)] * 2)
    with pytest.raises(RetargetError, match="none of the bones"):
        _retargeter(foreign)
    rest = protocol.source_rest_in_unreal(SMPLH_BODY.offsets)
    skeleton = TargetSkeleton(list(UNREAL_BONES), list(SMPLH_BODY.parents), rest, [(0.0, 0.0, 0.0, 1.0)] * 22)
    with pytest.raises(RetargetError, match="21 rotations"):
        _retargeter(skeleton).retarget((0.0, 0.0, 95.0), [(0.0, 0.0, 0.0, 1.0)] * 21)
    with pytest.raises(RetargetError, match="zero-length"):
        _retargeter(skeleton).retarget((0.0, 0.0, 95.0), [(0.0, 0.0, 0.0, 0.0)] * 22)
