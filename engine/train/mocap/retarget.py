"""Retarget any source rig to the SMPL-H body by world-space deltas against the rig's own T-pose.

For every SMPL-H joint j driven by source joint s (see `RigMap`), the source's world rotation at frame t
is compared with its world rotation in a T-pose that matches the SMPL-H rest pose:

    world_smplh(j, t) = world_src(s, t) · T_j⁻¹,     T_j = A_j · ref_src(s)

`ref_src(s)` is the source joint's world rotation in its reference pose (the rig's all-zero pose when
that is a T-pose, or a T-pose frame of real data). `A_j` is the shortest rotation that turns the source
bone (s → its aim joint) onto the SMPL-H bone (j → its aim joint) in that pose, so limb directions match
exactly even where the rig's "T-pose" is a few degrees off (slanted CMU femurs, a forward-bent DAZ
forearm, arms hanging down in DeepMimic). SMPL-H joints with no source joint inherit their parent's world
rotation (an identity local rotation). Local rotations follow from `rotations.local_from_world`.

The root position is scaled by the ratio of leg lengths (thigh + shin) so the stride fits our skeleton;
for the CMU rigs this lands within 2 % of the metre scales found by ballistic fits (RIGS.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from engine.core import rotations as R
from engine.core.skeleton import BODY_JOINTS, NUM_BODY_JOINTS, SMPLH_BODY
from engine.train.mocap.clip import MocapClip, MocapError


@dataclass(frozen=True)
class RigMap:
    """How one source rig's joints drive the SMPL-H body.

    joints: SMPL-H joint → source joint whose world rotation moves the same bone.
    aims: SMPL-H joint → (SMPL-H aim joint, source aim joint): the bone whose direction is matched in the
        T-pose (the aim joints are descendants, not necessarily direct children).
    leg: source (hip, knee, ankle) joints, for the metre scale.
    """

    name: str
    joints: Mapping[str, str]
    aims: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    leg: tuple[str, str, str] = ("", "", "")

    def __post_init__(self) -> None:
        unknown = set(self.joints) - set(BODY_JOINTS)
        if unknown:
            raise MocapError(f"rig {self.name}: not SMPL-H body joints: {sorted(unknown)}")
        if "pelvis" not in self.joints:
            raise MocapError(f"rig {self.name}: the pelvis must be mapped to the source root")
        if any(j not in self.joints for j in self.aims):
            raise MocapError(f"rig {self.name}: every aimed joint must also be mapped")


@dataclass(frozen=True)
class SourceMotion:
    """A source take as world transforms in MotionBridge's axes (Y up), in the rig's own units.

    world_rot: (F, J, 4) world rotations; root: (F, 3) root joint positions;
    ref_rot: (J, 4), ref_pos: (J, 3) world rotations and positions in the rig's T-pose, facing +Z.
    times: optional (F,) frame times in seconds for uneven frame durations.
    """

    name: str
    joints: tuple[str, ...]
    world_rot: np.ndarray
    root: np.ndarray
    ref_rot: np.ndarray
    ref_pos: np.ndarray
    fps: float
    times: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise MocapError(f"{self.name}: the rig has no joint {joint!r}") from None


def face_plus_z(
    ref_rot: np.ndarray, ref_pos: np.ndarray, left_hip: int, right_hip: int
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a reference pose about +Y so the line from its right to its left hip points along +X."""
    across = ref_pos[left_hip] - ref_pos[right_hip]
    yaw = np.arctan2(-across[2], across[0])
    q = R.quat_from_yaw(np.array(-yaw))
    rot = R.quat_mul(np.broadcast_to(q, ref_rot.shape).copy(), ref_rot)
    pos = R.quat_apply(np.broadcast_to(q, ref_pos.shape[:-1] + (4,)).copy(), ref_pos)
    return rot, pos


def leg_scale(source: SourceMotion, rig: RigMap) -> float:
    """Metres per source unit: SMPL-H thigh + shin over the source's, measured in the reference pose."""
    hip, knee, ankle = (source.ref_pos[source.index(n)] for n in rig.leg)
    src = np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee)
    rest = SMPLH_BODY.rest_positions()
    ours = sum(
        np.linalg.norm(rest[BODY_JOINTS.index(b)] - rest[BODY_JOINTS.index(a)])
        for a, b in (("left_hip", "left_knee"), ("left_knee", "left_ankle"))
    )
    if src <= 0:
        raise MocapError(f"{source.name}: the leg of rig {rig.name} has zero length")
    return float(ours / src)


def tpose_corrections(source: SourceMotion, rig: RigMap) -> np.ndarray:
    """(22, 4) T_j per SMPL-H joint (identity where unmapped)."""
    rest = SMPLH_BODY.rest_positions()
    out = np.zeros((NUM_BODY_JOINTS, 4))
    out[:, 3] = 1.0
    for joint, src_joint in rig.joints.items():
        j, s = BODY_JOINTS.index(joint), source.index(src_joint)
        align = np.array([0.0, 0.0, 0.0, 1.0])
        if joint in rig.aims:
            aim, src_aim = rig.aims[joint]
            src_dir = source.ref_pos[source.index(src_aim)] - source.ref_pos[s]
            our_dir = rest[BODY_JOINTS.index(aim)] - rest[j]
            align = R.quat_between(src_dir, our_dir)
        out[j] = R.quat_mul(align, source.ref_rot[s])
    return out


def retarget(source: SourceMotion, rig: RigMap) -> MocapClip:
    """The source take on the SMPL-H body, at the source frame rate (resample afterwards)."""
    corrections = tpose_corrections(source, rig)
    frames = source.world_rot.shape[0]
    world = np.zeros((frames, NUM_BODY_JOINTS, 4))
    for j, (joint, parent) in enumerate(zip(BODY_JOINTS, SMPLH_BODY.parents, strict=True)):
        if joint in rig.joints:
            src = source.world_rot[:, source.index(rig.joints[joint])]
            world[:, j] = R.quat_mul(src, np.broadcast_to(R.quat_conjugate(corrections[j]), src.shape).copy())
        else:
            world[:, j] = world[:, parent]
    local = R.quat_normalize(R.local_from_world(world, SMPLH_BODY.parents))
    local = R.quat_make_continuous(local, dim=0)
    root = source.root * leg_scale(source, rig)
    meta = dict(source.meta, rig=rig.name)
    if source.times is not None:
        meta["times"] = source.times
    return MocapClip(name=source.name, root=root, rotations=local, fps=source.fps, meta=meta)
