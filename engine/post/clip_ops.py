"""Clip operations on a `Motion`: resample (slerp), trim by seconds, in-place, and seamless looping.

All of them return a new `Motion` (the input is never changed) in the source convention, and keep text, seed,
model and meta. Times are seconds; frame k of a clip sits at k / fps.
"""

from __future__ import annotations

import math

import numpy as np

from engine.core import rotations as R
from engine.core.motion import Motion, resample_frames

COMMON_FPS = (24, 30, 60)
"""Frame rates the exporters and the CLI offer by name; any positive rate is accepted."""


class ClipError(ValueError):
    """A clip operation got arguments that cannot apply to this clip (say which and why)."""


def _float_arrays(motion: Motion) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(motion.root, dtype=np.float64), R.quat_normalize(np.asarray(motion.rotations, np.float64))


def _like(motion: Motion, root: np.ndarray, rotations: np.ndarray, fps: float | None = None) -> Motion:
    return motion.with_(root=root.astype(np.float32), rotations=rotations.astype(np.float32),
                        fps=motion.fps if fps is None else fps)


def resample(motion: Motion, fps: float) -> Motion:
    """The clip at a new frame rate: root positions interpolated linearly, rotations by slerp.

    The new clip covers the same time span (0 … (L−1)/fps_in); it ends on the last new frame that does not
    pass the old last frame.
    """
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ClipError(f"fps must be a positive number, got {fps!r}")
    if motion.frames == 0:
        raise ClipError("cannot resample an empty clip")
    if abs(fps - motion.fps) < 1e-9:
        return motion.with_()
    root, rot = _float_arrays(motion)
    new_root, new_rot = resample_frames(root, rot, motion.fps, fps)
    return _like(motion, new_root, new_rot, float(fps))


def trim(motion: Motion, start: float | None = None, end: float | None = None) -> Motion:
    """Frames whose time lies in [start, end] seconds (None: clip start / clip end)."""
    start = 0.0 if start is None else float(start)
    end = motion.seconds if end is None else float(end)
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ClipError("trim times must be finite numbers of seconds")
    if start < 0 or end <= start:
        raise ClipError(f"trim needs 0 <= start < end, got start={start} end={end}")
    first = int(math.ceil(start * motion.fps - 1e-6))
    last = min(int(math.floor(end * motion.fps + 1e-6)), motion.frames - 1)
    if first > last:
        raise ClipError(f"no frame lies in [{start}, {end}] s; the clip is {motion.seconds:.3f} s long")
    return motion.with_(root=motion.root[first : last + 1].copy(), rotations=motion.rotations[first : last + 1].copy())


def in_place(motion: Motion) -> Motion:
    """Remove horizontal root travel: the pelvis stays over the origin (x = z = 0); height and turns stay."""
    root = np.asarray(motion.root, dtype=np.float64).copy()
    root[:, 0] = 0.0
    root[:, 2] = 0.0
    return motion.with_(root=root.astype(np.float32))


def loop(motion: Motion, blend_seconds: float = 0.5) -> Motion:
    """Blend the clip's tail into its first pose so the last frame equals the first and playback can wrap.

    Over the last `blend_seconds` every joint rotation slerps toward frame 0's with a smoothstep weight
    (0 → 1, zero slope at both ends, so no velocity kink where the blend starts) and the root height
    follows. Horizontal root travel is kept: a travelling loop is played with root motion; combine with
    `in_place` for a stationary loop.
    """
    if motion.frames < 3:
        raise ClipError(f"a loop needs at least 3 frames, the clip has {motion.frames}")
    if not (math.isfinite(blend_seconds) and blend_seconds > 0):
        raise ClipError(f"blend_seconds must be positive, got {blend_seconds}")
    root, rot = _float_arrays(motion)
    n = int(min(max(2, round(blend_seconds * motion.fps)), motion.frames - 1))
    s = np.linspace(0.0, 1.0, n)
    w = s * s * (3 - 2 * s)
    tail = slice(motion.frames - n, motion.frames)
    rot = rot.copy()
    rot[tail] = R.quat_slerp(rot[tail], np.broadcast_to(rot[0], rot[tail].shape).copy(), w[:, None])
    root = root.copy()
    root[tail, 1] = root[tail, 1] * (1 - w) + root[0, 1] * w
    return _like(motion, root, R.quat_make_continuous(rot, 0))


def apply_options(motion: Motion, remove_travel: bool = False, make_loop: bool = False) -> Motion:
    """The `in_place` and `loop` options of a generate request, in that order (one place for both)."""
    if remove_travel:
        motion = in_place(motion)
    if make_loop:
        motion = loop(motion)
    return motion
