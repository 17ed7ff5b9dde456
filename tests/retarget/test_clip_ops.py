"""Clip operations: slerp resampling, trimming by seconds, in-place and seamless loops."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import BODY_JOINTS, SMPLH_BODY
from engine.post.clip_ops import ClipError, in_place, loop, resample, trim


def turning_walk(frames: int = 31, fps: float = 30.0) -> Motion:
    """Pelvis yaw growing linearly at 1 rad/s, the left knee swinging, root moving forward 1 m/s."""
    t = np.arange(frames) / fps
    aa = np.zeros((frames, len(BODY_JOINTS), 3))
    aa[:, 0, 1] = t
    aa[:, BODY_JOINTS.index("left_knee"), 0] = 0.6 * np.sin(2 * np.pi * t)
    root = np.tile(SMPLH_BODY.offsets[0], (frames, 1))
    root[:, 2] += t
    root[:, 0] += 0.2 * t
    root[:, 1] += 0.05 * np.sin(2 * np.pi * t)
    return Motion(root=root.astype(np.float32), rotations=R.axis_angle_to_quat(aa).astype(np.float32), fps=fps,
                  text="walk")


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 2 * np.arccos(np.clip(np.abs((a * b).sum(-1)), 0, 1))


@pytest.mark.parametrize(("fps", "frames"), [(60, 61), (24, 25), (30, 31)])
def test_resample_covers_the_same_span_at_the_new_rate(fps: int, frames: int) -> None:
    m = turning_walk()
    out = resample(m, fps)
    assert out.fps == fps and out.frames == frames and out.text == "walk"
    # The pelvis yaw grows linearly in time, so slerp must reproduce it exactly at any new frame time.
    t = np.arange(frames) / fps
    yaw = R.quat_to_axis_angle(out.rotations[:, 0].astype(np.float64))[:, 1]
    np.testing.assert_allclose(yaw, t, atol=1e-5)
    np.testing.assert_allclose(out.root[:, 2] - out.root[0, 2], t, atol=1e-5)


def test_resample_to_double_rate_keeps_original_frames_and_puts_slerp_midpoints_between() -> None:
    m = turning_walk()
    out = resample(m, 60)
    np.testing.assert_allclose(_angle(out.rotations[::2], m.rotations), 0.0, atol=2e-3)
    mid = R.quat_slerp(m.rotations[:-1].astype(np.float64), m.rotations[1:].astype(np.float64), 0.5)
    np.testing.assert_allclose(_angle(out.rotations[1::2], mid), 0.0, atol=2e-3)


def test_trim_keeps_frames_between_start_and_end_seconds() -> None:
    m = turning_walk()
    out = trim(m, 0.2, 0.5)
    assert out.frames == 10  # frames 6..15 at 30 fps
    np.testing.assert_array_equal(out.rotations, m.rotations[6:16])
    assert trim(m, None, 0.1).frames == 4
    assert trim(m, 0.9).frames == 4
    with pytest.raises(ClipError, match="0 <= start < end"):
        trim(m, 0.5, 0.2)
    with pytest.raises(ClipError, match="no frame lies"):
        trim(m, 5.0, 6.0)


def test_in_place_removes_horizontal_travel_but_keeps_height_and_turning() -> None:
    m = turning_walk()
    out = in_place(m)
    np.testing.assert_array_equal(out.root[:, [0, 2]], 0.0)
    np.testing.assert_array_equal(out.root[:, 1], m.root[:, 1])
    np.testing.assert_array_equal(out.rotations, m.rotations)
    assert m.root[-1, 2] > 0.9  # the input is untouched


def test_loop_makes_last_pose_equal_first_and_blends_smoothly() -> None:
    m = turning_walk(frames=46)
    out = loop(m, blend_seconds=0.5)
    np.testing.assert_allclose(_angle(out.rotations[-1], out.rotations[0]), 0.0, atol=1e-3)
    assert out.root[-1, 1] == pytest.approx(out.root[0, 1], abs=1e-6)
    n = 15
    np.testing.assert_array_equal(out.rotations[: m.frames - n], m.rotations[: m.frames - n])
    # Smooth: no per-frame jump larger than the original motion's biggest step plus the blend's share.
    steps = _angle(out.rotations[1:], out.rotations[:-1]).max(axis=1)
    original = _angle(m.rotations[1:], m.rotations[:-1]).max(axis=1)
    assert steps.max() < 3 * original.max()
    with pytest.raises(ClipError, match="at least 3 frames"):
        loop(turning_walk(frames=2))


@pytest.mark.parametrize("bad", [0, -24, float("nan"), float("inf")])
def test_resample_rejects_bad_rates(bad: float) -> None:
    with pytest.raises(ClipError, match="positive"):
        resample(turning_walk(), bad)
