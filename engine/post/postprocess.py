"""Upstream HY-Motion's post-processing of decoded clips, each step switchable, in plain numpy.

1. Gaussian smoothing of joint rotations (sigma 1 frame, radius 4, edges repeated): every output quaternion is
   the weighted Markley average (principal eigenvector of Σ w q qᵀ) of its neighbours, so it is sign-safe.
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


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalised 1-d Gaussian weights over offsets -r..r with r = int(truncate·sigma + 0.5)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _neighbours(frames: int, radius: int) -> np.ndarray:
    """(frames, 2·radius + 1) indices of each frame's neighbours, the ends repeated."""
    return np.clip(np.arange(frames)[:, None] + np.arange(-radius, radius + 1)[None, :], 0, frames - 1)


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of (L, C) along axis 0 with the ends repeated (float64)."""
    x = np.asarray(x, dtype=np.float64)
    if sigma <= 0 or x.shape[0] < 2:
        return x.copy()
    weights = gaussian_kernel(sigma)
    return np.einsum("k,lkc->lc", weights, x[_neighbours(x.shape[0], len(weights) // 2)])


def smooth_quaternions(quats: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Gaussian-smooth (L, J, 4) quaternions along time; returns float64 unit quaternions, signs kept near input."""
    q = np.asarray(quats, dtype=np.float64)
    if sigma <= 0 or q.shape[0] < 2:
        return q.copy()
    weights = gaussian_kernel(sigma)
    window = q[_neighbours(q.shape[0], len(weights) // 2)]  # (L, K, J, 4)
    centre = q[:, None]
    window = np.where((window * centre).sum(-1, keepdims=True) < 0, -window, window)
    acc = np.einsum("k,lkji,lkjm->ljim", weights, window, window)
    _, vecs = np.linalg.eigh(acc)
    avg = vecs[..., -1]
    avg = np.where((avg * q).sum(-1, keepdims=True) < 0, -avg, avg)
    return avg / np.linalg.norm(avg, axis=-1, keepdims=True)


def savgol_coefficients(window: int, order: int) -> np.ndarray:
    """Least-squares polynomial fit operator: row d gives the d-th polynomial coefficient from a window."""
    offsets = np.arange(window, dtype=np.float64) - window // 2
    vander = offsets[:, None] ** np.arange(order + 1)[None, :]
    return np.linalg.pinv(vander)


def savgol_filter(x: np.ndarray, window: int = 11, order: int = 5) -> np.ndarray:
    """Savitzky–Golay smoothing of (L, C) along axis 0 (float64). Short clips use the largest odd window that
    fits; clips no longer than `order` come back unchanged."""
    x = np.asarray(x, dtype=np.float64)
    frames = x.shape[0]
    if window > frames:
        window = frames if frames % 2 else frames - 1
    if window <= order:
        return x.copy()
    half = window // 2
    fit = savgol_coefficients(window, order)
    out = np.empty_like(x)
    # Interior: the fitted polynomial's value at the window centre is coefficient 0.
    idx = np.arange(half, frames - half)[:, None] + np.arange(-half, half + 1)[None, :]
    out[half : frames - half] = np.einsum("w,lwc->lc", fit[0], x[idx])
    # Ends: one polynomial fitted to the first (last) window, evaluated at the frames it covers.
    offsets = np.arange(window, dtype=np.float64) - half
    vander = offsets[:, None] ** np.arange(order + 1)[None, :]
    head = vander @ (fit @ x[:window])
    tail = vander @ (fit @ x[frames - window :])
    out[:half] = head[:half]
    out[frames - half :] = tail[window - half :]
    return out


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
        from engine.post.footlock import lock_feet  # footlock uses this module's smoothing: imported here, when needed

        rotations = lock_feet(root, rotations, skeleton=skeleton)
    return root.astype(np.float32), rotations.astype(np.float32)
