"""Joint-name maps from the motion-capture rigs we import to the SMPL-H body (22 joints).

Each map pairs an SMPL-H joint with the source joint whose rotation moves the same bone. The bones that line
the two T-poses up (see `engine.train.mocap.retarget`) are derived from those joints along `CHAIN`, and the
right side from the left by swapping the side prefixes, so neither can drift from the joint map.

Rigs (facts from `shared/data/cmu/RIGS.md`):
- `daz`: DAZ/Poser-style CMU conversion (hip, abdomen, chest, lShldr, lForeArm, lThigh, lShin, ...),
  120 fps, all-zero pose is a T-pose; the collars never move (mapped anyway, they stay identity).
- `cmu-asf`: CMU ASF bone names as written by amc-to-bvh converters. A joint named after an ASF bone sits
  at the bone's proximal end, so `lfemur` is the hip joint, `ltibia` the knee, `lfoot` the ankle. The
  header says 30 fps but the data are 120 fps. All-zero pose is a T-pose with femurs slanted ~20°
  outward (the aim correction straightens them).
- `reallusion`: Character Creator rig (`CC_Base_*`), 60 fps. Joint axes are not world-aligned, so the
  all-zero pose is NOT a T-pose: the reference is frame 0 of a file whose first frame is a synthetic
  T-pose (07_03 to 07_12 of the IClone set). Twist, finger, toe and facial bones are not used.
- `cmu-mb`: B. Hahne's MotionBuilder-friendly CMU conversion (Hips, LHipJoint, LeftUpLeg, ...; the same
  ASF skeleton as `cmu-asf` under other names: `LeftUpLeg` is the hip joint, `LeftLeg` the knee), 120 fps,
  all-zero pose = ASF T-pose. Found in Debian's `assimp-testmodels` (01_01, 01_03).
- `deepmimic`: the DeepMimic humanoid (chest, neck, hips, 1-DOF knees and elbows). Its zero pose
  stands with the arms hanging down; the aim correction raises them to the T-pose.
"""

from __future__ import annotations

from engine.train.mocap.retarget import RigMap


def _both_sides(left: dict[str, str], prefix: tuple[str, str]) -> dict[str, str]:
    """Add the right-side twin of every `left_*` entry (source names swap `prefix[0]` for `prefix[1]`)."""
    out = dict(left)
    for ours, theirs in left.items():
        if ours.startswith("left_"):
            out["right_" + ours[5:]] = theirs.replace(prefix[0], prefix[1], 1)
    return out


CHAIN: dict[str, str] = _both_sides(
    {
        "spine1": "spine2",
        "spine2": "spine3",
        "spine3": "neck",
        "neck": "head",
        "left_hip": "left_knee",
        "left_knee": "left_ankle",
        "left_collar": "left_shoulder",
        "left_shoulder": "left_elbow",
        "left_elbow": "left_wrist",
    },
    ("left_", "right_"),
)
"""The SMPL-H bone each joint's T-pose direction is matched along: joint → the next joint down its chain.
The pelvis (three children), the hands and the feet (their tips vary most between rigs) are not aimed."""


def _aims(joints: dict[str, str], aim_sources: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Every mapped joint on `CHAIN` aims at the next joint down the chain that the rig has: a mapped one, or
    one named in `aim_sources` (a source joint that marks where a bone ends without being mapped itself, or
    a better end than the mapped joint, as the top of an ASF neck)."""
    aims = {}
    for joint in joints:
        aim = CHAIN.get(joint)
        while aim is not None and aim not in joints and aim not in aim_sources:
            aim = CHAIN.get(aim)
        if aim is not None:
            aims[joint] = (aim, aim_sources.get(aim, joints.get(aim, "")))
    return aims


def _rig(name: str, left: dict[str, str], prefix: tuple[str, str], leg: tuple[str, str, str],
         aim_sources: dict[str, str] | None = None) -> RigMap:
    """A rig from its centre and left-side joints; the right side, and the aims, are derived."""
    joints = _both_sides(left, prefix)
    return RigMap(name=name, joints=joints, aims=_aims(joints, _both_sides(aim_sources or {}, prefix)), leg=leg)


DAZ = _rig(
    "daz",
    {
        "pelvis": "hip",
        "spine1": "abdomen",
        "spine2": "chest",
        "neck": "neck",
        "head": "head",
        "left_hip": "lThigh",
        "left_knee": "lShin",
        "left_ankle": "lFoot",
        "left_collar": "lCollar",
        "left_shoulder": "lShldr",
        "left_elbow": "lForeArm",
        "left_wrist": "lHand",
    },
    ("l", "r"),
    ("lThigh", "lShin", "lFoot"),
)

CMU_ASF = _rig(
    "cmu-asf",
    {
        "pelvis": "hip",
        "spine1": "lowerback",
        "spine2": "upperback",
        "spine3": "thorax",
        "neck": "lowerneck",
        "head": "head",
        "left_hip": "lfemur",
        "left_knee": "ltibia",
        "left_ankle": "lfoot",
        "left_foot": "ltoes",
        "left_collar": "lclavicle",
        "left_shoulder": "lhumerus",
        "left_elbow": "lradius",
        "left_wrist": "lwrist",
    },
    ("l", "r"),
    ("lfemur", "ltibia", "lfoot"),
    aim_sources={"neck": "upperneck"},
)

REALLUSION = _rig(
    "reallusion",
    {
        "pelvis": "CC_Base_Hip",
        "spine1": "CC_Base_Waist",
        "spine2": "CC_Base_Spine01",
        "spine3": "CC_Base_Spine02",
        "neck": "CC_Base_NeckTwist01",
        "head": "CC_Base_Head",
        "left_hip": "CC_Base_L_Thigh",
        "left_knee": "CC_Base_L_Calf",
        "left_ankle": "CC_Base_L_Foot",
        "left_foot": "CC_Base_L_ToeBase",
        "left_collar": "CC_Base_L_Clavicle",
        "left_shoulder": "CC_Base_L_Upperarm",
        "left_elbow": "CC_Base_L_Forearm",
        "left_wrist": "CC_Base_L_Hand",
    },
    ("_L_", "_R_"),
    ("CC_Base_L_Thigh", "CC_Base_L_Calf", "CC_Base_L_Foot"),
)

CMU_MB = _rig(
    "cmu-mb",
    {
        "pelvis": "Hips",
        "spine1": "LowerBack",
        "spine2": "Spine",
        "spine3": "Spine1",
        "neck": "Neck",
        "head": "Head",
        "left_hip": "LeftUpLeg",
        "left_knee": "LeftLeg",
        "left_ankle": "LeftFoot",
        "left_foot": "LeftToeBase",
        "left_collar": "LeftShoulder",
        "left_shoulder": "LeftArm",
        "left_elbow": "LeftForeArm",
        "left_wrist": "LeftHand",
    },
    ("Left", "Right"),
    ("LeftUpLeg", "LeftLeg", "LeftFoot"),
    aim_sources={"neck": "Neck1"},
)

DEEPMIMIC = _rig(
    "deepmimic",
    {
        "pelvis": "root",
        "spine1": "chest",
        "neck": "neck",
        "left_hip": "left_hip",
        "left_knee": "left_knee",
        "left_ankle": "left_ankle",
        "left_shoulder": "left_shoulder",
        "left_elbow": "left_elbow",
    },
    ("left_", "right_"),
    ("left_hip", "left_knee", "left_ankle"),
    aim_sources={"left_wrist": "left_wrist"},
)

BVH_RIGS: dict[str, RigMap] = {rig.name: rig for rig in (DAZ, CMU_ASF, REALLUSION, CMU_MB)}

# The joint that tells a rig apart from the others.
_SIGNATURES = {"lShldr": "daz", "lhumerus": "cmu-asf", "CC_Base_Hip": "reallusion", "LHipJoint": "cmu-mb"}


def detect_rig(joint_names: tuple[str, ...] | list[str]) -> str | None:
    """The name of the BVH rig these joints belong to, or None if no map fits."""
    names = set(joint_names)
    for joint, rig in _SIGNATURES.items():
        if joint in names:
            return rig
    return None
