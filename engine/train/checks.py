"""Physical measures of a generated clip and `Check`, one prompt with the measure that must pass on it.

`engine.train.evaluation` (the held-out and validation sets, `motionbridge eval`) and
`engine.train.everyday_checks` (everyday actions) both build their prompt sets from these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import BODY_JOINTS, FPS

CONTACT_HEIGHT = {"left_ankle": 0.10, "right_ankle": 0.10, "left_foot": 0.05, "right_foot": 0.05}
"""A foot joint touches the ground below these heights (m); the rest skeleton stands with the ankles at
0.065 m and the toe joints at 0.015 m."""
_J = {name: i for i, name in enumerate(BODY_JOINTS)}


# ---------------------------------------------------------------- measurements


def forward_travel(m: Motion) -> float:
    """Displacement along the starting facing direction (+Z), metres."""
    return float(m.root[-1, 2] - m.root[0, 2])


def lateral_travel(m: Motion) -> float:
    """Displacement toward the body's starting left (+X), metres."""
    return float(m.root[-1, 0] - m.root[0, 0])


def ground_speed(m: Motion) -> float:
    """Horizontal root displacement from first to last frame per second, m/s (frame-to-frame jitter does
    not count as speed)."""
    return float(np.linalg.norm(m.root[-1, [0, 2]] - m.root[0, [0, 2]]) / max(m.seconds, 1e-9))


def heading_change(m: Motion) -> float:
    """Net turn in degrees, positive = to the left (counter-clockwise seen from above), from the hip line."""
    pos = m.world_positions()
    across = pos[:, _J["left_hip"]] - pos[:, _J["right_hip"]]
    yaw = np.unwrap(np.arctan2(-across[:, 2], across[:, 0]))
    return float(np.degrees(yaw[-1] - yaw[0]))


def turn_range(m: Motion) -> float:
    """Largest absolute heading excursion from the start, degrees."""
    pos = m.world_positions()
    across = pos[:, _J["left_hip"]] - pos[:, _J["right_hip"]]
    yaw = np.unwrap(np.arctan2(-across[:, 2], across[:, 0]))
    return float(np.degrees(np.abs(yaw - yaw[0]).max()))


def vertical_rise(m: Motion) -> float:
    """How far the pelvis rises above its median height, metres."""
    return float(m.root[:, 1].max() - np.median(m.root[:, 1]))


def pelvis_height(m: Motion) -> float:
    return float(np.median(m.root[:, 1]))


def joint_peak_height(m: Motion, joint: str) -> float:
    return float(m.world_positions()[:, _J[joint], 1].max())


def head_below_pelvis(m: Motion) -> float:
    """Fraction of frames with the head lower than the pelvis (inverted body)."""
    pos = m.world_positions()
    return float((pos[:, _J["head"], 1] < pos[:, _J["pelvis"], 1]).mean())


def foot_skating(positions: np.ndarray, fps: float = FPS) -> tuple[float, int]:
    """Sum of foot horizontal speeds (m/s) over contact frames, and the number of contact frames.

    positions: (L, 22, 3) world joint positions of one clip, lifted so its lowest joint is on the floor.
    """
    positions = positions - np.array([0.0, positions[..., 1].min(), 0.0])
    total, count = 0.0, 0
    for joint, height in CONTACT_HEIGHT.items():
        p = positions[:, _J[joint]]
        speed = np.linalg.norm(np.diff(p[:, [0, 2]], axis=0), axis=1) * fps
        contact = (p[1:, 1] < height) & (p[:-1, 1] < height)
        total += float(speed[contact].sum())
        count += int(contact.sum())
    return total, count


def angular_jitter(rotations: np.ndarray, fps: float = FPS) -> tuple[float, int]:
    """Sum of joint angular accelerations (rad/s²) over frames and joints, and the number of terms."""
    if rotations.shape[0] < 3:
        return 0.0, 0
    rel = R.quat_mul(rotations[1:], R.quat_conjugate(rotations[:-1]))
    omega = R.quat_to_axis_angle(rel) * fps  # (L-1, J, 3) rad/s
    accel = np.linalg.norm(np.diff(omega, axis=0), axis=-1) * fps
    return float(accel.sum()), int(accel.size)


def ratio(value: float, reference: float) -> float:
    """value / reference; against a zero reference (data that never skates or shakes) any positive value is
    infinitely worse and zero is undefined (NaN, which fails every bar)."""
    if reference == 0:
        return float("inf") if value > 0 else float("nan")
    return value / reference


def mean_figure(parts: list[tuple[float, int]]) -> float:
    total = sum(p[0] for p in parts)
    count = sum(p[1] for p in parts)
    return total / count if count else float("nan")


# ---------------------------------------------------------------- held-out prompts and their checks


@dataclass(frozen=True)
class Check:
    """One physical check: `measure` gives a number, `passes` judges it (given the walk reference speed)."""

    concept: str
    prompt: str
    what: str
    measure: Callable[[Motion], float]
    passes: Callable[[float, dict], bool]
