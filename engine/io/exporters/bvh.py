"""BVH export: our T-pose skeleton (or a target rig's rest pose) in centimetres, Y up, facing +Z.

BVH has no rest rotations, so a rig whose bones carry rest rotations (Mixamo, Manny) is written with its rest
*pose* baked into the offsets: each joint's BVH rotation is its world delta from rest expressed relative to
its parent's delta. Blender's importer (forward −Z, up Y) then shows the character upright, facing the front
view; MotionBuilder reads the same file in its native Y-up centimetres.
"""

from __future__ import annotations

import numpy as np

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.io.bvh import BvhClip, format_bvh
from engine.retarget.rig import retarget
from engine.retarget.rigs import get_rig

BVH_UNITS_PER_METRE = 100.0
"""BVH files are written in centimetres, the unit MotionBuilder, Mixamo and the CMU conversions use."""

BVH_EULER_ORDER = "ZXY"


def motion_to_bvh(motion: Motion, target: str = "smplh") -> BvhClip:
    """A `BvhClip` of the motion on the target rig (bone names and proportions), source axes, centimetres."""
    rig_motion = retarget(motion, get_rig(target))
    rig = rig_motion.rig
    world_pos, world_rot = rig_motion.world("source")
    rest_pos, rest_rot = rig.rest_world()
    # World delta from rest per bone, then relative to the parent's delta: BVH's identity-rest local rotation.
    delta = R.quat_mul(world_rot, np.broadcast_to(R.quat_conjugate(rest_rot), world_rot.shape).copy())
    local = delta.copy()
    for b, p in enumerate(rig.parents):
        if p >= 0:
            local[:, b] = R.quat_mul(R.quat_conjugate(delta[:, p]), delta[:, b])
    # Only the root of a BVH carries position channels, so the hips become the root: bones above them
    # (Manny's `root` at the origin) are left out, as is anything outside the hips' subtree.
    hips = rig.index(rig.hips)
    keep = [b for b in range(len(rig.bones)) if _under(rig.parents, b, hips)]
    new_index = {b: k for k, b in enumerate(keep)}
    parents = [new_index[rig.parents[b]] if b != hips else -1 for b in keep]
    offsets = np.stack([rest_pos[b] - (rest_pos[rig.parents[b]] if b != hips else 0.0) for b in keep])
    return BvhClip.from_rotations(
        [rig.bones[b] for b in keep],
        parents,
        offsets * BVH_UNITS_PER_METRE,
        local[:, keep],
        world_pos[:, hips] * BVH_UNITS_PER_METRE,
        1.0 / motion.fps,
        order=BVH_EULER_ORDER,
    )


def _under(parents: tuple[int, ...], bone: int, ancestor: int) -> bool:
    while bone >= 0:
        if bone == ancestor:
            return True
        bone = parents[bone]
    return False


def bvh_bytes(motion: Motion, target: str = "smplh") -> bytes:
    return format_bvh(motion_to_bvh(motion, target)).encode("utf-8")
