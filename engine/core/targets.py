"""Wire targets: the coordinate conventions and joint names of `root` and `rotations` per protocol target.

| target | handedness, up, forward        | units       | joint names                         |
|--------|--------------------------------|-------------|-------------------------------------|
| smplh  | right-handed, Y up, faces +Z   | metres      | SMPL-H body names                   |
| unity  | left-handed, Y up, faces +Z    | metres      | Unity HumanBodyBones names          |
| unreal | left-handed, Z up, faces +X    | centimetres | UE5 Mannequin bone names            |

A target is a change of basis M (3×3, det −1 for the left-handed ones) plus a scale:
positions p' = scale · M p; rotations R' = M R Mᵀ, which for a quaternion means axis' = det(M) · M · axis
with the angle unchanged. Because every rest rotation of the source skeleton is the identity and all
joint frames are aligned with the world at rest, converting local rotations this way is exact.

Unreal mapping chosen (source +X is the character's left, +Y up, +Z forward):
UE X (forward) = source Z, UE Y (right) = −source X, UE Z (up) = source Y; metres × 100.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.core.skeleton import BODY_JOINTS

UNITY_BONES: tuple[str, ...] = (
    "Hips", "LeftUpperLeg", "RightUpperLeg", "Spine", "LeftLowerLeg", "RightLowerLeg", "Chest",
    "LeftFoot", "RightFoot", "UpperChest", "LeftToes", "RightToes", "Neck", "LeftShoulder",
    "RightShoulder", "Head", "LeftUpperArm", "RightUpperArm", "LeftLowerArm", "RightLowerArm",
    "LeftHand", "RightHand",
)
UNREAL_BONES: tuple[str, ...] = (
    "pelvis", "thigh_l", "thigh_r", "spine_01", "calf_l", "calf_r", "spine_03", "foot_l", "foot_r",
    "spine_05", "ball_l", "ball_r", "neck_01", "clavicle_l", "clavicle_r", "head", "upperarm_l",
    "upperarm_r", "lowerarm_l", "lowerarm_r", "hand_l", "hand_r",
)


@dataclass(frozen=True)
class Target:
    """A wire target: joint names in source order, basis change and position scale."""

    name: str
    joints: tuple[str, ...]
    basis: np.ndarray  # M, 3×3, maps source vectors to target vectors
    scale: float  # metres → target units
    handedness: str
    up: str
    forward: str
    units: str
    _det: float = field(init=False, repr=False, compare=False)
    _axes: np.ndarray = field(init=False, repr=False, compare=False)
    _signs: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Every target's basis is a signed permutation (axes swapped and flipped), so a rotation's axis converts
        # by picking and negating components: exact (the float64 matrix product it replaced gave the same
        # values) and several times cheaper; it runs for every motion message.
        # Target component i = _signs[i] · source component _axes[i].
        m = np.asarray(self.basis, dtype=np.float64)
        axes = np.argmax(np.abs(m), axis=1)
        if not np.array_equal(np.abs(m), np.eye(3)[axes]) or sorted(axes) != [0, 1, 2]:
            raise ValueError(f"target {self.name}: the basis must be a signed permutation, got {m.tolist()}")
        det = float(round(np.linalg.det(m)))
        object.__setattr__(self, "_det", det)
        object.__setattr__(self, "_axes", axes)
        object.__setattr__(self, "_signs", (det * m[np.arange(3), axes]).astype(np.float32))

    @property
    def det(self) -> float:
        return self._det

    def convert_positions(self, p: np.ndarray) -> np.ndarray:
        """(..., 3) source positions (metres) → target positions (target units), float32."""
        return (self.scale * (np.asarray(p, dtype=np.float64) @ self.basis.T)).astype(np.float32)

    def convert_rotations(self, q: np.ndarray) -> np.ndarray:
        """(..., 4) source quaternions (x, y, z, w) → the same rotations expressed in the target basis."""
        q = np.asarray(q, dtype=np.float32)
        out = np.empty(q.shape, dtype=np.float32)
        for i, (axis, sign) in enumerate(zip(self._axes, self._signs, strict=True)):
            # (np.negative with a strided float32 `out` gives wrong values in numpy 2.4.6; multiply does not.)
            np.multiply(q[..., axis], sign, out=out[..., i])
        out[..., 3] = q[..., 3]
        return out

    def positions_to_source(self, p: np.ndarray) -> np.ndarray:
        """The inverse of `convert_positions`: (..., 3) target positions → source positions (metres), float64."""
        return (np.asarray(p, dtype=np.float64) / self.scale) @ self.basis

    def rotations_to_source(self, q: np.ndarray) -> np.ndarray:
        """The inverse of `convert_rotations`: (..., 4) target quaternions → source quaternions, float64."""
        q = np.asarray(q, dtype=np.float64)
        axis = self.det * (q[..., :3] @ self.basis)
        return np.concatenate([axis, q[..., 3:]], axis=-1)

    def heading_to_source(self, facing: float) -> float:
        """A heading about the target's up axis (radians, 0 = the target's forward) → the source heading about
        +Y (0 = +Z, +π/2 = +X): a rotation about an axis converts as the axis does, times det(M)."""
        up = {"+X": (1.0, 0.0, 0.0), "+Y": (0.0, 1.0, 0.0), "+Z": (0.0, 0.0, 1.0)}[self.up]
        axis = self.det * (np.asarray(up) @ self.basis)
        return float(facing) * float(axis[1])

    def joint_index(self, name: str) -> int:
        """The source (`BODY_JOINTS`) index of one of this target's joint names; ValueError if unknown."""
        return self.joints.index(name)

    def describe(self) -> dict:
        """The conventions as a JSON-able dict (for hello messages and docs)."""
        return {
            "name": self.name,
            "joints": list(self.joints),
            "handedness": self.handedness,
            "up": self.up,
            "forward": self.forward,
            "units": self.units,
        }


TARGETS: dict[str, Target] = {
    "smplh": Target("smplh", BODY_JOINTS, np.eye(3), 1.0, "right", "+Y", "+Z", "m"),
    "unity": Target("unity", UNITY_BONES, np.diag([-1.0, 1.0, 1.0]), 1.0, "left", "+Y", "+Z", "m"),
    "unreal": Target(
        "unreal",
        UNREAL_BONES,
        np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
        100.0,
        "left",
        "+Z",
        "+X",
        "cm",
    ),
}


class UnknownTarget(ValueError):
    """The requested target name is not one of TARGETS."""


EXPORT_TARGETS: tuple[str, ...] = (*TARGETS, "mixamo")
"""Rigs a file export or download can be retargeted to: the wire targets and Mixamo
(`engine.retarget.rigs.RIG_BUILDERS`, in this order)."""


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise UnknownTarget(f"unknown target {name!r}: use one of {', '.join(TARGETS)}") from None


def to_target(root: np.ndarray, rotations: np.ndarray, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert source root (L, 3) and local rotations (L, 22, 4) to a wire target's convention."""
    t = get_target(target)
    return t.convert_positions(root), t.convert_rotations(rotations)


def from_target(root: np.ndarray, rotations: np.ndarray, target: str) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of `to_target`: a wire target's root (L, 3) and rotations (L, 22, 4) → the source convention
    (float64). `to_target(*from_target(r, q, t), t)` gives back float32 `r, q` exactly."""
    t = get_target(target)
    return t.positions_to_source(root), t.rotations_to_source(rotations)
