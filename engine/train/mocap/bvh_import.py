"""BVH takes of any mapped rig (`engine.train.mocap.rigs`) → `MocapClip` on the SMPL-H body.

Parsing is `engine.io.bvh`; this module adds the rig knowledge: which pose is the rig's T-pose, the rate the
frames really have (the cmu-asf header is wrong), and leading frames to drop.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.io.bvh import BvhClip, read_bvh
from engine.train.mocap.clip import MocapClip, MocapError
from engine.train.mocap.retarget import SourceMotion, face_plus_z, retarget
from engine.train.mocap.rigs import BVH_RIGS, detect_rig

PLAYBACK_FPS = {"daz": 120.0, "cmu-asf": 120.0, "reallusion": 60.0}
"""Rate the frames of each rig's files really represent (RIGS.md); the cmu-asf header says 30, wrongly."""


def zero_pose(bvh: BvhClip) -> BvhClip:
    """A one-frame clip of the same hierarchy with every channel at zero (the rig's rest pose)."""
    return BvhClip(bvh.joints, bvh.frame_time, np.zeros((1, bvh.motion.shape[1])))


def reference_pose(bvh: BvhClip, rig: str, tpose: BvhClip | None, tpose_frame: int) -> tuple[np.ndarray, np.ndarray]:
    """World rotations and positions (J, 3) of the rig's T-pose, in `bvh`'s joint order, facing +Z."""
    if rig == "reallusion":
        if tpose is None:
            raise MocapError(
                "reallusion rig: its all-zero pose is not a T-pose; pass a reallusion BVH whose frame "
                f"{tpose_frame} is a T-pose (e.g. cmu/reallusion/07_03.bvh) as the T-pose reference"
            )
        source = BvhClip(tpose.joints, tpose.frame_time, tpose.motion[tpose_frame : tpose_frame + 1])
    else:
        source = zero_pose(bvh)
    pos, rot = source.world_transforms()
    order = [source.index(n) for n in bvh.names]
    rot, pos = rot[0, order], pos[0, order]
    rigmap = BVH_RIGS[rig]
    left = bvh.index(rigmap.joints["left_hip"])
    right = bvh.index(rigmap.joints["right_hip"])
    return face_plus_z(rot, pos, left, right)


def bvh_source(
    bvh: BvhClip,
    name: str,
    rig: str | None = None,
    fps: float | None = None,
    tpose: BvhClip | None = None,
    tpose_frame: int = 0,
) -> SourceMotion:
    """World transforms of a parsed BVH plus its rig's T-pose reference."""
    rig = rig or detect_rig(bvh.names)
    if rig not in BVH_RIGS:
        raise MocapError(f"{name}: no joint map for this rig (joints {', '.join(bvh.names[:6])}, ...); "
                         f"known rigs: {', '.join(BVH_RIGS)}")
    if "RL_BoneRoot" in bvh.names:
        raise MocapError(f"{name}: reallusion variant A (RL_BoneRoot root) has no vertical root motion; "
                         "use the daz copy of this trial")
    missing = [j for j in BVH_RIGS[rig].joints.values() if j not in bvh.names]
    if missing:
        raise MocapError(f"{name}: rig {rig} expects joints {missing} that the file does not have")
    pos, rot = bvh.world_transforms()
    ref_rot, ref_pos = reference_pose(bvh, rig, tpose, tpose_frame)
    root = bvh.index(BVH_RIGS[rig].joints["pelvis"])
    rate = fps or PLAYBACK_FPS.get(rig) or bvh.fps
    return SourceMotion(name, bvh.names, rot, pos[:, root], ref_rot, ref_pos, rate, meta={"rig": rig})


def import_bvh(
    path: str | os.PathLike,
    rig: str | None = None,
    fps: float | None = None,
    trim_start: int = 0,
    tpose: str | os.PathLike | BvhClip | None = None,
    tpose_frame: int = 0,
    name: str | None = None,
) -> MocapClip:
    """A BVH take on the SMPL-H body at its own frame rate (root in metres, rotations vs the T-pose).

    rig: `daz`, `cmu-asf` or `reallusion` (detected from joint names when None).
    fps: the rate the frames really have (default: the rig's known rate, else the header's).
    trim_start: leading frames to drop (the daz T-pose and blend-in frames).
    tpose: for reallusion, a file (or parsed clip) whose frame `tpose_frame` is a T-pose.
    """
    path = Path(path)
    bvh = read_bvh(path)
    ref = read_bvh(tpose) if isinstance(tpose, str | os.PathLike) else tpose
    source = bvh_source(bvh, name or path.stem, rig, fps, ref, tpose_frame)
    clip = retarget(source, BVH_RIGS[source.meta["rig"]])
    if trim_start:
        if trim_start >= clip.frames - 1:
            raise MocapError(f"{path}: cannot drop {trim_start} of {clip.frames} frames")
        clip = clip.with_(root=clip.root[trim_start:], rotations=clip.rotations[trim_start:])
    return clip.with_(meta=dict(clip.meta, source=str(path)))
