"""Target rig definitions: Unity Humanoid (T-pose), UE5 Mannequin "Manny" (A-pose), Mixamo, and our own.

Each rig is built the way a DCC stores one: rest *local* rotations and translations in the rig's own frame
(Unity: left-handed Y-up metres; Unreal: left-handed Z-up X-forward centimetres; Mixamo: right-handed Y-up
centimetres), with bone axes that follow the rig family's habit:
- Unreal Mannequin: local +X runs along the bone toward the child on the left side and the spine, −X on the
  right side (the mirrored limbs of SK_Mannequin); `root` sits at the origin with identity rotation;
- Unity Humanoid (as imported from Blender/Maya FBX) and Mixamo: local +Y runs along the bone.

Proportions come from our own source skeleton (`engine.core.skeleton`), scaled per rig so that retargeting really
has to rescale root motion. These are stand-ins with the right names, hierarchy, axis habits and rest pose,
not copies of the vendors' assets: a client that has the real rig (the Unreal plugin reads the reference
pose from the Skeleton asset) builds a `Rig` from those numbers with `rig_from_rest` or `Rig(...)` directly.

Joint maps follow the SMPL-H table of the retargeting reference. Spine distribution: Manny's five spine bones
take spine1, spine2, spine3 on spine_01/03/05 and halfway blends on spine_02/04 (neck_02 likewise); a Unity
rig without UpperChest folds spine3 into Chest (Chest carries the shoulders, so it takes the upper chest's
orientation). Rigs without toes are `RIGS["unity"].without("LeftToes", "RightToes")`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from engine.core import rotations as R
from engine.core.skeleton import BODY_JOINTS, SMPLH_BODY
from engine.core.targets import EXPORT_TARGETS, TARGETS, UNITY_BONES, UNREAL_BONES, Target
from engine.retarget.rig import BoneSource, Rig, RigError

MIXAMO_PREFIX = "mixamorig:"

MIXAMO_FRAME = Target("mixamo", (), np.eye(3), 100.0, "right", "+Y", "+Z", "cm")
"""Mixamo FBX convention: right-handed, Y up, faces +Z, centimetres."""

_SRC = {n: p for n, p in zip(BODY_JOINTS, SMPLH_BODY.rest_positions(), strict=True)}


def _mid(a: str, b: str) -> np.ndarray:
    return 0.5 * (_SRC[a] + _SRC[b])


def _aim_rotation(primary_axis: int, primary_dir: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Rotation matrix whose local `primary_axis` points along primary_dir and the next axis toward hint."""
    d = primary_dir / np.linalg.norm(primary_dir)
    h = hint - (hint @ d) * d
    h /= np.linalg.norm(h)
    axes = [np.zeros(3)] * 3
    axes[primary_axis] = d
    axes[(primary_axis + 1) % 3] = h
    axes[(primary_axis + 2) % 3] = np.cross(d, h)
    return np.stack(axes, axis=-1)


def rig_from_rest(
    name: str,
    bones: Sequence[str],
    parents: Sequence[int],
    rest_world_positions: np.ndarray,
    rest_world_rotations: np.ndarray,
    bone_map: Mapping[str, BoneSource],
    frame: Target,
    hips: str,
    rest_pose: str = "T",
) -> Rig:
    """A rig from world rest positions (B, 3) and world rest rotations (B, 4), both in the rig's frame."""
    pos = np.asarray(rest_world_positions, dtype=np.float64)
    rot = R.quat_normalize(np.asarray(rest_world_rotations, dtype=np.float64))
    local_rot = rot.copy()
    local_trans = pos.copy()
    for b, p in enumerate(parents):
        if p >= 0:
            inv_parent = R.quat_conjugate(rot[p])
            local_rot[b] = R.quat_mul(inv_parent, rot[b])
            local_trans[b] = R.quat_apply(inv_parent, pos[b] - pos[p])
    return Rig(name, tuple(bones), tuple(parents), local_rot, local_trans, dict(bone_map), frame, hips, rest_pose)


def _build(
    name: str,
    spec: Sequence[tuple[str, str | None, np.ndarray]],
    bone_map: Mapping[str, BoneSource],
    frame: Target,
    hips: str,
    proportion: float,
    axis_rule: Callable[[str], tuple[int, float]],
    aim_child: Mapping[str, str | None],
    rest_pose: str = "T",
    posing: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> Rig:
    """Rig from (bone, parent, source-frame rest position in metres) rows and an axis convention.

    `axis_rule(bone)` gives (local axis index that runs along the bone, +1 or −1); `aim_child` overrides which
    child a bone aims at (None: identity rotation in the rig frame, like Unreal's `root`).
    """
    bones = [b for b, _, _ in spec]
    parents = [bones.index(p) if p is not None else -1 for _, p, _ in spec]
    src_pos = {b: proportion * np.asarray(p, dtype=np.float64) for b, _, p in spec}
    if posing is not None:
        posing(src_pos)
    pos = np.stack([frame.scale * (frame.basis @ src_pos[b]) for b in bones])
    forward = frame.basis @ np.array([0.0, 0.0, 1.0])
    up = frame.basis @ np.array([0.0, 1.0, 0.0])
    rot = np.zeros((len(bones), 4))
    for b, bone in enumerate(bones):
        kids = [c for c, p in enumerate(parents) if p == b]
        if bone in aim_child:
            target = aim_child[bone]
            if target is None:
                rot[b] = (0.0, 0.0, 0.0, 1.0)
                continue
            kids = [bones.index(target)]
        if len(kids) != 1:
            if not kids and parents[b] >= 0:
                rot[b] = rot[parents[b]]  # leaves continue their parent's axes
                continue
            raise RigError(f"rig {name!r}: bone {bone!r} needs an aim_child entry ({len(kids)} children)")
        axis, sign = axis_rule(bone)
        direction = sign * (pos[kids[0]] - pos[b])
        hint = up if abs(direction @ forward) > 0.7 * np.linalg.norm(direction) else forward
        rot[b] = R.matrix_to_quat(_aim_rotation(axis, direction, hint))
    return rig_from_rest(name, bones, parents, pos, rot, bone_map, Target(name, tuple(bones), frame.basis,
                         frame.scale, frame.handedness, frame.up, frame.forward, frame.units), hips, rest_pose)


def _lower_arms_to_a_pose(pos: dict[str, np.ndarray], chains: Mapping[str, Sequence[str]], degrees: float) -> None:
    """Rotate each arm chain down about its upper-arm joint, in the source frame (left arm along +X)."""
    for side, chain in chains.items():
        sign = 1.0 if side == "left" else -1.0
        turn = R.axis_angle_to_quat(np.array([0.0, 0.0, -sign * np.radians(degrees)]))
        pivot = pos[chain[0]]
        for bone in chain[1:]:
            pos[bone] = pivot + R.quat_apply(turn, pos[bone] - pivot)


# ---------------------------------------------------------------- UE5 Mannequin (Manny), A-pose

_MANNY_SPEC = [
    ("root", None, np.zeros(3)),
    ("pelvis", "root", _SRC["pelvis"]),
    ("spine_01", "pelvis", _SRC["spine1"]),
    ("spine_02", "spine_01", _mid("spine1", "spine2")),
    ("spine_03", "spine_02", _SRC["spine2"]),
    ("spine_04", "spine_03", _mid("spine2", "spine3")),
    ("spine_05", "spine_04", _SRC["spine3"]),
    ("neck_01", "spine_05", _SRC["neck"]),
    ("neck_02", "neck_01", _mid("neck", "head")),
    ("head", "neck_02", _SRC["head"]),
    *[
        row
        for side, s in (("left", "l"), ("right", "r"))
        for row in (
            (f"clavicle_{s}", "spine_05", _SRC[f"{side}_collar"]),
            (f"upperarm_{s}", f"clavicle_{s}", _SRC[f"{side}_shoulder"]),
            (f"lowerarm_{s}", f"upperarm_{s}", _SRC[f"{side}_elbow"]),
            (f"hand_{s}", f"lowerarm_{s}", _SRC[f"{side}_wrist"]),
        )
    ],
    *[
        row
        for side, s in (("left", "l"), ("right", "r"))
        for row in (
            (f"thigh_{s}", "pelvis", _SRC[f"{side}_hip"]),
            (f"calf_{s}", f"thigh_{s}", _SRC[f"{side}_knee"]),
            (f"foot_{s}", f"calf_{s}", _SRC[f"{side}_ankle"]),
            (f"ball_{s}", f"foot_{s}", _SRC[f"{side}_foot"]),
        )
    ],
]
MANNY_A_POSE_DEGREES = 45.0
"""How far below horizontal Manny's arms hang in its reference pose."""

MANNY_MAP: dict[str, BoneSource] = {
    **dict(zip(UNREAL_BONES, BODY_JOINTS, strict=True)),
    "spine_02": ("spine1", "spine2", 0.5),
    "spine_04": ("spine2", "spine3", 0.5),
    "neck_02": ("neck", "head", 0.5),
}


def manny() -> Rig:
    """UE5 Mannequin body: root, pelvis, spine_01..05, neck_01/02, head, arms, legs with ball bones."""
    return _build(
        "unreal",
        _MANNY_SPEC,
        MANNY_MAP,
        TARGETS["unreal"],
        "pelvis",
        proportion=1.06,
        axis_rule=lambda bone: (0, -1.0 if bone.endswith("_r") else 1.0),
        aim_child={"root": None, "pelvis": "spine_01", "spine_05": "neck_01"},
        rest_pose="A",
        posing=lambda pos: _lower_arms_to_a_pose(
            pos, {s: [f"upperarm_{c}", f"lowerarm_{c}", f"hand_{c}"] for s, c in (("left", "l"), ("right", "r"))},
            MANNY_A_POSE_DEGREES),
    )


# ---------------------------------------------------------------- Unity Humanoid, T-pose, no UpperChest

_UNITY_SOURCE = dict(zip(UNITY_BONES, BODY_JOINTS, strict=True))
_UNITY_SPEC = [
    (bone, None if src == "pelvis" else next(b for b, s in _UNITY_SOURCE.items()
                                              if s == BODY_JOINTS[SMPLH_BODY.parents[SMPLH_BODY.index(src)]]),
     _SRC[src])
    for bone, src in _UNITY_SOURCE.items()
    if bone != "UpperChest"
]
# Without UpperChest, the neck and shoulders hang from Chest.
_UNITY_SPEC = [(b, "Chest" if p == "UpperChest" else p, x) for b, p, x in _UNITY_SPEC]
UNITY_MAP: dict[str, BoneSource] = {b: s for b, s in _UNITY_SOURCE.items() if b != "UpperChest"}
UNITY_MAP["Chest"] = "spine3"


def unity_humanoid() -> Rig:
    """A typical Unity Humanoid import: HumanBodyBones names, T-pose, Y-along-bone axes, no UpperChest."""
    return _build(
        "unity",
        _UNITY_SPEC,
        UNITY_MAP,
        TARGETS["unity"],
        "Hips",
        proportion=0.95,
        axis_rule=lambda bone: (1, 1.0),
        aim_child={"Hips": "Spine", "Chest": "Neck"},
    )


# ---------------------------------------------------------------- Mixamo, T-pose

_MIXAMO_SOURCE: dict[str, str] = {
    "Hips": "pelvis", "Spine": "spine1", "Spine1": "spine2", "Spine2": "spine3", "Neck": "neck", "Head": "head",
    "LeftShoulder": "left_collar", "LeftArm": "left_shoulder", "LeftForeArm": "left_elbow", "LeftHand": "left_wrist",
    "RightShoulder": "right_collar", "RightArm": "right_shoulder", "RightForeArm": "right_elbow",
    "RightHand": "right_wrist", "LeftUpLeg": "left_hip", "LeftLeg": "left_knee", "LeftFoot": "left_ankle",
    "LeftToeBase": "left_foot", "RightUpLeg": "right_hip", "RightLeg": "right_knee", "RightFoot": "right_ankle",
    "RightToeBase": "right_foot",
}
_MIXAMO_BONE_OF = {s: b for b, s in _MIXAMO_SOURCE.items()}


def _mixamo_spec() -> list[tuple[str, str | None, np.ndarray]]:
    rows: list[tuple[str, str | None, np.ndarray]] = []
    for j, joint in enumerate(BODY_JOINTS):
        p = SMPLH_BODY.parents[j]
        parent = None if p < 0 else MIXAMO_PREFIX + _MIXAMO_BONE_OF[BODY_JOINTS[p]]
        rows.append((MIXAMO_PREFIX + _MIXAMO_BONE_OF[joint], parent, _SRC[joint]))
    # Mixamo's end bones: the top of the head and the toe tips.
    rows.append((MIXAMO_PREFIX + "HeadTop_End", MIXAMO_PREFIX + "Head", _SRC["head"] + [0.0, 0.17, 0.0]))
    for side in ("Left", "Right"):
        toe = _SRC[f"{side.lower()}_foot"]
        rows.append((f"{MIXAMO_PREFIX}{side}Toe_End", f"{MIXAMO_PREFIX}{side}ToeBase", toe + [0.0, 0.0, 0.07]))
    return rows


def mixamo() -> Rig:
    """Mixamo `mixamorig:*` body: T-pose, right-handed Y-up centimetres, Y-along-bone axes, end bones."""
    return _build(
        "mixamo",
        _mixamo_spec(),
        {MIXAMO_PREFIX + b: s for b, s in _MIXAMO_SOURCE.items()},
        MIXAMO_FRAME,
        MIXAMO_PREFIX + "Hips",
        proportion=1.02,
        axis_rule=lambda bone: (1, 1.0),
        aim_child={MIXAMO_PREFIX + "Hips": MIXAMO_PREFIX + "Spine", MIXAMO_PREFIX + "Spine2": MIXAMO_PREFIX + "Neck"},
    )


# ---------------------------------------------------------------- our own skeleton as a rig


def smplh() -> Rig:
    """The source skeleton itself (identity rest rotations): retargeting onto it is the identity."""
    return Rig(
        "smplh",
        SMPLH_BODY.joints,
        SMPLH_BODY.parents,
        np.tile([0.0, 0.0, 0.0, 1.0], (len(BODY_JOINTS), 1)),
        SMPLH_BODY.offsets.copy(),
        {j: j for j in BODY_JOINTS},
        TARGETS["smplh"],
        "pelvis",
    )


RIG_BUILDERS: dict[str, Callable[[], Rig]] = dict(
    zip(EXPORT_TARGETS, (smplh, unity_humanoid, manny, mixamo), strict=True)
)
"""Rig per export target name (`motionbridge export --target`)."""


class UnknownRig(ValueError):
    """The requested rig name is not one of RIG_BUILDERS."""


def get_rig(name: str) -> Rig:
    try:
        return RIG_BUILDERS[name]()
    except KeyError:
        raise UnknownRig(f"unknown rig {name!r}: use one of {', '.join(RIG_BUILDERS)}") from None
