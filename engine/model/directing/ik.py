"""Inverse kinematics for effector goals: damped least squares over the joints above each effector.

Every ancestor of an effector up to (not including) the pelvis bends, each by a small world-axis rotation per
iteration; the Jacobian of an effector's position for a rotation of joint j about world axis ω is
ω × (p_effector − p_j). Spine joints and the root's translation take part with smaller weights, so a reach
is made with the limb first, the back second and a step of the whole body last (which is what makes any
target reachable). Several effectors of one frame are solved together.
"""

from __future__ import annotations

import numpy as np

from engine.core import rotations as R
from engine.core.skeleton import BODY_JOINTS, BODY_PARENTS, SMPLH_BODY

_SPINE = {BODY_JOINTS.index(n) for n in ("spine1", "spine2", "spine3", "neck", "left_collar", "right_collar")}
JOINT_WEIGHT = np.array([0.0 if j == 0 else 0.3 if j in _SPINE else 1.0 for j in range(len(BODY_JOINTS))])
ROOT_WEIGHT = 0.05
TOLERANCE = 1e-4
"""Metres: an effector this close to its target is done."""


def _ancestors(joint: int) -> list[int]:
    chain = []
    j = BODY_PARENTS[joint]
    while j > 0:
        chain.append(j)
        j = BODY_PARENTS[j]
    return chain


def _skew(v: np.ndarray) -> np.ndarray:
    x, y, z = v
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def solve(
    root: np.ndarray, rotations: np.ndarray, targets: dict[int, np.ndarray], iterations: int = 30, damping: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """Root (3,) and local rotations (22, 4) moved so each effector joint reaches its target (3,) position.

    The pelvis as an effector is placed by moving the root. Returns new (root, rotations), float64.
    """
    root = np.array(root, np.float64)
    rot = np.array(rotations, np.float64)
    targets = dict(targets)
    if 0 in targets:
        root = np.asarray(targets.pop(0), np.float64).copy()
    if not targets:
        return root, rot
    effectors = sorted(targets)
    joints = sorted({j for e in effectors for j in _ancestors(e)})
    offsets, parents = SMPLH_BODY.offsets, SMPLH_BODY.parents
    goal = np.concatenate([targets[e] for e in effectors])
    scale = np.concatenate([np.repeat(JOINT_WEIGHT[joints], 3), np.full(3, ROOT_WEIGHT)])
    for _ in range(iterations):
        pos, world = R.forward_kinematics(rot, root, offsets, parents)
        err = goal - np.concatenate([pos[e] for e in effectors])
        if np.abs(err).reshape(-1, 3).max() < TOLERANCE:
            break
        jac = np.zeros((3 * len(effectors), 3 * len(joints) + 3))
        for row, e in enumerate(effectors):
            chain = set(_ancestors(e))
            for col, j in enumerate(joints):
                if j in chain:
                    jac[3 * row : 3 * row + 3, 3 * col : 3 * col + 3] = -_skew(pos[e] - pos[j])
            jac[3 * row : 3 * row + 3, -3:] = np.eye(3)
        jw = jac * scale[None]
        step = scale * (jac.T @ np.linalg.solve(jw @ jac.T + damping * np.eye(len(goal)), err))
        turn = R.axis_angle_to_quat(step[:-3].reshape(-1, 3))
        parent = world[[parents[j] for j in joints]]
        rot[joints] = R.quat_mul(R.quat_conjugate(parent), R.quat_mul(turn, R.quat_mul(parent, rot[joints])))
        root = root + step[-3:]
    return root, R.quat_normalize(rot)
