"""World-delta retargeting onto Unity, UE5 Manny (A-pose), Mixamo and our own skeleton: signs, axes, rests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import BODY_JOINTS, SMPLH_BODY
from engine.core.targets import TARGETS, to_target
from engine.retarget.rig import Rig, RigError, retarget
from engine.retarget.rigs import RIG_BUILDERS, UnknownRig, get_rig, manny, unity_humanoid

REPO = Path(__file__).resolve().parents[2]

# Each rig's up axis and the axis pointing to the character's right, written out per target (not derived from
# the basis matrices under test): Unity is left-handed with +X to the right; Unreal is Z-up, X forward, Y right.
UP = {"smplh": (1, 1.0), "unity": (1, 1.0), "unreal": (2, 1.0), "mixamo": (1, 1.0)}
RIGHT = {"smplh": (0, -1.0), "unity": (0, 1.0), "unreal": (1, 1.0), "mixamo": (0, -1.0)}
RIGHT_ARM_BONES = {"smplh": ("right_shoulder", "right_wrist"), "unity": ("RightUpperArm", "RightHand"),
                   "unreal": ("upperarm_r", "hand_r"), "mixamo": ("mixamorig:RightArm", "mixamorig:RightHand")}


def pose(rotations: dict[str, list[float]], frames: int = 1, root_shift: np.ndarray | None = None) -> Motion:
    aa = np.zeros((frames, len(BODY_JOINTS), 3))
    for joint, value in rotations.items():
        aa[:, BODY_JOINTS.index(joint)] = value
    root = np.tile(SMPLH_BODY.offsets[0], (frames, 1))
    if root_shift is not None:
        root = root + root_shift
    return Motion(root=root, rotations=R.axis_angle_to_quat(aa))


RIGHT_ARM_UP = {"right_shoulder": [0.0, 0.0, -np.pi / 2]}  # about the forward axis: the right arm swings up


def random_motion(frames: int = 6, seed: int = 0) -> Motion:
    rng = np.random.default_rng(seed)
    aa = rng.normal(scale=0.5, size=(frames, len(BODY_JOINTS), 3))
    root = SMPLH_BODY.offsets[0] + rng.normal(scale=0.3, size=(frames, 3))
    return Motion(root=root, rotations=R.axis_angle_to_quat(aa))


@pytest.mark.parametrize("target", sorted(RIG_BUILDERS))
def test_raising_the_right_arm_sideways_moves_the_right_hand_up_in_every_rig_frame(target: str) -> None:
    rig = get_rig(target)
    upper_name, hand_name = RIGHT_ARM_BONES[target]
    assert rig.bone_for("right_shoulder") == upper_name and rig.bone_for("right_wrist") == hand_name
    rest = retarget(pose({}), rig).world("rig")[0][0]
    raised = retarget(pose(RIGHT_ARM_UP), rig).world("rig")[0][0]
    up, up_sign = UP[target]
    right, right_sign = RIGHT[target]
    hand, upper = rig.index(hand_name), rig.index(upper_name)
    arm_length = np.linalg.norm(rest[hand] - rest[upper])
    # From the T-pose (also for Manny, whose A-pose rest is lifted to horizontal), the hand rises by the arm.
    assert up_sign * (rest[hand, up] - rest[upper, up]) == pytest.approx(0.0, abs=1e-6 * arm_length)
    assert up_sign * (raised[hand, up] - rest[hand, up]) == pytest.approx(arm_length, rel=1e-6)
    assert right_sign * (rest[hand, right] - rest[upper, right]) == pytest.approx(arm_length, rel=1e-6)
    # Straight above the shoulder joint, on the character's right side of the body.
    np.testing.assert_allclose(raised[hand, right], raised[upper, right], atol=1e-6 * arm_length)
    assert right_sign * raised[hand, right] > 0
    left_hand = rig.index(rig.bone_for("left_wrist"))
    np.testing.assert_allclose(raised[left_hand], rest[left_hand], atol=1e-9 * arm_length)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_wire_targets_raise_the_right_arm_with_their_own_joint_names(target: str) -> None:
    t = TARGETS[target]
    m = pose(RIGHT_ARM_UP)
    root, rot = to_target(m.root, m.rotations, target)
    offsets = t.convert_positions(SMPLH_BODY.offsets)
    pos, _ = R.forward_kinematics(rot.astype(np.float64), root.astype(np.float64), offsets.astype(np.float64),
                                  SMPLH_BODY.parents)
    wrist = t.joints.index({"smplh": "right_wrist", "unity": "RightHand", "unreal": "hand_r"}[target])
    shoulder = t.joints.index({"smplh": "right_shoulder", "unity": "RightUpperArm", "unreal": "upperarm_r"}[target])
    up, _ = UP[target]
    assert pos[0, wrist, up] - pos[0, shoulder, up] == pytest.approx(0.53 * t.scale, rel=1e-5)


def test_retargeting_onto_our_own_skeleton_is_the_identity() -> None:
    m = random_motion()
    out = retarget(m, get_rig("smplh"))
    np.testing.assert_allclose(np.abs((out.rotations * m.rotations).sum(-1)), 1.0, atol=1e-9)
    np.testing.assert_allclose(out.translations[:, 0], m.root, atol=1e-12)


@pytest.mark.parametrize("target", ["unity", "unreal", "mixamo"])
def test_every_mapped_bone_points_where_the_source_bone_points(target: str) -> None:
    """The world-delta guarantee, checked on positions: each mapped segment has the source segment's direction."""
    rig = get_rig(target)
    m = random_motion(seed=3)
    src = m.world_positions()
    pos, _ = retarget(m, rig).world("source")
    pairs = [("left_shoulder", "left_elbow"), ("right_elbow", "right_wrist"), ("left_hip", "left_knee"),
             ("right_knee", "right_ankle"), ("right_ankle", "right_foot"), ("neck", "head"),
             ("right_collar", "right_shoulder")]
    if target == "unreal":
        pairs.remove(("neck", "head"))  # neck_02 between them takes a blend: that segment bends on purpose
    for a, b in pairs:
        ba, bb = rig.bone_for(a), rig.bone_for(b)
        d_src = src[:, BODY_JOINTS.index(b)] - src[:, BODY_JOINTS.index(a)]
        d_rig = pos[:, rig.index(bb)] - pos[:, rig.index(ba)]
        cos = (d_src * d_rig).sum(-1) / np.linalg.norm(d_src, axis=-1) / np.linalg.norm(d_rig, axis=-1)
        np.testing.assert_allclose(cos, 1.0, atol=1e-9, err_msg=f"{target}: {ba}->{bb}")


def test_manny_rest_is_an_a_pose_and_the_t_pose_source_lifts_its_arms_to_horizontal() -> None:
    rig = manny()
    assert rig.rest_pose == "A"
    rest_pos, _ = rig.rest_world()
    for side in "lr":
        upper, hand = rest_pos[rig.index(f"upperarm_{side}")], rest_pos[rig.index(f"hand_{side}")]
        d = hand - upper
        droop = np.degrees(np.arctan2(-d[1], np.hypot(d[0], d[2])))
        assert droop == pytest.approx(45.0, abs=0.5)
    # Rest local rotations are far from identity (X-along-bone axes), so this exercises non-identity rests.
    assert np.abs(rig.rest_rotations[rig.index("upperarm_r"), 3]) < 0.9
    tpose, _ = retarget(pose({}), rig).world("source")
    for side in "lr":
        d = tpose[0, rig.index(f"hand_{side}")] - tpose[0, rig.index(f"upperarm_{side}")]
        assert abs(d[1]) < 1e-6 * np.linalg.norm(d)


def test_manny_spine_distribution_blends_the_world_deltas() -> None:
    rig = manny()
    m = pose({"spine1": [0.0, 0.0, 0.0], "spine2": [0.0, 0.6, 0.0], "spine3": [0.3, 0.0, 0.0]})
    _, world = retarget(m, rig).world("source")
    _, rest = rig.rest_world()
    align = rig.rest_alignment()

    def delta(bone: str) -> np.ndarray:
        b = rig.index(bone)
        return R.quat_mul(world[0, b], R.quat_conjugate(R.quat_mul(align[b], rest[b])))

    _, src_world = R.forward_kinematics(m.rotations, m.root, SMPLH_BODY.offsets, SMPLH_BODY.parents)
    s1, s2 = src_world[0, BODY_JOINTS.index("spine1")], src_world[0, BODY_JOINTS.index("spine2")]
    np.testing.assert_allclose(np.abs(delta("spine_02") @ R.quat_slerp(s1, s2, 0.5)), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.abs(delta("spine_03") @ s2), 1.0, atol=1e-9)
    # Halfway: spine_02 turned by half of spine_03's 0.6 rad.
    angle = np.linalg.norm(R.quat_to_axis_angle(delta("spine_02")))
    assert angle == pytest.approx(0.3, abs=1e-9)


def test_unity_rig_without_upper_chest_folds_spine3_into_chest() -> None:
    rig = unity_humanoid()
    assert "UpperChest" not in rig.bones
    m = pose({"spine3": [0.4, 0.0, 0.0]})
    _, world = retarget(m, rig).world("source")
    _, rest = rig.rest_world()
    align = rig.rest_alignment()
    chest = rig.index("Chest")
    d = R.quat_mul(world[0, chest], R.quat_conjugate(R.quat_mul(align[chest], rest[chest])))
    np.testing.assert_allclose(R.quat_to_axis_angle(d), [0.4, 0.0, 0.0], atol=1e-9)


def test_rig_without_toes_still_retargets_the_feet() -> None:
    rig = unity_humanoid().without("LeftToes", "RightToes")
    assert "LeftToes" not in rig.bones and rig.bone_for("left_foot") is None
    m = pose({"left_ankle": [0.5, 0.0, 0.0], "left_foot": [0.7, 0.0, 0.0]})
    out = retarget(m, rig)
    _, world = out.world("source")
    _, rest = rig.rest_world()
    foot = rig.index("LeftFoot")
    d = R.quat_mul(world[0, foot], R.quat_conjugate(R.quat_mul(rig.rest_alignment()[foot], rest[foot])))
    np.testing.assert_allclose(R.quat_to_axis_angle(d), [0.5, 0.0, 0.0], atol=1e-9)
    with pytest.raises(RigError, match="has children"):
        unity_humanoid().without("LeftFoot")


def test_root_travel_is_scaled_by_the_rest_hip_height_ratio() -> None:
    rig = manny()
    shift = np.array([[0.0, 0.0, 0.0], [0.5, 0.1, 1.0]])
    out = retarget(pose({}, frames=2, root_shift=shift), rig)
    pos, _ = out.world("rig")
    pelvis = rig.index("pelvis")
    ratio = pos[0, pelvis, 2] / (100 * SMPLH_BODY.offsets[0, 1])
    assert ratio == pytest.approx(1.06)
    # Source +X (left) is Unreal −Y; source +Z (forward) is Unreal +X; metres → centimetres.
    np.testing.assert_allclose(pos[1, pelvis] - pos[0, pelvis], ratio * 100 * np.array([1.0, -0.5, 0.1]),
                               atol=1e-9)


def test_bad_rigs_and_names_raise_typed_errors() -> None:
    with pytest.raises(UnknownRig, match="use one of"):
        get_rig("maya")
    good = get_rig("smplh")
    with pytest.raises(RigError, match="parents must come first"):
        Rig("bad", ("a", "b"), (1, -1), np.tile([0, 0, 0, 1.0], (2, 1)), np.zeros((2, 3)), {}, good.frame, "a")
    with pytest.raises(RigError, match="unknown source joint"):
        Rig("bad", ("a",), (-1,), np.tile([0, 0, 0, 1.0], (1, 1)), np.zeros((1, 3)), {"a": "tail"}, good.frame, "a")
    with pytest.raises(RigError, match="hips bone"):
        Rig("bad", ("a",), (-1,), np.tile([0, 0, 0, 1.0], (1, 1)), np.zeros((1, 3)), {}, good.frame, "hip")


def test_shared_retarget_table_is_current_and_self_consistent() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_retarget_cases", REPO / "scripts" / "make_retarget_cases.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = json.loads((REPO / "tests" / "data" / "retarget_cases.json").read_text())
    fresh = json.loads(json.dumps(module.build()))
    # Same structure and strings; numbers equal up to float rounding (numpy versions differ in the last digit).
    assert _numbers_close(table, fresh), "run python scripts/make_retarget_cases.py"
    case = next(c for c in table["cases"] if c["name"] == "right_arm_raised_sideways")
    hand, upper = case["expected_world_positions"]["hand_r"], case["expected_world_positions"]["upperarm_r"]
    assert hand[2] - upper[2] == pytest.approx(53.0 * 1.06, rel=1e-6)  # Unreal Z up, cm, Manny 1.06× our arm
    # Local rotations compose back into the world positions (FK in the table's own numbers).
    bones, parents = table["target"]["bones"], table["target"]["parents"]
    trans = np.array(table["target"]["rest_local_translations"])
    trans[bones.index("pelvis")] = case["expected_hips_translation"]
    rot = np.array([case["expected_local_rotations"][b] for b in bones])
    pos, _ = R.forward_kinematics(rot, trans[0], trans, parents)
    np.testing.assert_allclose(pos, [case["expected_world_positions"][b] for b in bones], atol=1e-4)


QUATERNION_FIELDS = {"rest_local_rotations", "source_local_rotations", "rest_alignment", "expected_local_rotations"}
"""Table fields holding quaternions: q and -q are one rotation, and a half-turn (w = 0) has no preferred sign,
so the generator's `w >= 0` rule leaves the sign of such a quaternion to float rounding on each build."""


def _numbers_close(a: object, b: object, tol: float = 1e-9, quaternions: bool = False) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(
            _numbers_close(a[k], b[k], tol, quaternions or k in QUATERNION_FIELDS) for k in a
        )
    if quaternions and _is_quaternion(a) and _is_quaternion(b):
        return _numbers_close(a, b, tol) or _numbers_close(a, [-v for v in b], tol)  # type: ignore[union-attr]
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_numbers_close(x, y, tol, quaternions) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= tol * max(1.0, abs(a))
    return a == b


def _is_quaternion(value: object) -> bool:
    return isinstance(value, list) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value)


def test_table_comparison_takes_q_and_minus_q_as_one_rotation_but_not_other_numbers() -> None:
    table = json.loads((REPO / "tests" / "data" / "retarget_cases.json").read_text())
    bones = table["target"]["bones"]
    thigh = bones.index("thigh_l")
    assert table["target"]["rest_local_rotations"][thigh][3] == 0.0  # a half-turn: its sign is arbitrary
    flipped = json.loads(json.dumps(table))
    flipped["target"]["rest_local_rotations"][thigh] = [-v for v in table["target"]["rest_local_rotations"][thigh]]
    case = flipped["cases"][0]
    case["rest_alignment"]["thigh_l"] = [-v for v in case["rest_alignment"]["thigh_l"]]
    assert _numbers_close(table, flipped)
    # Only quaternions are sign-free: a flipped translation or a different rotation still fails.
    moved = json.loads(json.dumps(table))
    moved["target"]["rest_local_translations"][thigh] = [-v for v in table["target"]["rest_local_translations"][thigh]]
    assert not _numbers_close(table, moved)
    turned = json.loads(json.dumps(table))
    turned["target"]["rest_local_rotations"][thigh] = [0.0, 0.0, 0.0, 1.0]
    assert not _numbers_close(table, turned)
