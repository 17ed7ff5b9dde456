"""Upstream HY-Motion's post-processing of decoded clips, each step switchable, in plain numpy.

1. Gaussian smoothing of joint rotations (sigma 1 frame, radius 4, edges repeated; `engine.post.smoothing`):
   every output quaternion is the weighted Markley average (principal eigenvector of Σ w q qᵀ) of its
   neighbours, so it is sign-safe.
2. Savitzky–Golay filtering of the root translation (window 11, order 5; the ends are fitted with one
   polynomial over the first/last window, as scipy's default "interp" mode does).
3. Ground lift: the whole clip moves up or down so its lowest joint sits at the skeleton's rest-pose sole
   clearance (upstream lifts its body mesh to y = 0; we have joints, whose lowest rest height is that
   clearance).

The defaults are upstream's, for HY-Motion. A model can carry its own settings (an embedded model file
stores them): our small embedded model's feet slide far more than mocap's, so after upstream's steps it locks
planted feet (`engine.post.footlock`), a step upstream does not have. A Gaussian on the root instead of
Savitzky–Golay (`translation_sigma`) is there for models noisier still.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from engine.core import rotations as R
from engine.core.skeleton import SMPLH_BODY, Skeleton
from engine.post.footlock import lock_feet
from engine.post.smoothing import gaussian_smooth, savgol_filter, smooth_quaternions


@dataclass(frozen=True)
class PostProcess:
    """Which upstream post-processing steps run on a decoded clip."""

    smooth_rotations: bool = True
    smooth_translation: bool = True
    lift_to_ground: bool = True
    sigma: float = 1.0
    savgol_window: int = 11
    savgol_order: int = 5
    translation_sigma: float = 0.0
    """When > 0, the root is smoothed by a Gaussian of this sigma (frames) instead of Savitzky–Golay."""
    foot_lock: bool = False
    """Hold planted feet in place with leg IK (`engine.post.footlock`), after the ground lift."""

    @classmethod
    def none(cls) -> PostProcess:
        return cls(False, False, False)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> PostProcess:
        """Settings from a model file; unknown names are an error, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown post-processing settings {unknown}; known: {sorted(known)}")
        return cls(**values)


def lift_to_ground(root: np.ndarray, rotations: np.ndarray, skeleton: Skeleton = SMPLH_BODY) -> np.ndarray:
    """Root (L, 3) shifted in y so the clip's lowest joint is at the rest pose's lowest joint height."""
    positions, _ = R.forward_kinematics(
        np.asarray(rotations, dtype=np.float64), np.asarray(root, dtype=np.float64), skeleton.offsets, skeleton.parents
    )
    clearance = float(skeleton.rest_positions()[:, 1].min())
    lifted = np.array(root, dtype=np.float64, copy=True)
    lifted[:, 1] += clearance - float(positions[..., 1].min())
    return lifted


def apply(
    root: np.ndarray, rotations: np.ndarray, settings: PostProcess, skeleton: Skeleton = SMPLH_BODY
) -> tuple[np.ndarray, np.ndarray]:
    """Run the enabled steps on root (L, 3) and local quaternions (L, J, 4); returns float32 arrays."""
    root = np.asarray(root, dtype=np.float64)
    rotations = np.asarray(rotations, dtype=np.float64)
    if settings.smooth_rotations:
        rotations = smooth_quaternions(rotations, settings.sigma)
    if settings.smooth_translation:
        if settings.translation_sigma > 0:
            root = gaussian_smooth(root, settings.translation_sigma)
        else:
            root = savgol_filter(root, settings.savgol_window, settings.savgol_order)
    if settings.lift_to_ground:
        root = lift_to_ground(root, rotations, skeleton)
    if settings.foot_lock:
        rotations = lock_feet(root, rotations, skeleton=skeleton)
    return root.astype(np.float32), rotations.astype(np.float32)
