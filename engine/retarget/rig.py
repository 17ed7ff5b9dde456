"""World-delta retargeting of source-skeleton motion onto any target rig.

A `Rig` is a target skeleton as a DCC or engine stores it: bone names, parents, rest *local* rotations and
translations in the rig's own coordinate frame (an `engine.core.targets.Target`: basis and units), plus a map from
its bones to source joints. Rest rotations may be anything (Mixamo's Y-along-bone axes, Unreal's X-along-bone
axes) and the rest pose may be a T-pose or an A-pose.

Method (all in the source frame: right-handed, Y up, faces +Z, metres):
1. Source world rotations W_j by forward kinematics. Source rest rotations are identity, so W_j is also the
   world *delta* from the source's T-pose.
2. Rest alignment C_b per mapped bone: the shortest rotation taking the rig's rest bone direction (bone to the
   rig bone mapped to the source joint's chain child) onto the source's rest bone direction. C is the
   identity for a rig whose rest is the source's T-pose and lifts an A-pose arm by its ~45°; leaves (hands,
   head, toes) and blended bones reuse their nearest mapped ancestor's C so the hand stays in line.
3. target_world_b = W_j · C_b · rest_world_b; a bone mapped to a blend (j, k, t) uses slerp(W_j, W_k, t)
   (spine distribution); unmapped bones (twist, end, IK bones, Manny's `root`) keep their rest local rotation.
4. local_b = inverse(target_world_parent) · target_world_b, converted back to the rig frame: R' = M R Mᵀ.
5. The hips bone's position follows the source root, scaled by the ratio of the rigs' rest hip heights;
   every other bone keeps its rest local translation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import BODY_JOINTS, BODY_PARENTS, SMPLH_BODY
from engine.core.targets import Target

BoneSource = str | tuple[str, str, float]
"""What drives a rig bone: one source joint name, or a blend (joint_a, joint_b, t) of two joints' world deltas."""


class RigError(ValueError):
    """A rig definition is inconsistent (unknown parent, bad shapes, unknown source joint)."""


def change_basis(q: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Express rotations (..., 4) in another basis: R' = M R Mᵀ (valid for reflections, det M = −1, too)."""
    m = np.asarray(basis, dtype=np.float64)
    return R.matrix_to_quat(m @ R.quat_to_matrix(np.asarray(q, dtype=np.float64)) @ m.T)


def _source_chain_child() -> dict[str, str]:
    """For each source joint, the child that defines its bone direction (spine3 → neck, not the collars)."""
    out = {}
    for j, name in enumerate(BODY_JOINTS):
        kids = [BODY_JOINTS[c] for c, p in enumerate(BODY_PARENTS) if p == j]
        if name == "spine3":
            out[name] = "neck"
        elif len(kids) == 1:
            out[name] = kids[0]
    return out


@dataclass(frozen=True)
class Rig:
    """A target skeleton in its own frame, with the map from its bones to source joints."""

    name: str
    bones: tuple[str, ...]
    parents: tuple[int, ...]
    rest_rotations: np.ndarray  # (B, 4) local quaternions (x, y, z, w), rig frame
    rest_translations: np.ndarray  # (B, 3) local translations, rig units
    bone_map: Mapping[str, BoneSource]  # rig bone → source joint (or blend)
    frame: Target  # basis (source → rig) and scale (metres → rig units)
    hips: str  # the bone that carries the root translation
    rest_pose: str = "T"  # "T" or "A", documentation only: alignment is measured, not assumed
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.bones)
        object.__setattr__(self, "_index", {b: i for i, b in enumerate(self.bones)})
        if len(self._index) != n:
            raise RigError(f"rig {self.name!r} repeats a bone name")
        if len(self.parents) != n:
            raise RigError(f"rig {self.name!r}: {n} bones but {len(self.parents)} parents")
        if np.shape(self.rest_rotations) != (n, 4) or np.shape(self.rest_translations) != (n, 3):
            raise RigError(f"rig {self.name!r}: rest rotations must be ({n}, 4) and translations ({n}, 3)")
        for b, p in enumerate(self.parents):
            if not -1 <= p < b:
                raise RigError(f"rig {self.name!r}: bone {self.bones[b]!r} has parent {p}; parents must come first")
        for bone, src in self.bone_map.items():
            if bone not in self._index:
                raise RigError(f"rig {self.name!r} maps unknown bone {bone!r}")
            for joint in (src,) if isinstance(src, str) else src[:2]:
                if joint not in BODY_JOINTS:
                    raise RigError(f"rig {self.name!r}: bone {bone!r} maps to unknown source joint {joint!r}")
        if self.hips not in self._index:
            raise RigError(f"rig {self.name!r}: hips bone {self.hips!r} is not one of its bones")

    def index(self, bone: str) -> int:
        try:
            return self._index[bone]
        except KeyError:
            raise KeyError(f"rig {self.name!r} has no bone {bone!r}") from None

    def bone_for(self, joint: str) -> str | None:
        """The rig bone driven directly by a source joint, or None if the rig has no such bone."""
        return next((b for b, s in self.bone_map.items() if s == joint), None)

    # ------------------------------------------------------------ rest pose in the source frame

    def to_source_frame(self) -> tuple[np.ndarray, np.ndarray]:
        """Rest local rotations (B, 4) and translations (B, 3, metres) expressed in the source frame."""
        inv = self.frame.basis.T
        rot = change_basis(self.rest_rotations, inv)
        trans = (np.asarray(self.rest_translations, dtype=np.float64) @ inv.T) / self.frame.scale
        return rot, trans

    def rest_world(self) -> tuple[np.ndarray, np.ndarray]:
        """Rest world positions (B, 3, metres) and rotations (B, 4), source frame."""
        rot, trans = self.to_source_frame()
        return _fk(rot, trans, self.parents)

    def without(self, *bones: str) -> Rig:
        """The same rig lacking some leaf bones (e.g. a rig without toes), for rigs that do not have them."""
        drop = {self.index(b) for b in bones}
        for b in drop:
            if any(p == b and c not in drop for c, p in enumerate(self.parents)):
                raise RigError(f"cannot drop {self.bones[b]!r}: it has children that stay")
        keep = [i for i in range(len(self.bones)) if i not in drop]
        new = {old: k for k, old in enumerate(keep)}
        return Rig(
            self.name,
            tuple(self.bones[i] for i in keep),
            tuple(new[self.parents[i]] if self.parents[i] >= 0 else -1 for i in keep),
            np.asarray(self.rest_rotations)[keep],
            np.asarray(self.rest_translations)[keep],
            {b: s for b, s in self.bone_map.items() if b not in bones},
            self.frame,
            self.hips,
            self.rest_pose,
        )

    # ------------------------------------------------------------ rest alignment

    def rest_alignment(self) -> np.ndarray:
        """(B, 4) world rotations C_b that carry each mapped bone from the rig's rest onto the source T-pose."""
        pos, _ = self.rest_world()
        src_pos = SMPLH_BODY.rest_positions()
        chain = _source_chain_child()
        align = np.tile([0.0, 0.0, 0.0, 1.0], (len(self.bones), 1))
        for b, bone in enumerate(self.bones):
            src = self.bone_map.get(bone)
            inherited = self._nearest_mapped_ancestor(b)
            if inherited is not None:
                align[b] = align[inherited]
            if not isinstance(src, str) or src not in chain:
                continue
            child_bone = self.bone_for(chain[src])
            if child_bone is None or not self._is_descendant(self.index(child_bone), b):
                continue
            rig_dir = pos[self.index(child_bone)] - pos[b]
            src_dir = src_pos[SMPLH_BODY.index(chain[src])] - src_pos[SMPLH_BODY.index(src)]
            if np.linalg.norm(rig_dir) > 1e-9:
                align[b] = R.quat_between(rig_dir, src_dir)
        return align

    def _nearest_mapped_ancestor(self, b: int) -> int | None:
        p = self.parents[b]
        while p >= 0:
            if isinstance(self.bone_map.get(self.bones[p]), str):
                return p
            p = self.parents[p]
        return None

    def _is_descendant(self, child: int, ancestor: int) -> bool:
        while child >= 0:
            if child == ancestor:
                return True
            child = self.parents[child]
        return False


def _fk(local_rot: np.ndarray, local_trans: np.ndarray, parents: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """World positions (..., B, 3) and rotations (..., B, 4) from local rotations and translations."""
    world_rot = np.empty_like(local_rot, dtype=np.float64)
    world_pos = np.empty(local_trans.shape, dtype=np.float64)
    for b, p in enumerate(parents):
        if p < 0:
            world_rot[..., b, :] = local_rot[..., b, :]
            world_pos[..., b, :] = local_trans[..., b, :]
        else:
            world_rot[..., b, :] = R.quat_mul(world_rot[..., p, :], local_rot[..., b, :])
            world_pos[..., b, :] = world_pos[..., p, :] + R.quat_apply(world_rot[..., p, :], local_trans[..., b, :])
    return world_pos, world_rot


@dataclass(frozen=True)
class RigMotion:
    """A clip on a target rig: local rotations and translations per bone, in the rig's frame and units."""

    rig: Rig
    rotations: np.ndarray  # (F, B, 4) local quaternions, rig frame
    translations: np.ndarray  # (F, B, 3) local translations, rig units
    fps: float

    @property
    def frames(self) -> int:
        return int(self.rotations.shape[0])

    def source_frame(self) -> tuple[np.ndarray, np.ndarray]:
        """Local rotations (F, B, 4) and translations (F, B, 3, metres) in the source frame (= glTF's)."""
        inv = self.rig.frame.basis.T
        return change_basis(self.rotations, inv), (self.translations @ inv.T) / self.rig.frame.scale

    def world(self, frame: str = "rig") -> tuple[np.ndarray, np.ndarray]:
        """World positions (F, B, 3) and rotations (F, B, 4) in the rig frame (rig units) or the source frame."""
        if frame == "rig":
            return _fk(self.rotations.astype(np.float64), self.translations.astype(np.float64), self.rig.parents)
        if frame == "source":
            rot, trans = self.source_frame()
            return _fk(rot, trans, self.rig.parents)
        raise ValueError(f"frame must be 'rig' or 'source', got {frame!r}")


def retarget(motion: Motion, rig: Rig) -> RigMotion:
    """World-delta retarget of a source-skeleton motion onto `rig` (see the module docstring)."""
    if motion.joints != BODY_JOINTS:
        raise ValueError("retargeting needs a motion on the SMPL-H body skeleton (22 joints)")
    src_rot = R.quat_normalize(np.asarray(motion.rotations, dtype=np.float64))
    src_root = np.asarray(motion.root, dtype=np.float64)
    _, src_world = R.forward_kinematics(src_rot, src_root, SMPLH_BODY.offsets, SMPLH_BODY.parents)
    return _retarget_world(src_world, src_root, rig, motion.fps)


def _retarget_world(src_world: np.ndarray, src_root: np.ndarray, rig: Rig, fps: float) -> RigMotion:
    frames = src_world.shape[0]
    rest_local_rot, rest_local_trans = rig.to_source_frame()
    rest_pos, rest_rot = _fk(rest_local_rot, rest_local_trans, rig.parents)
    align = rig.rest_alignment()
    src_index = {n: i for i, n in enumerate(BODY_JOINTS)}

    n = len(rig.bones)
    world_rot = np.empty((frames, n, 4))
    for b, bone in enumerate(rig.bones):
        src = rig.bone_map.get(bone)
        p = rig.parents[b]
        if src is None:
            parent_world = world_rot[:, p] if p >= 0 else np.tile([0.0, 0.0, 0.0, 1.0], (frames, 1))
            world_rot[:, b] = R.quat_mul(parent_world, np.tile(rest_local_rot[b], (frames, 1)))
            continue
        if isinstance(src, str):
            delta = src_world[:, src_index[src]]
        else:
            a, c, t = src
            delta = R.quat_slerp(src_world[:, src_index[a]], src_world[:, src_index[c]], float(t))
        world_rot[:, b] = R.quat_mul(delta, np.tile(R.quat_mul(align[b], rest_rot[b]), (frames, 1)))

    local_rot: np.ndarray = world_rot.copy()
    for b, p in enumerate(rig.parents):
        if p >= 0:
            local_rot[:, b] = R.quat_mul(R.quat_conjugate(world_rot[:, p]), world_rot[:, b])
    local_rot = R.quat_make_continuous(R.quat_normalize(local_rot), 0)

    local_trans = np.broadcast_to(rest_local_trans, (frames, n, 3)).copy()
    h = rig.index(rig.hips)
    src_rest_root = SMPLH_BODY.offsets[0]
    ratio = rest_pos[h, 1] / src_rest_root[1]
    hips_world = rest_pos[h] + ratio * (src_root - src_rest_root)
    hp = rig.parents[h]
    if hp >= 0:
        # Bones above the hips (Manny's `root`) are unmapped: their posed world transform is their rest one
        # composed with rest locals, which _fk gives for the posed rotations.
        parent_pos, parent_rot = _fk(local_rot[:, : h], local_trans[:, : h], rig.parents[:h])
        local_trans[:, h] = R.quat_apply(R.quat_conjugate(parent_rot[:, hp]), hips_world - parent_pos[:, hp])
    else:
        local_trans[:, h] = hips_world

    basis = rig.frame.basis
    out_rot = R.quat_make_continuous(change_basis(local_rot, basis), 0)
    out_trans = rig.frame.scale * (local_trans @ basis.T)
    return RigMotion(rig, out_rot, out_trans, fps)
