"""The source skeleton every MotionBridge model speaks: SMPL-H body (22 joints) plus 30 finger joints.

This module is the single source of truth for joint names, joint order, parents, the rest pose and the
frame rate. The rest offsets are our own, built from an anthropometric proportion table for a 1.70 m adult
(segment lengths as fractions of stature, after the classic biomechanics tables), not from SMPL model data.

Conventions (also stated in docs/protocol.md):
- right-handed, Y up, the character faces +Z, so its left side points to +X;
- metres;
- rest pose is a T-pose and every rest rotation is the identity, so local rotations are "relative to rest".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FPS = 30
"""Frame rate of every motion the models produce."""

SKELETON_NAME = "smplh22"

BODY_JOINTS: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
)
BODY_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
NUM_BODY_JOINTS = len(BODY_JOINTS)

_FINGERS = ("index", "middle", "pinky", "ring", "thumb")
HAND_JOINTS: tuple[str, ...] = tuple(
    f"{side}_{finger}{k}" for side in ("left", "right") for finger in _FINGERS for k in (1, 2, 3)
)
ALL_JOINTS: tuple[str, ...] = BODY_JOINTS + HAND_JOINTS
NUM_ALL_JOINTS = len(ALL_JOINTS)  # 52, the SMPL-H joint count of upstream .npz files


def _hand_parents() -> tuple[int, ...]:
    parents: list[int] = []
    for side in ("left", "right"):
        wrist = BODY_JOINTS.index(f"{side}_wrist")
        for _finger in _FINGERS:
            first = NUM_BODY_JOINTS + len(parents)
            parents += [wrist, first, first + 1]
    return tuple(parents)


ALL_PARENTS: tuple[int, ...] = BODY_PARENTS + _hand_parents()

# Rest offsets of the left side and the spine, metres, from parent joint to joint. Right-side joints mirror
# the left ones (x negated). Stature 1.70 m: hip joints at 0.88 m, knees 0.48 m, ankles 0.065 m, shoulder
# joints 1.39 m, upper arm 0.28 m, forearm 0.25 m (joint centre to joint centre).
_LEFT_AND_CENTRE_OFFSETS: dict[str, tuple[float, float, float]] = {
    "pelvis": (0.0, 0.95, 0.0),
    "left_hip": (0.088, -0.07, 0.0),
    "spine1": (0.0, 0.10, -0.015),
    "left_knee": (0.0, -0.40, 0.005),
    "spine2": (0.0, 0.13, 0.005),
    "left_ankle": (0.0, -0.415, -0.02),
    "spine3": (0.0, 0.06, 0.01),
    "left_foot": (0.0, -0.05, 0.13),
    "neck": (0.0, 0.21, -0.02),
    "left_collar": (0.07, 0.125, -0.01),
    "head": (0.0, 0.09, 0.04),
    "left_shoulder": (0.12, 0.025, 0.0),
    "left_elbow": (0.28, 0.0, 0.0),
    "left_wrist": (0.25, 0.0, 0.0),
}
# Finger bases relative to the wrist, and phalanx lengths (proximal→middle, middle→distal).
_FINGER_BASE = {
    "index": (0.095, 0.0, 0.025),
    "middle": (0.10, 0.0, 0.005),
    "pinky": (0.085, 0.0, -0.035),
    "ring": (0.095, 0.0, -0.015),
    "thumb": (0.025, -0.01, 0.03),
}
_PHALANX = {"index": (0.04, 0.025), "middle": (0.045, 0.028), "pinky": (0.03, 0.02),
            "ring": (0.042, 0.026), "thumb": (0.035, 0.03)}


def _rest_offsets() -> np.ndarray:
    offsets = np.zeros((NUM_ALL_JOINTS, 3))
    for i, name in enumerate(BODY_JOINTS):
        mirrored = name.replace("right_", "left_")
        x, y, z = _LEFT_AND_CENTRE_OFFSETS[mirrored]
        offsets[i] = (-x if name.startswith("right_") else x, y, z)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        for finger in _FINGERS:
            bx, by, bz = _FINGER_BASE[finger]
            j1 = ALL_JOINTS.index(f"{side}_{finger}1")
            offsets[j1] = (sign * bx, by, bz)
            if finger == "thumb":
                # The thumb points forward-out, not along the arm.
                step = np.array([sign * 0.7, 0.0, 0.7]) / np.sqrt(0.98)
            else:
                step = np.array([sign, 0.0, 0.0])
            for k, length in enumerate(_PHALANX[finger]):
                offsets[j1 + 1 + k] = step * length
    return offsets


REST_OFFSETS_ALL: np.ndarray = _rest_offsets()
"""(52, 3) rest offsets in metres; row 0 is the pelvis position in the rest pose."""
REST_OFFSETS: np.ndarray = REST_OFFSETS_ALL[:NUM_BODY_JOINTS].copy()
"""(22, 3) body rest offsets in metres; row 0 is the pelvis position in the rest pose."""

LEFT_RIGHT_BODY: tuple[int, ...] = tuple(
    BODY_JOINTS.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_"))
    for n in BODY_JOINTS
)
"""For each body joint, the index of its mirror twin (itself for centre joints)."""


@dataclass(frozen=True)
class Skeleton:
    """A named joint hierarchy with rest offsets (metres, parent-relative, identity rest rotations)."""

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray

    def index(self, joint: str) -> int:
        return self.joints.index(joint)

    def rest_positions(self) -> np.ndarray:
        """World positions (J, 3) of the joints in the rest pose."""
        pos = np.zeros((len(self.joints), 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] if p < 0 else pos[p] + self.offsets[j]
        return pos

    def to_wire(self) -> dict:
        """The `skeleton` object of the protocol's hello message."""
        return {
            "name": self.name,
            "joints": list(self.joints),
            "parents": list(self.parents),
            "rest": [[round(float(v), 6) for v in row] for row in self.offsets],
        }


SMPLH_BODY = Skeleton(SKELETON_NAME, BODY_JOINTS, BODY_PARENTS, REST_OFFSETS)
SMPLH_FULL = Skeleton("smplh52", ALL_JOINTS, ALL_PARENTS, REST_OFFSETS_ALL)
