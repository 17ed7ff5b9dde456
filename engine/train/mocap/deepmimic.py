"""DeepMimic humanoid clips (JSON `Frames` of 44 numbers) → `MocapClip` on the SMPL-H body.

Frame layout (per the DeepMimic data format): duration of the frame in seconds; root position (metres,
Y up); root rotation (w, x, y, z, world); then local rotations of chest, neck, right hip (w, x, y, z),
right knee (one angle, radians), right ankle, right shoulder, right elbow (one angle), left hip, left knee,
left ankle, left shoulder, left elbow. Knees and elbows turn about their local z axis.

The DeepMimic humanoid faces +X with its right side toward +Z; MotionBridge faces +Z with its left side
toward +X. A −90° turn about +Y takes one to the other. Its zero pose stands with the arms hanging down;
the retarget's aim correction raises them to our T-pose.

Looping clips (`"Loop": "wrap"`) can be chained into longer takes (`loop_to`): each further cycle is
placed where the previous one ended, turned by the heading the cycle gained.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from engine.core import rotations as R
from engine.train.mocap.clip import MocapClip, MocapError, facing_yaw, resample
from engine.train.mocap.retarget import SourceMotion, retarget
from engine.train.mocap.rigs import DEEPMIMIC

FRAME_VALUES = 44
STRAIGHT_DEGREES = 15.0
"""A looping cycle that turns less than this is chained as straight-line motion."""

# Joint layout of the humanoid (from its character file; metres, parent-relative, DeepMimic axes).
# The wrists are not rotated by the data but are needed to aim the forearms.
_JOINTS: tuple[tuple[str, int, tuple[float, float, float]], ...] = (
    ("root", -1, (0.0, 0.0, 0.0)),
    ("chest", 0, (0.0, 0.236151, 0.0)),
    ("neck", 1, (0.0, 0.223894, 0.0)),
    ("right_hip", 0, (0.0, 0.0, 0.084887)),
    ("right_knee", 3, (0.0, -0.421546, 0.0)),
    ("right_ankle", 4, (0.0, -0.40987, 0.0)),
    ("right_shoulder", 1, (-0.02405, 0.2435, 0.18311)),
    ("right_elbow", 6, (0.0, -0.274788, 0.0)),
    ("right_wrist", 7, (0.0, -0.258947, 0.0)),
    ("left_hip", 0, (0.0, 0.0, -0.084887)),
    ("left_knee", 9, (0.0, -0.421546, 0.0)),
    ("left_ankle", 10, (0.0, -0.40987, 0.0)),
    ("left_shoulder", 1, (-0.02405, 0.2435, -0.18311)),
    ("left_elbow", 12, (0.0, -0.274788, 0.0)),
    ("left_wrist", 13, (0.0, -0.258947, 0.0)),
)
NAMES = tuple(j[0] for j in _JOINTS)
_PARENTS = tuple(j[1] for j in _JOINTS)
_OFFSETS = np.array([j[2] for j in _JOINTS])
# (joint, number of values) in frame order after the root.
_LAYOUT = (
    ("chest", 4), ("neck", 4), ("right_hip", 4), ("right_knee", 1), ("right_ankle", 4), ("right_shoulder", 4),
    ("right_elbow", 1), ("left_hip", 4), ("left_knee", 1), ("left_ankle", 4), ("left_shoulder", 4), ("left_elbow", 1),
)
_TO_OURS = R.quat_from_yaw(np.array(-np.pi / 2))  # DeepMimic +X (forward) → our +Z


def _wxyz(values: np.ndarray) -> np.ndarray:
    return R.quat_normalize(np.concatenate([values[..., 1:4], values[..., :1]], axis=-1))


def parse_frames(data: dict, name: str) -> tuple[np.ndarray, str]:
    """(F, 44) frame table and the loop mode, checked."""
    frames = data.get("Frames") if isinstance(data, dict) else None
    if not frames:
        raise MocapError(f"{name}: not a DeepMimic clip (no 'Frames' list)")
    table = np.asarray(frames, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != FRAME_VALUES:
        raise MocapError(f"{name}: DeepMimic humanoid frames need {FRAME_VALUES} values each, got {table.shape}")
    if not np.isfinite(table).all():
        raise MocapError(f"{name}: frames contain NaN or infinite values")
    if table.shape[0] < 2 or np.any(table[:-1, 0] <= 0):
        raise MocapError(f"{name}: need at least 2 frames with positive durations")
    return table, str(data.get("Loop", "none"))


def local_rotations(table: np.ndarray) -> np.ndarray:
    """(F, 15, 4) local rotations in DeepMimic axes (wrists and root-relative order of `NAMES`)."""
    frames = table.shape[0]
    local = np.zeros((frames, len(NAMES), 4))
    local[..., 3] = 1.0
    local[:, 0] = _wxyz(table[:, 4:8])
    col = 8
    for joint, size in _LAYOUT:
        j = NAMES.index(joint)
        if size == 4:
            local[:, j] = _wxyz(table[:, col : col + 4])
        else:
            local[:, j] = R.axis_angle_to_quat(np.stack([np.zeros(frames), np.zeros(frames), table[:, col]], -1))
        col += size
    return local


def deepmimic_source(table: np.ndarray, name: str) -> SourceMotion:
    """World transforms in our axes, with the zero pose as reference (facing +Z after the axis turn)."""
    local = local_rotations(table)
    to_ours = np.broadcast_to(_TO_OURS, local.shape[:-2] + (4,)).copy()
    pos, rot = R.forward_kinematics(local, table[:, 1:4], _OFFSETS, _PARENTS)
    # Change of axes: world rotations are conjugated, positions rotated.
    rot = R.quat_mul(R.quat_mul(to_ours[:, None].repeat(len(NAMES), 1), rot),
                     R.quat_conjugate(to_ours)[:, None].repeat(len(NAMES), 1))
    root = R.quat_apply(to_ours, pos[:, 0])
    rest_pos, _ = R.forward_kinematics(np.tile([0.0, 0.0, 0.0, 1.0], (len(NAMES), 1)), np.zeros(3), _OFFSETS, _PARENTS)
    ref_pos = R.quat_apply(np.broadcast_to(_TO_OURS, rest_pos.shape[:-1] + (4,)).copy(), rest_pos)
    ref_rot = np.tile([0.0, 0.0, 0.0, 1.0], (len(NAMES), 1))
    times = np.concatenate([[0.0], np.cumsum(table[:-1, 0])])
    fps = 1.0 / float(np.median(table[:-1, 0]))
    return SourceMotion(name, NAMES, rot, root, ref_rot, ref_pos, fps, times=times, meta={"rig": "deepmimic"})


def loop_clip(clip: MocapClip, min_seconds: float) -> MocapClip:
    """Chain cycles of a looping clip until it lasts at least `min_seconds` (first frame = last frame)."""
    if clip.seconds >= min_seconds:
        return clip
    # Heading from the hip line (robust for a pitched pelvis, e.g. crawling); small end-to-start
    # differences are pose sway at the seam, not turning, and would bend a straight path into a circle.
    turn = float(np.angle(np.exp(1j * (facing_yaw(clip, clip.frames - 1) - facing_yaw(clip, 0)))))
    if abs(turn) < np.radians(STRAIGHT_DEGREES):
        turn = 0.0
    step = R.quat_from_yaw(np.array(turn))
    roots, rots = [clip.root], [clip.rotations]
    heading = np.array([0.0, 0.0, 0.0, 1.0])
    flat = (clip.root - clip.root[0]) * np.array([1.0, 0.0, 1.0])
    end = clip.root[-1]
    while sum(r.shape[0] for r in roots) / clip.fps < min_seconds:
        # The next cycle starts where the last ended, turned by the heading the cycles have gained.
        heading = R.quat_mul(step, heading)
        turned = R.quat_apply(np.broadcast_to(heading, flat.shape[:-1] + (4,)).copy(), flat)
        cycle = turned + end * np.array([1.0, 0.0, 1.0])
        cycle[:, 1] = clip.root[:, 1]
        roots.append(cycle[1:])
        end = cycle[-1]
        r = clip.rotations.copy()
        r[:, 0] = R.quat_mul(np.broadcast_to(heading, r[:, 0].shape).copy(), r[:, 0])
        rots.append(r[1:])
    return clip.with_(root=np.concatenate(roots), rotations=R.quat_make_continuous(np.concatenate(rots), dim=0),
                      meta=dict(clip.meta, looped=True))


def import_deepmimic_text(text: str, name: str, loop_to: float = 0.0) -> MocapClip:
    """A DeepMimic clip's JSON text → SMPL-H clip at 30 fps (looping clips chained to `loop_to` s)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise MocapError(f"{name}: not valid JSON ({e})") from None
    table, loop = parse_frames(data, name)
    source = deepmimic_source(table, name)
    clip = retarget(source, DEEPMIMIC)
    clip = resample(clip, times=source.times)
    clip = clip.with_(meta={k: v for k, v in clip.meta.items() if k != "times"} | {"loop": loop})
    if loop == "wrap" and loop_to > 0:
        clip = loop_clip(clip, loop_to)
    return clip


def import_deepmimic(path: str | os.PathLike, loop_to: float = 0.0) -> MocapClip:
    """A DeepMimic clip file → SMPL-H clip at 30 fps."""
    path = Path(path)
    clip = import_deepmimic_text(path.read_text(encoding="utf-8"), path.stem, loop_to)
    return clip.with_(meta=dict(clip.meta, source=str(path)))


def wheel_motion_files(wheel: str | os.PathLike) -> dict[str, str]:
    """The humanoid DeepMimic clips inside a pybullet wheel (`pybullet_data/data/motions/`): name → JSON text.

    Quadruped (`laikago_*`) clips are left out; the `walker/` clips are included with a `walker_` prefix.
    """
    out: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            parts = info.filename.split("/")
            if info.is_dir() or parts[:3] != ["pybullet_data", "data", "motions"] or not info.filename.endswith(".txt"):
                continue
            stem = Path(info.filename).stem
            if stem.startswith("laikago"):
                continue
            key = f"walker_{stem}" if len(parts) == 5 and parts[3] == "walker" else stem
            out[key] = zf.read(info).decode("utf-8")
    return out
