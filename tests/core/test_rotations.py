"""Rotation conventions checked against hand-made matrices and known rotations."""

import math

import numpy as np
import pytest
import torch

from engine.core import rotations as R
from engine.core.skeleton import SMPLH_BODY
from engine.model import tensor_rotations as T


def rz(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


def rx(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


def ry(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def test_quaternion_is_xyzw_and_rotates_x_towards_y_about_z():
    q = np.array([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)])
    np.testing.assert_allclose(R.quat_apply(q, np.array([1.0, 0.0, 0.0])), [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(R.quat_to_matrix(q), rz(90), atol=1e-12)


def test_quat_mul_composes_parent_then_child_like_matrices():
    a = R.matrix_to_quat(rx(30))
    b = R.matrix_to_quat(ry(50))
    np.testing.assert_allclose(R.quat_to_matrix(R.quat_mul(a, b)), rx(30) @ ry(50), atol=1e-12)


def test_upstream_6d_is_row_major_3x2_of_the_first_two_columns():
    m = rz(30) @ rx(20)
    d6 = R.matrix_to_rot6d(m)
    np.testing.assert_allclose(d6, [m[0, 0], m[0, 1], m[1, 0], m[1, 1], m[2, 0], m[2, 1]])
    # Reading the six numbers as two contiguous columns would give a different matrix.
    assert not np.allclose(R.rot6d_to_matrix(np.concatenate([m[:, 0], m[:, 1]])), m, atol=1e-3)
    np.testing.assert_allclose(R.rot6d_to_matrix(d6), m, atol=1e-12)


def test_6d_gram_schmidt_recovers_rotation_from_noisy_columns():
    m = ry(70) @ rx(-40)
    noisy = R.matrix_to_rot6d(m) * 3.0 + np.array([0, 0.01, 0, 0.01, 0, 0.01])
    out = R.rot6d_to_matrix(noisy)
    np.testing.assert_allclose(out @ out.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(out) == pytest.approx(1.0)
    np.testing.assert_allclose(out[:, 0], m[:, 0], atol=1e-12)


def test_axis_angle_round_trip_and_small_angles():
    aa = np.array([[0.0, 0.0, 0.0], [1e-9, 0, 0], [0.3, -0.2, 0.1], [0, math.pi * 0.999, 0]])
    np.testing.assert_allclose(R.quat_to_axis_angle(R.axis_angle_to_quat(aa)), aa, atol=1e-9)
    np.testing.assert_allclose(R.axis_angle_to_matrix(np.array([0, 0, math.pi / 2])), rz(90), atol=1e-12)


def test_euler_order_string_is_applied_left_to_right():
    angles = np.radians([10.0, 20.0, 30.0])
    np.testing.assert_allclose(R.quat_to_matrix(R.euler_to_quat(angles, "ZXY")), rz(10) @ rx(20) @ ry(30), atol=1e-12)
    for order in ("XYZ", "ZYX", "YXZ", "ZXY"):
        back = R.quat_to_euler(R.euler_to_quat(angles, order), order)
        np.testing.assert_allclose(back, angles, atol=1e-12)


def test_slerp_halfway_and_shortest_arc():
    a = R.matrix_to_quat(np.eye(3))
    b = R.matrix_to_quat(rz(90))
    np.testing.assert_allclose(R.quat_to_matrix(R.quat_slerp(a, b, 0.5)), rz(45), atol=1e-12)
    np.testing.assert_allclose(R.quat_to_matrix(R.quat_slerp(a, -b, 0.5)), rz(45), atol=1e-12)


def test_forward_kinematics_of_a_two_bone_chain():
    offsets = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    local = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (3, 1))
    local[1] = R.matrix_to_quat(rz(90))
    pos, world = R.forward_kinematics(local, np.array([0.0, 1.0, 0.0]), offsets, [-1, 0, 1])
    np.testing.assert_allclose(pos, [[0, 1, 0], [1, 1, 0], [1, 2, 0]], atol=1e-12)
    np.testing.assert_allclose(R.local_from_world(world, [-1, 0, 1]), local, atol=1e-12)


def test_numpy_in_numpy_out_and_the_input_dtype_is_kept():
    assert R.quat_to_matrix(np.array([0.0, 0.0, 0.0, 1.0], dtype=np.float32)).dtype == np.float32
    assert R.quat_to_matrix(np.array([0.0, 0.0, 0.0, 1.0])).dtype == np.float64


def test_the_tensor_twin_agrees_with_the_numpy_rotations():
    rng = np.random.default_rng(3)
    q = R.quat_normalize(rng.normal(size=(40, 22, 4)))
    v = rng.normal(size=(40, 22, 3))
    d6 = rng.normal(size=(40, 22, 6))
    root = rng.normal(size=(40, 3))
    t = torch.from_numpy
    pairs = [
        (R.quat_mul(q, q[::-1]), T.quat_mul(t(q), t(q[::-1].copy()))),
        (R.quat_apply(q, v), T.quat_apply(t(q), t(v))),
        (R.quat_to_matrix(q), T.quat_to_matrix(t(q))),
        (R.matrix_to_quat(R.quat_to_matrix(q)), T.matrix_to_quat(t(R.quat_to_matrix(q)))),
        (R.rot6d_to_matrix(d6), T.rot6d_to_matrix(t(d6))),
        (R.rot6d_to_quat(d6), T.rot6d_to_quat(t(d6))),
        (R.quat_to_rot6d(q), T.quat_to_rot6d(t(q))),
    ]
    pos, rot = R.forward_kinematics(q, root, SMPLH_BODY.offsets, SMPLH_BODY.parents)
    pos_t, rot_t = T.forward_kinematics(t(q), t(root), t(SMPLH_BODY.offsets), SMPLH_BODY.parents)
    mats = T.forward_kinematics_matrices(t(R.quat_to_matrix(q)), t(root), t(SMPLH_BODY.offsets), SMPLH_BODY.parents)
    pairs += [(pos, pos_t), (rot, rot_t), (pos, mats)]
    for expected, tensor in pairs:
        np.testing.assert_allclose(tensor.numpy(), expected, rtol=0, atol=1e-12)


def test_continuity_flips_sign_of_the_far_hemisphere():
    q = np.array([[0, 0, 0, 1.0], [0, 0, 0, -1.0], [0, 0, 0.1, -0.99]])
    out = R.quat_make_continuous(q)
    assert (out[:, 3] > 0).all()


def _make_continuous_reference(q: np.ndarray, dim: int = 0) -> np.ndarray:
    """The original frame-by-frame loop, kept as the reference the vectorised version must match exactly."""
    q = np.moveaxis(q, dim, 0).copy()
    for i in range(1, q.shape[0]):
        flip = (q[i] * q[i - 1]).sum(-1, keepdims=True) < 0
        q[i] = np.where(flip, -q[i], q[i])
    return np.moveaxis(q, 0, dim)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_continuity_matches_the_frame_by_frame_loop_exactly(dtype):
    rng = np.random.default_rng(7)
    q = R.quat_normalize(rng.normal(size=(240, 22, 4)).astype(dtype))
    # Exactly orthogonal neighbours (dot == 0) never flip and end a run of flips: keep that corner exact too.
    q[50, 3] = [1.0, 0.0, 0.0, 0.0]
    q[51, 3] = [0.0, 1.0, 0.0, 0.0]
    q[120:130, 5] = -q[119, 5]
    expected = _make_continuous_reference(q.astype(np.float64), 0).astype(dtype)
    np.testing.assert_array_equal(R.quat_make_continuous(q, 0), expected)
    across = np.moveaxis(q, 0, 1)  # time on axis 1
    np.testing.assert_array_equal(R.quat_make_continuous(across, 1), np.moveaxis(expected, 0, 1))
    assert R.quat_make_continuous(q[:1], 0).shape == (1, 22, 4)
    assert R.quat_make_continuous(q[:0], 0).shape == (0, 22, 4)


def test_quat_between_turns_a_onto_b_and_is_the_shortest_arc():
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    q = R.quat_between(a, b)
    turned = R.quat_apply(q, a / np.linalg.norm(a, axis=-1, keepdims=True))
    np.testing.assert_allclose(turned, b / np.linalg.norm(b, axis=-1, keepdims=True), atol=1e-12)
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    np.testing.assert_allclose(np.linalg.norm(R.quat_to_axis_angle(q), axis=-1), np.arccos(cos), atol=1e-12)


def test_quat_between_equal_directions_is_the_identity():
    np.testing.assert_array_equal(R.quat_between(np.array([0.0, 2.0, 0.0]), np.array([0.0, 1.0, 0.0])),
                                  [0.0, 0.0, 0.0, 1.0])


@pytest.mark.parametrize("a", [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.3, -0.2, 0.9]])
def test_quat_between_opposite_directions_is_a_half_turn_about_a_perpendicular_or_the_fallback(a):
    a = np.array(a)
    q = R.quat_between(a, -a)
    np.testing.assert_allclose(R.quat_apply(q, a), -a, atol=1e-12)
    assert abs(q[3]) < 1e-12 and abs(float(q[:3] @ a)) < 1e-12  # half turn about an axis perpendicular to a
    about_z = R.quat_between(np.array([1.0, 0.0, 0.0]), np.array([-1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(about_z, [0.0, 0.0, 1.0, 0.0], atol=1e-12)


def test_cross_gives_numpy_cross_bit_for_bit_with_broadcasting():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(65, 22, 3)), rng.normal(size=(65, 22, 3))
    assert R.cross(a, b).tobytes() == np.cross(a, b).tobytes()
    assert R.cross(a, b[0, 0]).tobytes() == np.cross(a, b[0, 0]).tobytes()
