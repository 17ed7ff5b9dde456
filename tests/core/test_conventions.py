"""Skeleton, Motion, 201-d layout and wire-target conventions."""

import numpy as np
import pytest

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import ALL_JOINTS, ALL_PARENTS, BODY_JOINTS, BODY_PARENTS, LEFT_RIGHT_BODY, SMPLH_BODY
from engine.core.targets import TARGETS, UnknownTarget, get_target, to_target
from engine.model.representation import FEATURE_DIM, Normalizer, decode_features, encode_features


def raise_right_arm_sideways() -> np.ndarray:
    """Local rotations of a T-pose with the right arm rotated 90° up (hand above the shoulder)."""
    q = np.tile([0.0, 0.0, 0.0, 1.0], (1, 22, 1))
    # The right arm points to −X at rest; rotating −90° about +Z turns −X into +Y.
    q[0, BODY_JOINTS.index("right_shoulder")] = R.axis_angle_to_quat(np.array([0.0, 0.0, -np.pi / 2]))
    return q


def test_smplh_body_order_and_parents_match_the_reference():
    assert BODY_JOINTS[:4] == ("pelvis", "left_hip", "right_hip", "spine1")
    assert BODY_PARENTS == (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
    assert len(ALL_JOINTS) == 52 and len(ALL_PARENTS) == 52
    assert all(p < j for j, p in enumerate(ALL_PARENTS))


def test_rest_pose_is_an_upright_t_pose_facing_plus_z_with_left_on_plus_x():
    pos = SMPLH_BODY.rest_positions()
    head, lw, rw = (pos[BODY_JOINTS.index(n)] for n in ("head", "left_wrist", "right_wrist"))
    la, lf = pos[BODY_JOINTS.index("left_ankle")], pos[BODY_JOINTS.index("left_foot")]
    assert head[1] > 1.4 and lw[0] > 0.6 and rw[0] < -0.6
    assert abs(lw[1] - rw[1]) < 1e-9 and abs(lw[1] - pos[BODY_JOINTS.index("left_shoulder")][1]) < 1e-9
    assert lf[2] > la[2]  # toes point forward (+Z)
    np.testing.assert_allclose(pos[:, 0], -pos[list(LEFT_RIGHT_BODY), 0], atol=1e-12)


def test_features_round_trip_and_layout():
    rng = np.random.default_rng(1)
    quats = R.quat_normalize(rng.normal(size=(7, 22, 4)))
    root = rng.normal(size=(7, 3))
    feats = encode_features(root, quats)
    assert feats.shape == (7, FEATURE_DIM)
    root2, quats2 = decode_features(feats.double())
    np.testing.assert_allclose(root2.numpy(), root, atol=1e-6)
    np.testing.assert_allclose(np.abs((quats2.numpy() * quats).sum(-1)), 1.0, atol=1e-6)
    pos, _ = R.forward_kinematics(quats, root, SMPLH_BODY.offsets, SMPLH_BODY.parents)
    np.testing.assert_allclose(feats[:, 135:].numpy().reshape(7, 22, 3), pos, atol=1e-5)


def test_normalizer_treats_tiny_std_as_constant_feature():
    mean = np.arange(FEATURE_DIM, dtype=np.float32)
    std = np.full(FEATURE_DIM, 2.0, dtype=np.float32)
    std[5] = 1e-4
    norm = Normalizer.from_arrays(mean, std)
    import torch

    x = torch.full((1, FEATURE_DIM), 10.0)
    z = norm.normalize(x)
    assert z[0, 5] == 0 and z[0, 0] == pytest.approx(5.0)
    back = norm.denormalize(z)
    assert back[0, 5] == pytest.approx(5.0) and back[0, 0] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="201"):
        Normalizer.from_arrays(mean[:10], std)


def test_motion_npz_is_upstream_compatible(tmp_path):
    rng = np.random.default_rng(2)
    quats = R.quat_normalize(rng.normal(size=(12, 22, 4))).astype(np.float32)
    m = Motion(root=rng.normal(size=(12, 3)).astype(np.float32), rotations=quats, text="a walk", seed=3)
    path = m.save_npz(tmp_path / "walk.npz")
    with np.load(path) as data:
        assert data["poses"].shape == (12, 156) and data["trans"].shape == (12, 3)
        assert data["betas"].shape == (1, 16) and str(data["gender"]) == "neutral"
        np.testing.assert_allclose(data["Rh"], data["poses"][:, :3])
        assert np.all(data["poses"][:, 66:] == 0)  # fingers at rest
    back = Motion.load_npz(path)
    np.testing.assert_allclose(np.abs((back.rotations * quats).sum(-1)), 1.0, atol=1e-5)
    assert back.text == "a walk" and back.seed == 3 and not list(tmp_path.glob(".tmp-*"))


def test_motion_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="rotations"):
        Motion(root=np.zeros((5, 3), np.float32), rotations=np.zeros((4, 22, 4), np.float32))


@pytest.mark.parametrize(
    "target,hand,up_axis,sign",
    [("smplh", "right_wrist", 1, 1), ("unity", "RightHand", 1, 1), ("unreal", "hand_r", 2, 1)],
)
def test_raising_the_right_arm_moves_the_right_hand_up_in_every_target(target, hand, up_axis, sign):
    t = get_target(target)
    local = raise_right_arm_sideways()
    root = np.array([[0.0, 0.95, 0.0]])
    identity = np.tile([0.0, 0, 0, 1], (1, 22, 1))
    rest_pos, _ = R.forward_kinematics(identity, root, SMPLH_BODY.offsets, SMPLH_BODY.parents)
    root_t, rot_t = to_target(root, local, target)
    offsets_t = t.convert_positions(SMPLH_BODY.offsets)
    pos_t, _ = R.forward_kinematics(rot_t.astype(np.float64), root_t.astype(np.float64), offsets_t.astype(np.float64),
                                    SMPLH_BODY.parents)
    rest_t = t.convert_positions(rest_pos)
    j = t.joints.index(hand)
    rise = (pos_t[0, j, up_axis] - rest_t[0, j, up_axis]) * sign
    assert rise == pytest.approx(0.53 * t.scale, rel=1e-3)  # elbow 0.28 + wrist 0.25 above the shoulder


def test_unity_and_unreal_handedness_flip():
    assert TARGETS["unity"].det == -1 and TARGETS["unreal"].det == -1 and TARGETS["smplh"].det == 1
    unity_q = TARGETS["unity"].convert_rotations(np.array([0.1, 0.2, 0.3, 0.9]))
    np.testing.assert_allclose(unity_q, [0.1, -0.2, -0.3, 0.9], atol=1e-7)
    np.testing.assert_allclose(TARGETS["unreal"].convert_positions(np.array([1.0, 2.0, 3.0])), [300, -100, 200])
    with pytest.raises(UnknownTarget, match="smplh"):
        get_target("maya")


@pytest.mark.parametrize("name", list(TARGETS))
def test_rotations_convert_as_the_change_of_basis_formula_says(name):
    """axis' = det(M) · M · axis, angle unchanged: the component picking must give exactly the formula's values
    (for frames and joints at every stride; numpy 2.4.6's strided float32 negative once broke that)."""
    t = TARGETS[name]
    q = np.random.default_rng(3).normal(size=(150, 22, 4)).astype(np.float32)
    expected = np.concatenate([t.det * (q[..., :3].astype(np.float64) @ t.basis.T), q[..., 3:]], axis=-1)
    converted = t.convert_rotations(q)
    assert converted.dtype == np.float32
    np.testing.assert_array_equal(converted, expected.astype(np.float32))
    np.testing.assert_array_equal(t.rotations_to_source(converted), q)


def test_a_target_basis_must_be_a_signed_permutation():
    from engine.core.targets import Target

    tilted = np.array([[1.0, 0.0, 0.0], [0.0, 0.8, -0.6], [0.0, 0.6, 0.8]])
    with pytest.raises(ValueError, match="signed permutation"):
        Target("tilted", BODY_JOINTS, tilted, 1.0, "right", "+Y", "+Z", "m")
