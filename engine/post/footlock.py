"""Foot locking: a planted foot stays where it was put down.

Generated motion often lets a foot that touches the floor glide along it (foot skating), the most visible
flaw of a small model. This step finds the frames where each foot is planted and bends that leg with
two-bone IK (hip and knee; the pelvis and everything else keep their motion) so the ankle holds one spot
for the whole contact, and the foot keeps one orientation so the toes hold too. Into and out of a contact
the target eases over up to `blend` free frames, so the leg never snaps; two contacts close together share
their gap, and the foot travels from one spot to the next across it.

A foot is planted on frames where it is near the floor (ankle or toe within `height` of its rest-stance
height, after the clip was lifted to the ground) and slow. Slow means: the ankle moves slower than `speed`,
or slower than the body would carry it (`body_speed` times the speed the ankle would have if it were fixed
to the pelvis, so turning counts as well as travel). The second test is the stance/swing split of real gait:
a foot bearing weight falls behind the body that moves over it, a swinging foot overtakes it. A small model's
running and shuffling feet slide along the floor at 2–4 m/s, far above any fixed limit that leaves swinging
feet alone, yet still slower than the body. Speeds are measured on paths smoothed over `speed_sigma` frames:
a small model's feet tremble from frame to frame, and that tremble is exactly what a planted foot must lose,
so it must not hide the plant. Runs shorter than `min_frames` are ignored, gaps of up to `bridge` frames
inside a contact are closed, and a contact then grows by up to `grow` frames each side while the foot stays
low, so it lets go where the foot lifts, not while it still slides. Where the pelvis moves too far for the
leg to reach the held spot, the leg straightens and the foot follows as little as it can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.core import rotations as R
from engine.core.skeleton import BODY_JOINTS, FPS, SMPLH_BODY, Skeleton
from engine.post.smoothing import gaussian_smooth

_J = {name: i for i, name in enumerate(BODY_JOINTS)}
LEGS = {side: (_J[f"{side}_hip"], _J[f"{side}_knee"], _J[f"{side}_ankle"], _J[f"{side}_foot"])
        for side in ("left", "right")}
"""Per side: hip, knee, ankle and toe joint indices (the chain the IK bends, and the foot it holds)."""


@dataclass(frozen=True)
class FootLock:
    """Settings of the foot lock (module docstring); the defaults are the embedded model's."""

    height: float = 0.06
    """A foot joint within this many metres of its rest-stance height counts as on the floor."""
    speed: float = 1.5
    """…and the ankle must move slower than this (m/s, horizontal)…"""
    speed_sigma: float = 2.0
    """…on its path smoothed by a Gaussian of this sigma (frames; 0 = the raw path)…"""
    body_speed: float = 1.0
    """…or slower than this many times the speed it would have if the pelvis carried it rigidly (`carried_speed`,
    smoothed over `speed_sigma` too), when that is more."""
    min_frames: int = 3
    bridge: int = 2
    grow: int = 6
    """A contact extends over up to this many neighbouring frames each side while the foot stays near the
    floor (never merging two contacts), so the hold eases out where the foot is in the air."""
    blend: int = 6


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def horizontal_speed(path: np.ndarray, sigma: float, fps: float = FPS) -> np.ndarray:
    """Per-frame horizontal speed (m/s) of a (L, 3) path smoothed by a Gaussian of `sigma` frames (each frame
    averages its steps to both neighbours)."""
    smooth = gaussian_smooth(path[:, [0, 2]], sigma)
    return _per_frame(np.linalg.norm(np.diff(smooth, axis=0), axis=1) * fps)


def _per_frame(step: np.ndarray) -> np.ndarray:
    """(L - 1) frame-to-frame values → (L,): each frame averages its steps to both neighbours."""
    return np.concatenate([step[:1], (step[:-1] + step[1:]) / 2, step[-1:]])


def carried_speed(point: np.ndarray, pelvis: np.ndarray, pelvis_rot: np.ndarray, sigma: float,
                  fps: float = FPS) -> np.ndarray:
    """Per-frame horizontal speed (m/s) a point (L, 3) would have if it were fixed to the pelvis (position
    (L, 3), world rotation (L, 4)) from each frame to the next; the speeds are smoothed by a Gaussian of
    `sigma` frames (the pelvis's own tremble would otherwise pass for motion)."""
    if point.shape[0] < 2:
        return np.zeros(point.shape[0])
    local = R.quat_apply(R.quat_conjugate(pelvis_rot[:-1]), point[:-1] - pelvis[:-1])
    moved = pelvis[1:] + R.quat_apply(pelvis_rot[1:], local)
    speed = _per_frame(np.linalg.norm((moved - point[:-1])[:, [0, 2]], axis=1) * fps)
    return gaussian_smooth(speed[:, None], sigma)[:, 0]


def planted_runs(ankle: np.ndarray, toe: np.ndarray, rest_ankle: float, rest_toe: float,
                 settings: FootLock, fps: float = FPS, carried: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Contact intervals [start, end) of one foot from its ankle and toe world positions (L, 3); `carried`
    (L,), the ankle's `carried_speed`, is needed for `settings.body_speed`."""
    frames = ankle.shape[0]
    speed = horizontal_speed(ankle, settings.speed_sigma, fps)
    limit = np.full(frames, settings.speed)
    if settings.body_speed > 0 and carried is not None:
        limit = np.maximum(limit, settings.body_speed * carried)
    low = (ankle[:, 1] - rest_ankle < settings.height) | (toe[:, 1] - rest_toe < settings.height)
    mask = low & (speed < limit)
    for start, end in _runs(~mask):  # close short gaps inside a contact
        if start > 0 and end < frames and end - start <= settings.bridge:
            mask[start:end] = True
    runs = [(s, e) for s, e in _runs(mask) if e - s >= settings.min_frames]
    # A contact lasts while the foot stays low, up to `grow` frames either side, but two contacts never
    # merge into one: each may take less than half of the gap between them.
    grown = []
    for k, (s, e) in enumerate(runs):
        before = (s - runs[k - 1][1] - 1) // 2 if k > 0 else s
        after = (runs[k + 1][0] - e - 1) // 2 if k + 1 < len(runs) else frames - e
        lo, hi = s, e
        while s - lo < min(settings.grow, before) and low[lo - 1]:
            lo -= 1
        while hi - e < min(settings.grow, after) and low[hi]:
            hi += 1
        grown.append((lo, hi))
    return grown


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
    plane = R.cross(ankle - hip, knee - hip)
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
    swing = R.quat_between(ankle_b - hip, target - hip, plane)
    return R.quat_mul(swing, thigh_bend), shin_bend


def lock_feet(root: np.ndarray, rotations: np.ndarray, settings: FootLock | None = None,
              skeleton: Skeleton = SMPLH_BODY, fps: float = FPS, fixed: int = 0) -> np.ndarray:
    """Local rotations (L, J, 4) with planted feet held in place; root (L, 3) is unchanged.

    The first `fixed` frames are final (the motion a continuation starts from): they are not changed, and a
    contact that reaches into them holds the spot where their last frame has the foot, so a foot planted
    across the join stays put instead of sliding to a spot of its own."""
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
        carried = carried_speed(ankle, positions[:, 0], world[:, 0], settings.speed_sigma, fps)
        runs = planted_runs(ankle, toe, float(rest[ankle_j, 1]), float(rest[toe_j, 1]), settings, fps, carried)
        if not runs:
            continue
        # Each contact pulls the ankle toward its spot, fully while it lasts and with an eased weight over up
        # to `blend` free frames either side (never into another contact, which holds its own spot). Where two
        # contacts' ease-out and ease-in share a gap, their pulls are averaged by weight, so the target moves
        # from one spot to the next instead of jumping.
        held_frames = np.zeros(frames, dtype=bool)
        for start, end in runs:
            held_frames[start:end] = True
        total = np.zeros(frames)
        pull = np.zeros((frames, 3))
        held = world[:, ankle_j].copy()
        for start, end in runs:
            if end <= fixed:
                continue  # over before the free frames: the final frames already ease out of it
            if 0 < fixed <= start < fixed + settings.blend:
                # Too close after the final frames to ease in: pulling it would jump at the first free frame (a
                # compressed ease-in took the joins over the data's percentile 17 times in 27, against 9). A
                # contact starting at the first free frame itself is one of these: held from there with no ease
                # at all, it snapped the foot to its spot a metre ahead at ~30 m/s (live mode, a run continued).
                continue
            # Hold the spot where the foot is slowest, at no lower than its rest-stance height.
            seg = ankle[start:end]
            if start < fixed:
                key = min(end, fixed) - 1
                spot = ankle[key].copy()
            else:
                speed = (np.linalg.norm(np.gradient(seg[:, [0, 2]], axis=0), axis=1) if end - start > 1
                         else np.zeros(1))
                key = start + int(np.argmin(speed))
                spot = ankle[key].copy()
                spot[1] = max(float(rest[ankle_j, 1]), float(seg[:, 1].min()))
            lo, hi = max(0, start - settings.blend, fixed), min(frames, end + settings.blend)
            for i in range(lo, hi):
                if held_frames[i] and not start <= i < end:
                    continue
                w = 1.0 if start <= i < end else 1.0 - (start - i if i < start else i - end + 1) / (settings.blend + 1)
                w = 0.5 - 0.5 * np.cos(np.pi * w)  # ease in and out
                held[i] = world[key, ankle_j] if total[i] == 0 else R.quat_slerp(held[i], world[key, ankle_j],
                                                                                  w / (total[i] + w))
                total[i] += w
                pull[i] += w * (spot - ankle[i])
        weight = np.minimum(total, 1.0)
        target = ankle + pull / np.maximum(total, 1.0)[:, None]
        foot_world = R.quat_slerp(world[:, ankle_j], held, weight)
        idx = np.flatnonzero(weight > 0)
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
