"""`MocapClip` and the clean-up every imported take goes through before it becomes training data.

A clip is already on the SMPL-H body skeleton (`engine.core.skeleton`): root position in metres and local
quaternions relative to the T-pose. The steps here are the same for every source rig:

- `resample`: to the model's 30 fps, slerp for rotations and linear interpolation for the root;
- `canonicalize`: start at the origin (x = z = 0) facing +Z;
- `place_on_ground`: feet on the floor (the lowest joint of the clip's typical frame sits at the rest
  pose's sole height);
- `mirror`: left/right reflection (used twice it gives back the clip);
- `reverse`: the clip played backwards (a forward walk becomes a backward walk);
- `split`: long takes become segments of at most a given length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.core import rotations as R
from engine.core.motion import Motion, resample_frames
from engine.core.skeleton import BODY_JOINTS, FPS, LEFT_RIGHT_BODY, SMPLH_BODY

SOLE_HEIGHT = float(SMPLH_BODY.rest_positions()[:, 1].min())
"""Height of the lowest joint (the toes) above the floor when the rest skeleton stands in its T-pose."""

_LEFT_HIP = BODY_JOINTS.index("left_hip")
_RIGHT_HIP = BODY_JOINTS.index("right_hip")


class MocapError(ValueError):
    """A motion-capture file or clip that cannot be imported; the message names the file and the problem."""


@dataclass(frozen=True)
class MocapClip(Motion):
    """One take on the SMPL-H body skeleton: a `Motion` that knows which take it came from (`name`, used in
    errors and segment names). root (L, 3) pelvis world position, metres, Y up; rotations (L, 22, 4) local
    quaternions (x, y, z, w) relative to the T-pose, joint 0's global."""

    name: str = ""

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except ValueError as exc:
            raise MocapError(f"{self.name}: {exc}") from None


def as_clip(motion: Motion, name: str) -> MocapClip:
    """A generated or stored `Motion` as a float64 clip, for the clean-up functions below."""
    root, rotations = motion.root.astype(np.float64), motion.rotations.astype(np.float64)
    return MocapClip(name=name, root=root, rotations=rotations, fps=motion.fps)


def resample(clip: MocapClip, fps: float = FPS, times: np.ndarray | None = None) -> MocapClip:
    """Resample to `fps` (slerp between the two neighbouring source frames).

    `times` (L,) gives the source frame times in seconds for clips with uneven frame durations;
    otherwise frame i is at i / clip.fps.
    """
    if clip.frames < 2:
        raise MocapError(f"{clip.name}: need at least 2 frames to resample, got {clip.frames}")
    src_t = np.arange(clip.frames) / clip.fps if times is None else np.asarray(times, dtype=np.float64)
    if src_t.shape != (clip.frames,) or np.any(np.diff(src_t) <= 0):
        raise MocapError(f"{clip.name}: frame times must be strictly increasing, one per frame")
    root, rotations = resample_frames(clip.root, clip.rotations, clip.fps, fps, None if times is None else src_t)
    return clip.with_(root=root, rotations=rotations, fps=float(fps))


def facing_yaw(clip: MocapClip, frame: int = 0) -> float:
    """Heading (radians about +Y, 0 = +Z) of the body at `frame`, from the line through the hip joints.

    The hips are used rather than the pelvis' own forward axis so that a crawling or bent-over body
    (pelvis pitched far forward) still has a well-defined heading.
    """
    pos = clip.world_positions()[frame]
    across = pos[_LEFT_HIP] - pos[_RIGHT_HIP]
    # facing = across × up, with up = +Y: (ax, ay, az) × (0, 1, 0) = (-az, 0, ax)
    return float(np.arctan2(-across[2], across[0]))


def rotate_about_y(clip: MocapClip, angle: float) -> MocapClip:
    """Rotate the whole clip by `angle` radians about the vertical axis through the world origin."""
    q = R.quat_from_yaw(np.array(angle))
    root = R.quat_apply(np.broadcast_to(q, clip.root.shape[:-1] + (4,)).copy(), clip.root)
    rot = clip.rotations.copy()
    rot[:, 0] = R.quat_mul(np.broadcast_to(q, rot[:, 0].shape).copy(), rot[:, 0])
    return clip.with_(root=root, rotations=rot)


def canonicalize(clip: MocapClip) -> MocapClip:
    """Move the first frame's pelvis over the origin and turn the clip so the first frame faces +Z."""
    shifted = clip.with_(root=clip.root - np.array([clip.root[0, 0], 0.0, clip.root[0, 2]]))
    return rotate_about_y(shifted, -facing_yaw(shifted, 0))


def place_on_ground(clip: MocapClip, percentile: float = 5.0) -> MocapClip:
    """Shift vertically so the body's lowest joint is at the rest sole height in a typical low frame.

    A low percentile over frames (not the minimum) so that a single glitchy frame cannot lift or sink
    the clip, while jumps, whose airborne frames are the high ones, keep their ground contacts.
    """
    lowest = clip.world_positions()[..., 1].min(axis=1)
    floor = float(np.percentile(lowest, percentile))
    return clip.with_(root=clip.root + np.array([0.0, SOLE_HEIGHT - floor, 0.0]))


def mirror(clip: MocapClip) -> MocapClip:
    """Reflect left/right (x → −x): joints swap with their twins and rotations are reflected.

    Reflecting a rotation across the YZ plane maps quaternion (x, y, z, w) to (x, −y, −z, w); the rest
    skeleton is symmetric, so the mirrored clip is exactly the reflected motion.
    """
    twins = list(LEFT_RIGHT_BODY)
    rot = clip.rotations[:, twins].copy()
    rot[..., 1:3] *= -1.0
    root = clip.root * np.array([-1.0, 1.0, 1.0])
    meta = dict(clip.meta, mirrored=not clip.meta.get("mirrored", False))
    return clip.with_(root=root, rotations=rot, meta=meta)


def reverse(clip: MocapClip) -> MocapClip:
    """The clip played backwards, re-canonicalised (starting at the origin facing +Z, feet on the ground).

    Used on plain forward walks to teach walking backwards, of which the mocap has almost none: in joint
    angles, backward walking is close to forward walking run in reverse (the foot lands toe first and pushes
    off with the heel), which is what reversal gives.
    """
    meta = dict(clip.meta, reversed=not clip.meta.get("reversed", False))
    flipped = clip.with_(root=clip.root[::-1].copy(), rotations=clip.rotations[::-1].copy(), meta=meta)
    return place_on_ground(canonicalize(flipped))


def trim(clip: MocapClip, start: int, stop: int | None = None) -> MocapClip:
    """Frames [start, stop) of the clip."""
    stop = clip.frames if stop is None else stop
    if not 0 <= start < stop <= clip.frames:
        raise MocapError(f"{clip.name}: bad frame range [{start}, {stop}) for {clip.frames} frames")
    return clip.with_(root=clip.root[start:stop].copy(), rotations=clip.rotations[start:stop].copy())


def split(clip: MocapClip, max_seconds: float, min_seconds: float = 2.0) -> list[MocapClip]:
    """Cut a long take into equal consecutive segments of at most `max_seconds` (named name#k).

    A take no longer than `max_seconds` comes back whole (as a single element). Segments are equal
    in length so that no short leftover tail is produced; a take too short to give two segments of
    `min_seconds` is not split.
    """
    count = int(np.ceil(clip.seconds / max_seconds - 1e-9))
    if count <= 1 or clip.seconds / count < min_seconds:
        return [clip]
    bounds = np.linspace(0, clip.frames, count + 1).round().astype(int)
    return [
        trim(clip, int(a), int(b)).with_(name=f"{clip.name}#{k}", meta=dict(clip.meta, segment=k))
        for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
    ]


def prepare(clip: MocapClip) -> MocapClip:
    """The standard clean-up: 30 fps, canonical start, feet on the ground."""
    clip = resample(clip) if abs(clip.fps - FPS) > 1e-6 else clip
    return place_on_ground(canonicalize(clip))
