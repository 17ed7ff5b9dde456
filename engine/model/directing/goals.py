"""Constraints → per-frame goals, the one form every part of the mechanism works from.

A `FrameGoal` says what one frame of the clip must be: some joint rotations, some root coordinates, a
facing, some effector positions, each with a weight. Start, pose keys, end and waypoints all become goals
(a start is a full-pose goal on frame 0 plus known frames before it); the sampler guidance and the exact
clean-up both read goals, so no constraint kind has a code path of its own. `Directive` is everything one
request asks: goals, the start's known frames, the timeline's segments, the clip length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.core import rotations as R
from engine.core.constraints import (
    START_CONTEXT_FRAMES,
    Constraints,
    EffectorKey,
    PoseKey,
    frame_of,
    pose_joints,
    validate,
)
from engine.core.skeleton import BODY_JOINTS, FPS, NUM_BODY_JOINTS
from engine.model.representation import FEATURE_DIM, JOINT_POS, ROOT_POS, ROOT_ROT6D, encode_features


@dataclass
class FrameGoal:
    """What one clip frame must be. Every entry carries its weight in (0, 1] (1 = exactly)."""

    rotations: dict[int, tuple[np.ndarray, float]] = field(default_factory=dict)
    root: dict[int, tuple[float, float]] = field(default_factory=dict)
    """axis (0 x, 1 y, 2 z) → (value, weight)"""
    facing: tuple[float, float] | None = None
    effectors: dict[int, tuple[np.ndarray, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class SegmentSpan:
    prompt: str
    start: int
    count: int


@dataclass(frozen=True)
class Directive:
    """One request's constraints, compiled: `goals` by clip frame; `context` (n, 201) features of the frames a
    start motion gives (its last frame is clip frame 0); `segments` the timeline (one span without one)."""

    frames: int
    goals: dict[int, FrameGoal]
    context: np.ndarray
    segments: tuple[SegmentSpan, ...]

    @property
    def constrained(self) -> bool:
        return bool(self.goals) or len(self.segments) > 1



def compile_constraints(
    constraints: Constraints | None, prompt: str, seconds: float, fps: float = FPS, max_seconds: float | None = None,
    *, loop: bool = False, in_place: bool = False,
) -> Directive:
    """Validate and compile (raises `ConstraintError`)."""
    c = constraints or Constraints()
    frames = validate(c, seconds, fps, max_seconds, loop=loop, in_place=in_place)
    goals: dict[int, FrameGoal] = {}

    def goal(f: int) -> FrameGoal:
        return goals.setdefault(f, FrameGoal())

    def set_pose(g: FrameGoal, rotations: np.ndarray, root: np.ndarray | None, joints, weight: float) -> None:
        q = np.asarray(rotations, np.float64)
        q = q / np.linalg.norm(q, axis=-1, keepdims=True)
        for j in joints:
            g.rotations[j] = (q[j], weight)
        if root is not None:
            for a in range(3):
                g.root[a] = (float(root[a]), weight)

    context = np.zeros((0, FEATURE_DIM))
    if c.start is not None:
        n = min(c.start.frames, START_CONTEXT_FRAMES + 1)
        root = np.asarray(c.start.root, np.float64)[-n:]
        rot = np.asarray(c.start.rotations, np.float64)[-n:]
        rot = rot / np.linalg.norm(rot, axis=-1, keepdims=True)
        context = encode_features(root, rot).double().numpy()
        set_pose(goal(0), rot[-1], root[-1], range(NUM_BODY_JOINTS), 1.0)
    for key in c.keys:
        g = goal(frame_of(key.time, fps, frames))
        if isinstance(key, PoseKey):
            set_pose(g, key.pose.rotations, key.pose.root, pose_joints(key), float(key.weight))
        elif isinstance(key, EffectorKey):
            g.effectors[BODY_JOINTS.index(key.effector)] = (np.asarray(key.position, np.float64), float(key.weight))
    for wp in c.path:
        g = goal(frame_of(wp.time, fps, frames))
        g.root[0] = (float(wp.position[0]), 1.0)
        g.root[2] = (float(wp.position[2]), 1.0)
        if wp.facing is not None:
            g.facing = (float(wp.facing), 1.0)
    if c.end is not None:
        set_pose(goal(frames - 1), c.end.pose.rotations, c.end.pose.root, range(NUM_BODY_JOINTS), 1.0)
    spans: list[SegmentSpan] = []
    if c.segments:
        start = 0
        for k, seg in enumerate(c.segments):
            end = frames if k == len(c.segments) - 1 else min(frames, start + max(1, round(seg.seconds * fps)))
            spans.append(SegmentSpan(seg.prompt, start, end - start))
            start = end
    else:
        spans.append(SegmentSpan(prompt, 0, frames))
    return Directive(frames, dict(sorted(goals.items())), context, tuple(spans))


# ---------------------------------------------------------------- goals as feature targets


def rotation_slice(joint: int) -> slice:
    """The 6D features of a joint's rotation (the pelvis's is the root orientation)."""
    return ROOT_ROT6D if joint == 0 else slice(9 + 6 * (joint - 1), 15 + 6 * (joint - 1))


def position_slice(joint: int) -> slice:
    return slice(JOINT_POS.start + 3 * joint, JOINT_POS.start + 3 * joint + 3)


def feature_targets(goal: FrameGoal) -> tuple[np.ndarray, np.ndarray]:
    """A goal as denormalised feature values (201,) and per-feature weights (201,) (0 = free). Facing is not
    a fixed feature value (it depends on the frame's roll and pitch), so the guidance sets it per step."""
    target = np.zeros(FEATURE_DIM)
    weight = np.zeros(FEATURE_DIM)
    for j, (q, w) in goal.rotations.items():
        target[rotation_slice(j)] = R.quat_to_rot6d(q[None])[0]
        weight[rotation_slice(j)] = w
    for a, (value, w) in goal.root.items():
        target[ROOT_POS.start + a] = value
        weight[ROOT_POS.start + a] = w
    for j, (p, w) in goal.effectors.items():
        target[position_slice(j)] = p
        weight[position_slice(j)] = w
        if j == 0:
            target[ROOT_POS] = p
            weight[ROOT_POS] = w
    if goal.facing is not None:
        weight[ROOT_ROT6D] = np.maximum(weight[ROOT_ROT6D], goal.facing[1])
    return target, weight


# ---------------------------------------------------------------- spreading a displacement in time


def smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def spread_weights(keys: np.ndarray, length: int, radius: float) -> np.ndarray:
    """(length, K) weights that carry a displacement given at sorted key frames `keys` to every frame: 1 on a
    key's own frame, smoothstep between two keys closer than 2·radius, and easing to 0 within `radius` frames
    elsewhere. Zero slope at every key, so a key changes no velocity on its own frame."""
    out = np.zeros((length, len(keys)))
    if len(keys) == 0:
        return out
    frames = np.arange(length, dtype=np.float64)
    r = max(float(radius), 1.0)
    first, last = keys[0], keys[-1]
    out[:, 0] += np.where(frames < first, smoothstep((frames - (first - r)) / r), 0.0)
    out[:, -1] += np.where(frames > last, 1.0 - smoothstep((frames - last) / r), 0.0)
    for i, k in enumerate(keys):
        out[k, i] = 1.0
    for i in range(len(keys) - 1):
        a, b = keys[i], keys[i + 1]
        inside = (frames > a) & (frames < b)
        gap = b - a
        if gap <= 2 * r:
            u = smoothstep((frames - a) / gap)
            out[:, i] += np.where(inside, 1.0 - u, 0.0)
            out[:, i + 1] += np.where(inside, u, 0.0)
        else:
            out[:, i] += np.where(inside, 1.0 - smoothstep((frames - a) / r), 0.0)
            out[:, i + 1] += np.where(inside, smoothstep((frames - (b - r)) / r), 0.0)
    return out


def spread_operator(keys: np.ndarray, weights: np.ndarray, length: int, radius: float) -> np.ndarray:
    """(length, K, C): per feature channel, `spread_weights` over the keys where that channel has a goal
    (weights (K, C) > 0), so D = einsum('lkc,kc->lc', op, d) spreads displacements d given at the keys."""
    op = np.zeros((length, len(keys), weights.shape[1]))
    if len(keys) == 0:
        return op
    patterns, inverse = np.unique(weights > 0, axis=1, return_inverse=True)
    for p in range(patterns.shape[1]):
        used = np.flatnonzero(patterns[:, p])
        if len(used) == 0:
            continue
        cols = np.flatnonzero(inverse.reshape(-1) == p)
        w = spread_weights(keys[used], length, radius)
        op[:, used[:, None], cols[None, :]] = w[:, :, None]
    return op
