"""The exact clean-up after sampling: a decoded clip is warped so every goal holds exactly.

Motion warping with displacement maps: on each goal frame the wanted pose is built from the clip's own pose
(goal rotations and root coordinates set, facing turned, effectors reached by IK, each by its weight); the
difference to the clip's pose, per joint as a rotation vector and for the root as a translation, is a
displacement known on the goal frames, and `goals.spread_weights` carries it to the frames around them.
Every channel is pinned on every goal frame (unchanged channels with a zero displacement), so a goal's
correction cannot leak into a neighbouring goal's frame: after the warp each goal frame is its wanted pose.
The displacement eases with zero slope on its key frames, so a start pose joins without changing the
clip's velocity there.
"""

from __future__ import annotations

import numpy as np

from engine.core import rotations as R
from engine.core.skeleton import NUM_BODY_JOINTS
from engine.model.directing import ik
from engine.model.directing.goals import FrameGoal, spread_weights

CLEANUP_RADIUS = 12
"""Frames over which a goal's correction eases out (0.4 s at 30 fps)."""


def wanted_pose(goal: FrameGoal, root: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pose (root (3,), rotations (22, 4)) a frame must have to meet `goal`, starting from its own."""
    root = np.array(root, np.float64)
    rot = np.array(rotations, np.float64)
    for a, (value, w) in goal.root.items():
        root[a] += w * (value - root[a])
    for j, (q, w) in goal.rotations.items():
        rot[j] = R.quat_slerp(rot[j], q, w) if w < 1 else q
    if goal.facing is not None:
        facing, w = goal.facing
        turn = (facing - float(R.quat_yaw(rot[0])) + np.pi) % (2 * np.pi) - np.pi
        rot[0] = R.quat_mul(R.quat_from_yaw(np.array(w * turn)), rot[0])
    if goal.effectors:
        targets = {j: p for j, (p, _w) in goal.effectors.items()}
        new_root, new_rot = ik.solve(root, rot, targets)
        w = min(w for _p, w in goal.effectors.values())
        if w < 1:
            new_root = root + w * (new_root - root)
            new_rot = R.quat_slerp(rot, new_rot, w)
        root, rot = new_root, new_rot
    return root, rot


def apply_goals(
    root: np.ndarray, rotations: np.ndarray, goals: dict[int, FrameGoal], radius: float = CLEANUP_RADIUS
) -> tuple[np.ndarray, np.ndarray]:
    """Root (L, 3) and local rotations (L, 22, 4) warped so every goal frame meets its goal exactly."""
    root = np.array(root, np.float64)
    rot = R.quat_normalize(np.array(rotations, np.float64))
    if not goals:
        return root, rot
    frames = np.array(sorted(goals))
    disp = np.zeros((len(frames), 1 + NUM_BODY_JOINTS, 3))
    for k, f in enumerate(frames):
        want_root, want_rot = wanted_pose(goals[int(f)], root[f], rot[f])
        disp[k, 0] = want_root - root[f]
        delta = R.quat_mul(want_rot, R.quat_conjugate(rot[f]))
        delta = np.where(delta[:, 3:] < 0, -delta, delta)
        disp[k, 1:] = R.quat_to_axis_angle(delta)
    spread = np.einsum("lk,kjc->ljc", spread_weights(frames, len(root), radius), disp)
    root = root + spread[:, 0]
    rot = R.quat_mul(R.axis_angle_to_quat(spread[:, 1:]), rot)
    return root, R.quat_normalize(rot)
