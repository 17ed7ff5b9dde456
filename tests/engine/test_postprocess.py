"""Upstream post-processing filters on signals whose filtered values are known."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core import rotations as R
from engine.core.skeleton import NUM_BODY_JOINTS, SMPLH_BODY
from engine.post.postprocess import PostProcess, apply, lift_to_ground
from engine.post.smoothing import gaussian_kernel, savgol_filter, smooth_quaternions


def test_gaussian_kernel_sigma_1_has_radius_4_and_sums_to_1():
    w = gaussian_kernel(1.0)
    assert len(w) == 9 and w.sum() == pytest.approx(1.0)
    assert w[4] == pytest.approx(1 / np.sqrt(2 * np.pi), rel=1e-3)
    assert np.allclose(w, w[::-1])


def test_savgol_keeps_polynomials_up_to_order_5_exactly_including_the_ends():
    t = np.linspace(-1, 1, 40)
    signal = np.stack([1 + 2 * t - 3 * t**2 + 0.5 * t**5, t**4, np.full_like(t, 7.0)], axis=1)
    assert np.allclose(savgol_filter(signal, 11, 5), signal, atol=1e-10)


def test_savgol_reduces_white_noise():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(300, 3))
    smoothed = savgol_filter(noise, 11, 5)
    assert smoothed.std() < 0.75 * noise.std()


def test_savgol_impulse_response_is_the_tabulated_11_point_quintic_filter():
    x = np.zeros((30, 1))
    x[15, 0] = 1.0  # an impulse away from the ends returns the (symmetric) convolution coefficients
    out = savgol_filter(x, 11, 5)[:, 0]
    tabulated = np.array([18, -45, -10, 60, 120, 143, 120, 60, -10, -45, 18]) / 429.0
    assert np.allclose(out[10:21], tabulated, atol=1e-12)
    assert np.allclose(out[:10], 0.0, atol=1e-12)


def test_savgol_short_clip_uses_a_smaller_window_and_tiny_clips_pass_through():
    x = np.arange(9.0)[:, None] ** 2
    assert np.allclose(savgol_filter(x, 11, 5), x)
    assert np.array_equal(savgol_filter(np.ones((4, 2)), 11, 5), np.ones((4, 2)))


def _yaw_sweep(frames: int, rate: float) -> np.ndarray:
    angles = rate * np.arange(frames)
    return R.quat_from_yaw(angles)[:, None, :].repeat(3, axis=1)


def test_quaternion_smoothing_keeps_a_constant_rate_rotation_in_the_interior():
    q = _yaw_sweep(40, 0.05)
    out = smooth_quaternions(q, 1.0)
    dots = np.abs((out * q).sum(-1))
    assert np.allclose(dots[4:-4], 1.0, atol=1e-12)  # symmetric weights around a uniform sweep: the centre


def test_quaternion_smoothing_ignores_sign_flips():
    q = _yaw_sweep(30, 0.03)
    flipped = q.copy()
    flipped[::2] *= -1
    a, b = smooth_quaternions(q), smooth_quaternions(flipped)
    assert np.allclose(np.abs((a * b).sum(-1)), 1.0, atol=1e-12)


def test_quaternion_smoothing_removes_a_one_frame_spike():
    q = _yaw_sweep(30, 0.0)
    q[15] = R.quat_from_yaw(np.array(0.5))
    out = smooth_quaternions(q)
    spike = np.degrees(2 * np.arccos(np.clip(np.abs(out[15, 0, 3]), 0, 1)))
    assert spike < 0.5 * np.degrees(0.5)


def test_ground_lift_puts_the_lowest_joint_at_the_rest_sole_height():
    frames = 10
    quats = np.zeros((frames, NUM_BODY_JOINTS, 4))
    quats[..., 3] = 1
    root = np.tile(SMPLH_BODY.rest_positions()[0], (frames, 1)) + np.array([0.3, 0.4, -1.0])
    lifted = lift_to_ground(root, quats)
    rest_low = SMPLH_BODY.rest_positions()[:, 1].min()
    positions, _ = R.forward_kinematics(quats, lifted, SMPLH_BODY.offsets, SMPLH_BODY.parents)
    assert positions[..., 1].min() == pytest.approx(rest_low)
    assert np.allclose(lifted[:, [0, 2]], root[:, [0, 2]])


def test_each_step_can_be_switched_off():
    rng = np.random.default_rng(1)
    root = rng.normal(size=(20, 3))
    quats = R.quat_normalize(rng.normal(size=(20, NUM_BODY_JOINTS, 4)))
    r, q = apply(root, quats, PostProcess.none())
    assert np.allclose(r, root, atol=1e-6) and np.allclose(q, quats, atol=1e-6)
    r, _ = apply(root, quats, PostProcess(smooth_rotations=False, lift_to_ground=False))
    assert not np.allclose(r, root, atol=1e-3)
