"""Foot locking: a planted foot stays where it was put down.

Generated motion often lets a foot that touches the floor glide along it (foot skating), the most visible
flaw of a small model. This step finds the frames where each foot is planted and bends that leg with
two-bone IK (hip and knee; the pelvis and everything else keep their motion) so the ankle holds one spot
for the whole contact, and the foot keeps one orientation so the toes hold too. Into and out of a contact
the target eases over `blend` frames, so the leg never snaps.

A foot is planted on frames where it is near the floor (ankle or toe within `height` of its rest-stance
height, after the clip was lifted to the ground) and slow (ankle slower than `speed`, measured on the ankle's
path smoothed over `speed_sigma` frames: a small model's feet tremble from frame to frame, and that tremble
is exactly what a planted foot must lose, so it must not hide the plant); runs shorter than `min_frames` are
ignored and gaps of up to `bridge` frames inside a contact are closed. Where the pelvis
moves too far for the leg to reach the held spot, the leg straightens and the foot follows as little as
it can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import rotations as R
from engine.postprocess import gaussian_smooth
from engine.skeleton import BODY_JOINTS, FPS, SMPLH_BODY, Skeleton

_J = {name: i for i, name in enumerate(BODY_JOINTS)}
LEGS = {side: (_J[f"{side}_hip"], _J[f"{side}_knee"], _J[f"{side}_ankle"], _J[f"{side}_foot"])
        for side in ("left", "right")}
"""Per side: hip, knee, ankle and toe joint indices (the chain the IK bends, and the foot it holds)."""


@dataclass(frozen=True)
class FootLock:
    height: float = 0.06
    """A foot joint within this many metres of its rest-stance height counts as on the floor."""
    speed: float = 1.5
    """…and the ankle must move slower than this (m/s, horizontal)…"""
    speed_sigma: float = 2.0
    """…on its path smoothed by a Gaussian of this sigma (frames; 0 = the raw path)."""
    min_frames: int = 3
    bridge: int = 2
    blend: int = 4


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def planted_runs(ankle: np.ndarray, toe: np.ndarray, rest_ankle: float, rest_toe: float,
                 settings: FootLock, fps: float = FPS) -> list[tuple[int, int]]:
    """Contact intervals [start, end) of one foot from its ankle and toe world positions (L, 3)."""
    frames = ankle.shape[0]
    path = gaussian_smooth(ankle[:, [0, 2]], settings.speed_sigma)
    step = np.linalg.norm(np.diff(path, axis=0), axis=1) * fps
    speed = np.concatenate([step[:1], (step[:-1] + step[1:]) / 2, step[-1:]])  # per frame, both neighbours
    low = (ankle[:, 1] - rest_ankle < settings.height) | (toe[:, 1] - rest_toe < settings.height)
    mask = low & (speed < settings.speed)
    for start, end in _runs(~mask):  # close short gaps inside a contact
        if start > 0 and end < frames and end - start <= settings.bridge:
            mask[start:end] = True
    return [(s, e) for s, e in _runs(mask) if e - s >= settings.min_frames]


def _rotation_between(a: np.ndarray, b: np.ndarray, fallback_axis: np.ndarray) -> np.ndarray:
    """Quaternions (N, 4) turning directions a onto b (N, 3) about their common normal."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    norm = np.linalg.norm(axis, axis=-1, keepdims=True)
    axis = np.where(norm > 1e-9, axis / np.maximum(norm, 1e-12), fallback_axis)
    angle = np.arctan2(norm[..., 0], (a * b).sum(-1))
    return R.axis_angle_to_quat(axis * angle[..., None])


def two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray,
                bend_axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World-space rotations (N, 4) to apply to the thigh (about the hip) and, before it, to the shin
    (about the knee) so the ankle reaches `target` (clamped to the leg's reach). All inputs (N, 3);
    `bend_axis` is the knee's hinge direction, used when the leg is straight and the bend plane is
    undefined."""
    thigh = np.linalg.norm(knee - hip, axis=-1)
    shin = np.linalg.norm(ankle - knee, axis=-1)
    reach = np.clip(np.linalg.norm(target - hip, axis=-1), np.abs(thigh - shin) + 1e-4, (thigh + shin) * 0.9999)

    def angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
        return np.arccos(np.clip(cos, -1.0, 1.0))

    # Bend: set the knee angle (and the thigh's angle to the hip-ankle line) for the wanted reach.
    plane = np.cross(ankle - hip, knee - hip)
    norm = np.linalg.norm(plane, axis=-1, keepdims=True)
    plane = np.where(norm > 1e-6, plane / np.maximum(norm, 1e-12), bend_axis)
    hip_now, knee_now = angle(ankle - hip, knee - hip), angle(hip - knee, ankle - knee)
    hip_want = np.arccos(np.clip((shin**2 - thigh**2 - reach**2) / (-2 * thigh * reach), -1, 1))
    knee_want = np.arccos(np.clip((reach**2 - thigh**2 - shin**2) / (-2 * thigh * shin), -1, 1))
    thigh_bend = R.axis_angle_to_quat(plane * (hip_want - hip_now)[:, None])
    shin_bend = R.axis_angle_to_quat(plane * (knee_want - knee_now)[:, None])
    # Swing: turn the whole leg about the hip so the (re-bent) ankle points at the target.
    knee_b = hip + R.quat_apply(thigh_bend, knee - hip)
    ankle_b = knee_b + R.quat_apply(R.quat_mul(thigh_bend, shin_bend), ankle - knee)
    swing = _rotation_between(ankle_b - hip, target - hip, plane)
    return R.quat_mul(swing, thigh_bend), shin_bend


def lock_feet(root: np.ndarray, rotations: np.ndarray, settings: FootLock | None = None,
              skeleton: Skeleton = SMPLH_BODY, fps: float = FPS) -> np.ndarray:
    """Local rotations (L, J, 4) with planted feet held in place; root (L, 3) is unchanged."""
    settings = settings or FootLock()
    rot = np.array(rotations, dtype=np.float64, copy=True)
    root = np.asarray(root, dtype=np.float64)
    frames = rot.shape[0]
    if frames < settings.min_frames:
        return rot
    body = rot[:, : len(BODY_JOINTS)]
    offsets, parents = skeleton.offsets[: len(BODY_JOINTS)], skeleton.parents[: len(BODY_JOINTS)]
    positions, world = R.forward_kinematics(body, root, offsets, parents)
    rest = skeleton.rest_positions()
    for hip_j, knee_j, ankle_j, toe_j in LEGS.values():
        ankle, toe = positions[:, ankle_j], positions[:, toe_j]
        runs = planted_runs(ankle, toe, float(rest[ankle_j, 1]), float(rest[toe_j, 1]), settings, fps)
        if not runs:
            continue
        weight = np.zeros(frames)
        target = ankle.copy()
        foot_world = world[:, ankle_j].copy()
        for start, end in runs:
            # Hold the spot where the foot is slowest, at no lower than its rest-stance height.
            seg = ankle[start:end]
            speed = np.linalg.norm(np.gradient(seg[:, [0, 2]], axis=0), axis=1) if end - start > 1 else np.zeros(1)
            key = start + int(np.argmin(speed))
            spot = ankle[key].copy()
            spot[1] = max(float(rest[ankle_j, 1]), float(seg[:, 1].min()))
            held = world[key, ankle_j]
            lo, hi = max(0, start - settings.blend), min(frames, end + settings.blend)
            for i in range(lo, hi):
                w = 1.0 if start <= i < end else 1.0 - (start - i if i < start else i - end + 1) / (settings.blend + 1)
                w = 0.5 - 0.5 * np.cos(np.pi * w)  # ease in and out
                if w <= weight[i]:
                    continue
                weight[i] = w
                target[i] = (1 - w) * ankle[i] + w * spot
                foot_world[i] = R.quat_slerp(world[i, ankle_j], held, w)
        active = weight > 0
        if not active.any():
            continue
        idx = np.flatnonzero(active)
        bend_axis = R.quat_apply(world[idx, hip_j], np.tile([1.0, 0.0, 0.0], (len(idx), 1)))
        thigh_q, shin_q = two_bone_ik(positions[idx, hip_j], positions[idx, knee_j], ankle[idx], target[idx],
                                      bend_axis)
        hip_world = R.quat_mul(thigh_q, world[idx, hip_j])
        knee_world = R.quat_mul(thigh_q, R.quat_mul(shin_q, world[idx, knee_j]))
        pelvis_side = world[idx, parents[hip_j]]
        body[idx, hip_j] = R.quat_mul(R.quat_conjugate(pelvis_side), hip_world)
        body[idx, knee_j] = R.quat_mul(R.quat_conjugate(hip_world), knee_world)
        body[idx, ankle_j] = R.quat_mul(R.quat_conjugate(knee_world), foot_world[idx])
    rot[:, : len(BODY_JOINTS)] = body
    return R.quat_normalize(rot)
