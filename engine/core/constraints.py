"""Typed constraints of a generate request (protocol v1.1 `start`, `keys`, `path`, `end`, `segments`) and their
validation: the one form of them, built by the wire decoder (`bridge.protocol`, which may import only the core)
and followed by the model (`engine.model.directing`).

Everything here is in the source convention (`engine.core.skeleton`: right-handed, Y up, faces +Z, metres,
quaternions x, y, z, w local and relative to the rest pose, joint order `BODY_JOINTS`); the server converts a
request's target convention into it before building these objects. Times are seconds from the clip's first
frame (frame i is at i / fps). `validate` checks one set against the clip it belongs to and raises
`ConstraintError`, whose `field` names the offending field the way the protocol spells it (`keys[2].time`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.core.errors import GenerationError
from engine.core.motion import MAX_KEYS, MAX_SEGMENTS, MIN_FRAMES, Motion
from engine.core.skeleton import BODY_JOINTS, FPS, NUM_BODY_JOINTS

START_CONTEXT_FRAMES = 4
"""Frames of a `start` motion before its last one that the sampler sees, to carry the velocity on."""
EFFECTORS: tuple[str, ...] = BODY_JOINTS
"""Joints an effector key may name: any body joint (the pelvis moves the root, others bend their chain)."""


class ConstraintError(GenerationError):
    """A constraint the model cannot follow as given; `field` names it (`keys[2].time`), the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Pose:
    """One body pose: `rotations` (22, 4) local quaternions; `root` (3,) pelvis position, or None (root free)."""

    rotations: np.ndarray
    root: np.ndarray | None = None


@dataclass(frozen=True)
class StartMotion:
    """`start`: the last frames of the motion to continue; the clip's frame 0 equals their last frame."""

    root: np.ndarray
    rotations: np.ndarray

    @classmethod
    def from_motion(cls, motion: Motion, frames: int = START_CONTEXT_FRAMES + 1) -> StartMotion:
        """The last `frames` frames of a clip (an earlier job's result)."""
        n = max(1, min(int(frames), motion.frames))
        return cls(np.asarray(motion.root[-n:], np.float64), np.asarray(motion.rotations[-n:], np.float64))

    @property
    def frames(self) -> int:
        return int(np.shape(self.root)[0])


@dataclass(frozen=True)
class PoseKey:
    """A full-body pose (or the `joints` listed) at `time`; `weight` in (0, 1] is how much of the way the clip
    is pulled to it (1: exactly)."""

    time: float
    pose: Pose
    joints: tuple[str, ...] | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class EffectorKey:
    """A joint's world position (3,) at `time`."""

    time: float
    effector: str
    position: np.ndarray
    weight: float = 1.0


@dataclass(frozen=True)
class Waypoint:
    """The root's ground position at `time` (the up component of `position` is ignored); `facing` the heading
    about +Y in radians (0 = facing +Z, +π/2 = facing +X), or None."""

    time: float
    position: np.ndarray
    facing: float | None = None


@dataclass(frozen=True)
class EndPose:
    """`end`: the last frame's pose."""

    pose: Pose


@dataclass(frozen=True)
class Segment:
    """One stretch of a timeline: `seconds` of motion following `prompt`."""

    prompt: str
    seconds: float


Key = PoseKey | EffectorKey


@dataclass(frozen=True)
class Constraints:
    """Everything a request may ask of its motion beyond the prompt; all parts optional."""

    start: StartMotion | None = None
    keys: tuple[Key, ...] = field(default_factory=tuple)
    path: tuple[Waypoint, ...] = field(default_factory=tuple)
    end: EndPose | None = None
    segments: tuple[Segment, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.start is not None or self.keys or self.path or self.end is not None or self.segments)

    def clip_seconds(self, seconds: float) -> float:
        """The clip's length: the sum of the segments when there is a timeline, else `seconds`."""
        return sum(s.seconds for s in self.segments) if self.segments else seconds


# ---------------------------------------------------------------- validation


def _finite(field_name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConstraintError(field_name, f"must be numbers of shape {shape}") from None
    if arr.shape != shape:
        raise ConstraintError(field_name, f"must have shape {shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ConstraintError(field_name, "holds NaN or infinity")
    return arr


def _quaternions(field_name: str, value: object, shape: tuple[int, ...]) -> None:
    q = _finite(field_name, value, shape)
    norms = np.linalg.norm(q, axis=-1)
    if (norms < 1e-6).any():
        raise ConstraintError(field_name, "holds a zero quaternion (x, y, z, w); the identity is (0, 0, 0, 1)")


def _time(field_name: str, t: object, frames: int, fps: float) -> None:
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
        raise ConstraintError(field_name, f"must be a finite number of seconds, got {t!r}")
    last = (frames - 1) / fps
    if t < -0.5 / fps or t > last + 0.5 / fps:
        raise ConstraintError(field_name, f"{t:g} s lies outside the clip (0 to {last:g} s)")


def _weight(field_name: str, w: object) -> None:
    if not isinstance(w, int | float) or isinstance(w, bool) or not math.isfinite(w) or not 0 < w <= 1:
        raise ConstraintError(field_name, f"must be a number in (0, 1], got {w!r}")


def _pose(field_name: str, pose: Pose) -> None:
    _quaternions(f"{field_name}.rotations", pose.rotations, (NUM_BODY_JOINTS, 4))
    if pose.root is not None:
        _finite(f"{field_name}.root", pose.root, (3,))


def validate(
    constraints: Constraints, seconds: float, fps: float = FPS, max_seconds: float | None = None,
    max_keys: int = MAX_KEYS, *, loop: bool = False, in_place: bool = False,
) -> int:
    """Check a set of constraints against its clip; returns the clip's frame count, raises `ConstraintError`."""
    if constraints.segments:
        if len(constraints.segments) > MAX_SEGMENTS:
            raise ConstraintError("segments", f"at most {MAX_SEGMENTS} segments, got {len(constraints.segments)}")
        for i, seg in enumerate(constraints.segments):
            if not isinstance(seg.prompt, str) or not seg.prompt.strip():
                raise ConstraintError(f"segments[{i}].prompt", "must be a non-empty prompt")
            s = seg.seconds
            if not isinstance(s, int | float) or isinstance(s, bool) or not math.isfinite(s) or s * fps < 1:
                raise ConstraintError(f"segments[{i}].seconds", f"must be a positive number (≥ one frame), got {s!r}")
    seconds = constraints.clip_seconds(seconds)
    if max_seconds is not None and seconds > max_seconds + 1e-9:
        what = "segments" if constraints.segments else "seconds"
        raise ConstraintError(what, f"the clip would last {seconds:g} s, more than this model's {max_seconds:g} s")
    frames = max(MIN_FRAMES, int(round(seconds * fps)))
    if constraints.start is not None:
        start = constraints.start
        n = int(np.shape(start.root)[0]) if np.ndim(start.root) == 2 else -1
        if n < 1:
            raise ConstraintError("start.motion.root", "must be (n, 3) with n ≥ 1 frames")
        _finite("start.motion.root", start.root, (n, 3))
        _quaternions("start.motion.rotations", start.rotations, (n, NUM_BODY_JOINTS, 4))
    if len(constraints.keys) > max_keys:
        raise ConstraintError("keys", f"at most {max_keys} keys, got {len(constraints.keys)}")
    if len(constraints.path) > max_keys:
        raise ConstraintError("path", f"at most {max_keys} waypoints, got {len(constraints.path)}")
    for i, key in enumerate(constraints.keys):
        name = f"keys[{i}]"
        _time(f"{name}.time", key.time, frames, fps)
        _weight(f"{name}.weight", key.weight)
        if isinstance(key, PoseKey):
            _pose(f"{name}.pose", key.pose)
            if key.joints is not None:
                if not key.joints:
                    raise ConstraintError(f"{name}.joints", "is empty: list joint names, or omit it for all")
                for j in key.joints:
                    if j not in BODY_JOINTS:
                        raise ConstraintError(f"{name}.joints",
                                              f"unknown joint {j!r}; joints: {', '.join(BODY_JOINTS)}")
        elif isinstance(key, EffectorKey):
            if key.effector not in EFFECTORS:
                raise ConstraintError(f"{name}.effector", f"unknown effector {key.effector!r}; any of "
                                      f"{', '.join(EFFECTORS)}")
            _finite(f"{name}.position", key.position, (3,))
        else:
            raise ConstraintError(name, f"is neither a pose nor an effector key: {type(key).__name__}")
    if in_place and constraints.path:
        raise ConstraintError("path", "cannot be followed with in_place (which removes the root's travel)")
    for i, wp in enumerate(constraints.path):
        _time(f"path[{i}].time", wp.time, frames, fps)
        _finite(f"path[{i}].position", wp.position, (3,))
        if wp.facing is not None and (not isinstance(wp.facing, int | float) or not math.isfinite(wp.facing)):
            raise ConstraintError(f"path[{i}].facing", f"must be a finite angle in radians, got {wp.facing!r}")
    if constraints.end is not None:
        if loop:
            raise ConstraintError("end", "cannot be combined with loop (a loop's last pose is its first)")
        _pose("end.pose", constraints.end.pose)
    return frames


def frame_of(time: float, fps: float, frames: int) -> int:
    """The frame a constraint time falls on (nearest, inside the clip)."""
    return int(min(max(round(time * fps), 0), frames - 1))


def pose_joints(key: PoseKey) -> Sequence[int]:
    """Indices of the joints a pose key sets (all 22 when it lists none)."""
    return range(NUM_BODY_JOINTS) if key.joints is None else [BODY_JOINTS.index(j) for j in key.joints]
