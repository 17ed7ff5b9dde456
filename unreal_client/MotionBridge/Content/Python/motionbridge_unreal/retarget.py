"""World-delta retargeting of MotionBridge motion onto an Unreal skeleton's reference pose (pure Python).

Input: frames in the protocol's `unreal` target (left-handed, Z up, character faces +X, centimetres):
per joint a local rotation relative to the source T-pose (identity rest rotations), plus the root position.
Output: for every mapped bone of the target skeleton its component-space rotation (live preview) and its
local rotation/translation (baking), in Unreal's own quaternion convention (x, y, z, w; FQuat algebra is
the Hamilton product, so the same numbers work in both places).

Method (the engine's reference `engine/retarget/rig.py`, restated in the wire frame), per mapped bone b:
    target_world(b) = C · delta(b) · C⁻¹ · align(b) · rest_world(b)
- delta(b) is the world rotation of the source joint that drives b: the product of the source local rotations
  from the root down (the source rest is the identity, so this is the joint's change from its T-pose); a
  bone of MANNEQUIN_BLENDS takes the halfway slerp of two joints' deltas (spine_02, spine_04, neck_02);
- C is a yaw about +Z from the wire frame (faces +X) to the mesh's component frame (UE skeletal meshes
  usually face +Y), found from the left/right bone pairs of the reference pose;
- align(b) is the shortest rotation that turns the target's rest bone direction (b → the bone driven by the
  source joint's chain child) into the source's rest direction: it puts the target into the source's T-pose
  first. This is what makes an A-pose rest (UE5 Manny) come out right: without it the arms would hang 45°
  lower than the source's. Bones without a chain child (pelvis, hands, head, balls of the feet) and blended
  bones take the alignment of their nearest directly mapped ancestor (identity for the pelvis).
Bones the motion does not drive keep their reference local rotation (twist and IK bones, `root`), so every
driven bone's local rotation is taken against its parent's *current* world rotation. The hips bone moves
with the source root, scaled by the ratio of rest hip heights; other bones keep their reference translation.
Scale is ignored (reference poses of humanoid skeletons carry unit scale).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]

IDENTITY: Quat = (0.0, 0.0, 0.0, 1.0)


class RetargetError(ValueError):
    """The target skeleton cannot take this motion (no bone in common, broken hierarchy, bad frame)."""


# ---------------------------------------------------------------- quaternion math (x, y, z, w)


def quat_mul(a: Quat, b: Quat) -> Quat:
    """Hamilton product a ⊗ b: apply b first, then a (same as FQuat a * b)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def quat_conjugate(q: Quat) -> Quat:
    return (-q[0], -q[1], -q[2], q[3])


def quat_normalize(q: Quat) -> Quat:
    n = math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    if n < 1e-12:
        raise RetargetError("zero-length quaternion")
    return (q[0] / n, q[1] / n, q[2] / n, q[3] / n)


def quat_rotate(q: Quat, v: Vec3) -> Vec3:
    """Rotate vector v by unit quaternion q."""
    x, y, z, w = q
    tx = 2.0 * (y * v[2] - z * v[1])
    ty = 2.0 * (z * v[0] - x * v[2])
    tz = 2.0 * (x * v[1] - y * v[0])
    return (
        v[0] + w * tx + (y * tz - z * ty),
        v[1] + w * ty + (z * tx - x * tz),
        v[2] + w * tz + (x * ty - y * tx),
    )


def quat_about_z(angle: float) -> Quat:
    return (0.0, 0.0, math.sin(0.5 * angle), math.cos(0.5 * angle))


def quat_from_to(u: Vec3, v: Vec3) -> Quat:
    """Shortest-arc rotation turning direction u into direction v."""
    nu = math.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2])
    nv = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    if nu < 1e-9 or nv < 1e-9:
        return IDENTITY
    a = (u[0] / nu, u[1] / nu, u[2] / nu)
    b = (v[0] / nv, v[1] / nv, v[2] / nv)
    dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    if dot < -1.0 + 1e-9:
        # Opposite directions: any axis perpendicular to a works; take the one least aligned with a.
        helper = (1.0, 0.0, 0.0) if abs(a[0]) < 0.9 else (0.0, 1.0, 0.0)
        axis = _cross(a, helper)
        n = math.sqrt(sum(c * c for c in axis))
        return (axis[0] / n, axis[1] / n, axis[2] / n, 0.0)
    c = _cross(a, b)
    return quat_normalize((c[0], c[1], c[2], 1.0 + dot))


def _cross(a: Vec3, b: Vec3) -> Vec3:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _sub(a: Vec3, b: Vec3) -> Vec3:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _add(a: Vec3, b: Vec3) -> Vec3:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _scale(a: Vec3, s: float) -> Vec3:
    return (a[0] * s, a[1] * s, a[2] * s)


# ---------------------------------------------------------------- skeletons


class TargetSkeleton:
    """An Unreal reference skeleton: bone names, parent indices (−1 for the root) and reference local
    transforms (translation in cm, rotation quaternion x, y, z, w), as read from the mesh in the editor."""

    def __init__(self, names: Sequence[str], parents: Sequence[int], translations: Sequence[Vec3],
                 rotations: Sequence[Quat]) -> None:
        count = len(names)
        if not count or len(parents) != count or len(translations) != count or len(rotations) != count:
            raise RetargetError("a target skeleton needs names, parents, translations and rotations of equal length")
        for j, p in enumerate(parents):
            if p >= j or p < -1:
                raise RetargetError(f"bone {names[j]!r} has parent index {p}: parents must come before their "
                                    "children")
        self.names: list[str] = list(names)
        self.parents: list[int] = [int(p) for p in parents]
        self.translations: list[Vec3] = [tuple(float(c) for c in t) for t in translations]  # type: ignore
        self.rotations: list[Quat] = [quat_normalize(tuple(float(c) for c in q)) for q in rotations]  # type: ignore
        self.index: dict[str, int] = {name: j for j, name in enumerate(self.names)}
        self.world_rotations: list[Quat] = []
        self.world_positions: list[Vec3] = []
        for j, p in enumerate(self.parents):
            if p < 0:
                self.world_rotations.append(self.rotations[j])
                self.world_positions.append(self.translations[j])
            else:
                self.world_rotations.append(quat_mul(self.world_rotations[p], self.rotations[j]))
                self.world_positions.append(
                    _add(self.world_positions[p], quat_rotate(self.world_rotations[p], self.translations[j])))


class RetargetedPose:
    """One retargeted frame. `bones` lists the mapped target bones parent-first (the order to apply them)."""

    def __init__(self, bones: list[str], component_rotations: dict[str, Quat], local_rotations: dict[str, Quat],
                 root_bone: str, root_component_position: Vec3, root_local_translation: Vec3) -> None:
        self.bones = bones
        self.component_rotations = component_rotations
        self.local_rotations = local_rotations
        self.root_bone = root_bone
        self.root_component_position = root_component_position
        self.root_local_translation = root_local_translation


SOURCE_CHAIN_CHILD = {"spine_05": "neck_01"}
"""Source joints with several children whose bone direction still follows one of them: the upper chest points
at the neck, not at the collars. Other multi-child joints (the pelvis) have no bone direction and no alignment."""

MANNEQUIN_BLENDS: dict[str, tuple[str, str, float]] = {
    "spine_02": ("spine_01", "spine_03", 0.5),
    "spine_04": ("spine_03", "spine_05", 0.5),
    "neck_02": ("neck_01", "head", 0.5),
}
"""Mannequin bones between two wire joints: they take the halfway slerp of those joints' world deltas, which
spreads a bend over the five-bone spine and two-bone neck instead of kinking at every other bone."""


def quat_slerp(a: Quat, b: Quat, t: float) -> Quat:
    """Spherical interpolation along the shorter arc."""
    dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]
    if dot < 0.0:
        b = (-b[0], -b[1], -b[2], -b[3])
        dot = -dot
    dot = min(dot, 1.0)
    theta = math.acos(dot)
    sin_theta = math.sin(theta)
    if sin_theta < 1e-6:
        wa, wb = 1.0 - t, t
    else:
        wa, wb = math.sin((1.0 - t) * theta) / sin_theta, math.sin(t * theta) / sin_theta
    return quat_normalize(tuple(wa * a[k] + wb * b[k] for k in range(4)))  # type: ignore[arg-type]


class WorldDeltaRetargeter:
    """Maps frames of one source skeleton (names as sent on the wire) onto one target skeleton.

    Target bones named like a wire joint follow that joint; bones of MANNEQUIN_BLENDS follow a blend of two;
    all other bones keep their reference local rotation.
    """

    def __init__(self, target: TargetSkeleton, source_joints: Sequence[str], source_parents: Sequence[int],
                 source_rest: Sequence[Vec3], facing_yaw: float | None = None,
                 blends: dict[str, tuple[str, str, float]] | None = None) -> None:
        """`source_rest`: the source's parent-relative rest offsets in the wire frame (Unreal basis, cm),
        row 0 the root's rest position. `facing_yaw`: radians about +Z from the wire frame to the mesh's
        component frame; None finds it from the skeleton's left/right bone pairs."""
        if not (len(source_joints) == len(source_parents) == len(source_rest)):
            raise RetargetError("source joints, parents and rest offsets differ in length")
        self.target = target
        self.source_joints = list(source_joints)
        self.source_parents = [int(p) for p in source_parents]
        self.source_rest_world = self._source_rest_world(source_rest)
        source_index = {n: i for i, n in enumerate(self.source_joints)}
        self.direct: dict[int, int] = {target.index[n]: i for i, n in enumerate(source_joints) if n in target.index}
        if not self.direct:
            known = ", ".join(source_joints[:4])
            raise RetargetError(f"the target skeleton has none of the bones {known}, ...: use a UE5 Mannequin "
                                "skeleton (or retarget the baked asset with an IK Retargeter)")
        self.blended: dict[int, tuple[int, int, float]] = {}
        for bone, (a, b, t) in (MANNEQUIN_BLENDS if blends is None else blends).items():
            if bone in target.index and target.index[bone] not in self.direct and a in source_index \
                    and b in source_index:
                self.blended[target.index[bone]] = (source_index[a], source_index[b], float(t))
        self.source_root = self.source_parents.index(-1)
        root_name = self.source_joints[self.source_root]
        if root_name not in target.index:
            raise RetargetError(f"the target skeleton lacks the bone {root_name!r} that carries the root motion")
        self.hips = target.index[root_name]
        self.facing_yaw = self._find_facing_yaw() if facing_yaw is None else float(facing_yaw)
        self.facing = quat_about_z(self.facing_yaw)
        self.facing_inv = quat_conjugate(self.facing)
        self.alignment = self._alignments()
        source_height = self.source_rest_world[self.source_root][2]
        target_height = target.world_positions[self.hips][2]
        # Root travel scales with the ratio of rest hip heights, so feet neither slide nor stomp on another size.
        self.root_scale = target_height / source_height if source_height > 1e-6 and target_height > 1e-6 else 1.0
        self.bone_indices = sorted(set(self.direct) | set(self.blended))
        self.bones = [target.names[b] for b in self.bone_indices]

    # -- set-up

    def _source_rest_world(self, rest: Sequence[Vec3]) -> list[Vec3]:
        world: list[Vec3] = []
        for i, p in enumerate(self.source_parents):
            offset = tuple(float(c) for c in rest[i])
            if p >= i:
                raise RetargetError(f"source joint {i} has parent {p}: parents must come first")
            world.append(offset if p < 0 else _add(world[p], offset))  # type: ignore[arg-type]
        return world

    def _find_facing_yaw(self) -> float:
        source_side = (0.0, 0.0)
        target_side = (0.0, 0.0)
        by_source = {i: b for b, i in self.direct.items()}
        for i, name in enumerate(self.source_joints):
            twin = name[:-2] + "_r" if name.endswith("_l") else None
            if twin is None or twin not in self.source_joints:
                continue
            k = self.source_joints.index(twin)
            if i not in by_source or k not in by_source:
                continue
            s = _sub(self.source_rest_world[i], self.source_rest_world[k])
            t = _sub(self.target.world_positions[by_source[i]], self.target.world_positions[by_source[k]])
            source_side = (source_side[0] + s[0], source_side[1] + s[1])
            target_side = (target_side[0] + t[0], target_side[1] + t[1])
        if math.hypot(*source_side) < 1e-6 or math.hypot(*target_side) < 1e-6:
            return 0.0
        yaw = math.atan2(target_side[1], target_side[0]) - math.atan2(source_side[1], source_side[0])
        return math.atan2(math.sin(yaw), math.cos(yaw))

    def _chain_child(self, i: int) -> int | None:
        name = self.source_joints[i]
        if name in SOURCE_CHAIN_CHILD and SOURCE_CHAIN_CHILD[name] in self.source_joints:
            return self.source_joints.index(SOURCE_CHAIN_CHILD[name])
        children = [c for c, p in enumerate(self.source_parents) if p == i]
        return children[0] if len(children) == 1 else None

    def _is_descendant(self, bone: int, ancestor: int) -> bool:
        while bone >= 0:
            if bone == ancestor:
                return True
            bone = self.target.parents[bone]
        return False

    def _alignments(self) -> list[Quat]:
        target = self.target
        bone_of = {i: b for b, i in self.direct.items()}
        alignment: list[Quat] = []
        for b, p in enumerate(target.parents):
            while p >= 0 and p not in self.direct:
                p = target.parents[p]
            align = alignment[p] if p >= 0 else IDENTITY
            i = self.direct.get(b)
            child = self._chain_child(i) if i is not None else None
            if child is not None and child in bone_of and self._is_descendant(bone_of[child], b):
                source_dir = quat_rotate(self.facing, _sub(self.source_rest_world[child], self.source_rest_world[i]))
                target_dir = _sub(target.world_positions[bone_of[child]], target.world_positions[b])
                if math.sqrt(sum(c * c for c in target_dir)) > 1e-9:
                    align = quat_from_to(target_dir, source_dir)
            alignment.append(align)
        return alignment

    # -- per frame

    def retarget(self, root: Vec3, rotations: Sequence[Quat]) -> RetargetedPose:
        """One wire frame (root position, one local rotation per source joint) → the target's pose."""
        if len(rotations) != len(self.source_joints):
            raise RetargetError(f"frame has {len(rotations)} rotations, the source skeleton "
                                f"{len(self.source_joints)} joints")
        delta: list[Quat] = []
        for i, p in enumerate(self.source_parents):
            q = quat_normalize(tuple(float(c) for c in rotations[i]))  # type: ignore[arg-type]
            delta.append(q if p < 0 else quat_mul(delta[p], q))
        target = self.target
        world: list[Quat] = []
        for b, p in enumerate(target.parents):
            if b in self.direct:
                source_delta: Quat | None = delta[self.direct[b]]
            elif b in self.blended:
                i, k, t = self.blended[b]
                source_delta = quat_slerp(delta[i], delta[k], t)
            else:
                source_delta = None
            if source_delta is None:
                world.append(target.rotations[b] if p < 0 else quat_mul(world[p], target.rotations[b]))
                continue
            in_mesh_frame = quat_mul(quat_mul(self.facing, source_delta), self.facing_inv)
            world.append(quat_normalize(quat_mul(quat_mul(in_mesh_frame, self.alignment[b]),
                                                 target.world_rotations[b])))
        component: dict[str, Quat] = {}
        local: dict[str, Quat] = {}
        for b in self.bone_indices:
            p = target.parents[b]
            component[target.names[b]] = world[b]
            local[target.names[b]] = quat_normalize(world[b] if p < 0 else quat_mul(quat_conjugate(world[p]), world[b]))
        travel = _scale(_sub(tuple(float(c) for c in root), self.source_rest_world[self.source_root]),  # type: ignore
                        self.root_scale)
        hips_position = _add(target.world_positions[self.hips], quat_rotate(self.facing, travel))
        p = target.parents[self.hips]
        if p < 0:
            hips_local = hips_position
        else:
            # Bones above the hips (Manny's `root`) are unmapped: they stay in their reference pose.
            hips_local = quat_rotate(quat_conjugate(world[p]), _sub(hips_position, target.world_positions[p]))
        return RetargetedPose(list(self.bones), component, local, target.names[self.hips], hips_position, hips_local)

    def source_frame(self, component_rotations: dict[str, Quat], hips_position: Vec3) -> tuple[Vec3, list[Quat]]:
        """The inverse of `retarget`: a target pose (component-space rotations of the directly driven bones and
        the hips bone's component-space position) → one wire frame (root position, local rotations relative to
        the source T-pose). Continuing from a pose seen in the editor sends this frame."""
        target = self.target
        by_source = {i: b for b, i in self.direct.items()}
        missing = [self.source_joints[i] for i in range(len(self.source_joints))
                   if i not in by_source or target.names[by_source[i]] not in component_rotations]
        if missing:
            raise RetargetError(f"the pose lacks the bones {', '.join(missing)}: continue from a Mannequin-named "
                                "skeleton")
        delta: list[Quat] = []
        for i in range(len(self.source_joints)):
            b = by_source[i]
            world = quat_normalize(tuple(float(c) for c in component_rotations[target.names[b]]))  # type: ignore
            # world = F · delta · F⁻¹ · align · rest  →  delta = F⁻¹ · world · rest⁻¹ · align⁻¹ · F
            in_mesh_frame = quat_mul(quat_mul(world, quat_conjugate(target.world_rotations[b])),
                                     quat_conjugate(self.alignment[b]))
            delta.append(quat_normalize(quat_mul(quat_mul(self.facing_inv, in_mesh_frame), self.facing)))
        local = [delta[i] if p < 0 else quat_normalize(quat_mul(quat_conjugate(delta[p]), delta[i]))
                 for i, p in enumerate(self.source_parents)]
        travel = quat_rotate(self.facing_inv, _sub(tuple(float(c) for c in hips_position),  # type: ignore[arg-type]
                                                   target.world_positions[self.hips]))
        root = _add(self.source_rest_world[self.source_root], _scale(travel, 1.0 / self.root_scale))
        return root, local
