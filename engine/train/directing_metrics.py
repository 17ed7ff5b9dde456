"""What the directing bars measure, on `Motion`s and on motion-capture data.

- `pose_error_degrees`: mean geodesic angle between a clip's joint rotations and a pose key's, keyed joints;
- `effector_error_cm`, `waypoint_error_cm`: distance of a joint (root on the floor) from its target;
- `join_jumps`: how much velocity and acceleration change at a join, as `frame_jumps` measures every frame
  of the training data: per frame, the largest over the 22 joints of |v_k − v_{k−1}| (m/s) and of
  |a_k − a_{k−1}| (m/s², a_k = (v_k − v_{k−1})·fps);
- `data_reference`: those per-frame jumps' 99th percentile and the foot skating of motion-capture clips
  (the built training set's clips when there, else the shared CMU BVH files through `engine.train.mocap`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import BODY_JOINTS, FPS, SMPLH_BODY
from engine.train.evaluation import foot_skating, mean_figure


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle (degrees) between quaternions a and b (..., 4)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    dot = np.clip(np.abs((a * b).sum(-1)), 0.0, 1.0)
    return np.degrees(2.0 * np.arccos(dot))


def pose_error_degrees(motion: Motion, frame: int, rotations: np.ndarray, joints=None) -> float:
    idx = list(range(len(BODY_JOINTS))) if joints is None else [BODY_JOINTS.index(j) for j in joints]
    return float(angle_between(motion.rotations[frame, idx].astype(np.float64), rotations[idx]).mean())


def effector_error_cm(motion: Motion, frame: int, joint: str, position: np.ndarray) -> float:
    p = motion.world_positions()[frame, BODY_JOINTS.index(joint)]
    return float(np.linalg.norm(p - position) * 100)


def waypoint_error_cm(motion: Motion, frame: int, position: np.ndarray) -> float:
    return float(np.linalg.norm(motion.root[frame, [0, 2]] - np.asarray(position)[[0, 2]]) * 100)


def frame_jumps(positions: np.ndarray, fps: float = FPS) -> tuple[np.ndarray, np.ndarray]:
    """Per frame k (2 … L−2), the largest joint velocity jump |v_k − v_{k−1}| (m/s) and acceleration jump
    |a_k − a_{k−1}| (m/s²), where v_k = (p_{k+1} − p_k)·fps and a_k = (v_k − v_{k−1})·fps. Returns two
    arrays of length L − 1 (velocity jumps at frames 1 … L−1) and L − 2 (acceleration jumps at 2 … L−1)."""
    v = np.diff(positions, axis=0) * fps
    dv = np.linalg.norm(np.diff(v, axis=0), axis=-1).max(axis=-1)
    a = np.diff(v, axis=0) * fps
    da = np.linalg.norm(np.diff(a, axis=0), axis=-1).max(axis=-1)
    return dv, da


def join_jumps(
    positions: np.ndarray, join: int, fps: float = FPS, before: int = 2, after: int = 2
) -> tuple[float, float]:
    """Largest velocity and acceleration jump (`frame_jumps`) from `before` frames before frame `join` (the first
    frame of the new part) to `after` frames past it. `after` = `joins.JOIN_BLEND` covers the frames a join's
    blend changes, so a pop cannot hide inside the blend (nor can anything else there, e.g. a foot lock
    planting a foot)."""
    dv, da = frame_jumps(positions, fps)
    lo, hi = max(join - before, 2), min(join + after, len(positions) - 2)
    return float(dv[lo - 1 : hi].max()), float(da[lo - 2 : hi - 1].max())


def positions(root: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    pos, _ = R.forward_kinematics(np.asarray(rotations, np.float64), np.asarray(root, np.float64),
                                  SMPLH_BODY.offsets, SMPLH_BODY.parents)
    return pos


def _dataset_clips(data: Path, limit: int) -> list[tuple[np.ndarray, np.ndarray]]:
    files = sorted(p for p in (data / "clips").glob("*.npz") if "mirror" not in p.name and "reversed" not in p.name)
    picks = np.linspace(0, len(files) - 1, min(limit, len(files))).round().astype(int) if files else []
    clips = []
    for i in picks:
        with np.load(files[i]) as npz:
            clips.append((npz["root"].astype(np.float64), npz["rotations"].astype(np.float64)))
    return clips


def _bvh_clips(root: Path, limit: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from engine.train.mocap.clip import prepare
    from engine.train.mocap.sources import cmu_takes

    takes = cmu_takes(root)
    picks = np.linspace(0, len(takes) - 1, min(limit, len(takes))).round().astype(int) if takes else []
    clips = []
    for i in picks:
        clip = prepare(takes[i].load())
        clips.append((clip.root.astype(np.float64), clip.rotations.astype(np.float64)))
    return clips


def data_reference(data: Path | None = None, bvh_root: Path | None = None, limit: int = 200) -> dict:
    """99th percentiles of per-frame velocity and acceleration jumps, and mean foot skating (m/s), of up to
    `limit` motion-capture clips: from a built data set's `clips/` when `data` has any, else from BVH."""
    clips = _dataset_clips(data, limit) if data is not None and (data / "clips").is_dir() else []
    source = f"{data}/clips ({len(clips)} clips)"
    if not clips:
        from engine.train.mocap.sources import DEFAULT_DATA_ROOT

        bvh_root = bvh_root or Path(os.environ.get("MOTIONBRIDGE_DATA", DEFAULT_DATA_ROOT))
        clips = _bvh_clips(bvh_root, limit)
        source = f"{bvh_root}/cmu BVH ({len(clips)} takes)"
    dvs, das, skating = [], [], []
    for root, rot in clips:
        if len(root) < 4:
            continue
        pos = positions(root, rot)
        dv, da = frame_jumps(pos)
        dvs.append(dv)
        das.append(da)
        skating.append(foot_skating(pos))
    dv_all, da_all = np.concatenate(dvs), np.concatenate(das)
    return {
        "source": source,
        "frames": int(dv_all.size),
        "velocity_jump_p99_mps": float(np.percentile(dv_all, 99)),
        "acceleration_jump_p99_mps2": float(np.percentile(da_all, 99)),
        "velocity_jump_median_mps": float(np.median(dv_all)),
        "acceleration_jump_median_mps2": float(np.median(da_all)),
        "foot_skating_mps": mean_figure(skating),
    }
