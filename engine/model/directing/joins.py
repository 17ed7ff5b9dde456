"""Joins between known and generated frames: inertialization (a decaying offset, as in game animation).

Where a window's first generated frame follows its known frames (the end of a start motion, the overlap of
a timeline's previous segment), the generated frames get an offset that makes position, velocity and
acceleration continue the known frames' at the join and fades out with a quintic over `blend` frames (zero
offset, velocity and acceleration at its end). The root's offset is a translation; each joint's is a
rotation vector applied on the parent side (exp(o) ⊗ q), from the joints' angular velocity and acceleration
per frame, so rotations never leave the rotation group (offsets added to 6D features do, and flip).
`settle` then low-passes the first frames after a join, which inertialization leaves as the network made them.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.core import rotations as R
from engine.model.representation import decode_features, encode_features
from engine.post.smoothing import gaussian_kernel, gaussian_smooth, smooth_quaternions

SETTLE_SIGMA = 1.0
"""Gaussian σ (frames) of the low-pass over a join (`settle`)."""
SETTLE_FRAMES = 10
"""Frames after a join the low-pass reaches: fully the first half, fading out over the second."""
SETTLE_CONTEXT = 12
"""Frames before the join the low-pass reads (it does not change them)."""
JOIN_BLEND = 10
"""Frames over which a join's offset fades (1/3 s at 30 fps; 6, 8, 10, 15 and 25 were measured, docs/directing.md)."""


def quintic_basis(length: int) -> np.ndarray:
    """(length, 3): the offset curve for a unit initial offset, velocity and acceleration (per frame), each
    reaching zero offset, velocity and acceleration at frame `length`."""
    n = float(length)
    end = np.array([[n**3, n**4, n**5], [3 * n**2, 4 * n**3, 5 * n**4], [6 * n, 12 * n**2, 20 * n**3]])
    head = np.array([[1.0, n, n**2 / 2], [0.0, 1.0, n], [0.0, 0.0, 1.0]])
    high_coeffs = np.linalg.solve(end, -head)
    frames = np.arange(length, dtype=np.float64)
    low = np.stack([np.ones(length), frames, frames**2 / 2], axis=1)
    high = np.stack([frames**3, frames**4, frames**5], axis=1)
    return low + high @ high_coeffs


def _log(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation vector of a ⊗ b⁻¹ (the shortest way)."""
    d = R.quat_mul(a, R.quat_conjugate(b))
    return R.quat_to_axis_angle(np.where(d[..., 3:] < 0, -d, d))


FIT_FRAMES = 6
"""Frames each side of a join that a quadratic is fitted to for value, velocity and acceleration: single
frame differences of a network's raw output are too noisy to differentiate twice."""


def _fit(values: np.ndarray, at: float) -> np.ndarray:
    """Least-squares quadratic through (n, ...) values at frames 0 … n−1 → value, velocity and acceleration
    (per frame) at frame `at`, stacked (3, ...)."""
    n = values.shape[0]
    frames = np.arange(n, dtype=np.float64) - at
    degree = min(2, n - 1)
    vander = frames[:, None] ** np.arange(degree + 1)[None]
    coeffs = np.linalg.lstsq(vander, values.reshape(n, -1), rcond=None)[0]
    out = np.zeros((3, coeffs.shape[1]))
    out[: degree + 1] = coeffs * np.array([1.0, 1.0, 2.0])[: degree + 1, None]
    return out.reshape((3,) + values.shape[1:])


def inertialize(features: torch.Tensor, join: int, first_known: int, blend: int = JOIN_BLEND) -> None:
    """Offset frames join … join + blend − 1 of denormalised features (T, 201) in place so that they continue
    the known frames first_known … join − 1 with matching position, velocity and acceleration."""
    known = min(join - first_known, FIT_FRAMES)
    blend = min(blend, features.shape[0] - join)
    if known < 1 or blend < 3:
        return
    f = features.detach().cpu().double()
    root_t, quats_t = decode_features(f)
    root, q = root_t.numpy().copy(), quats_t.numpy().copy()
    ahead = min(FIT_FRAMES, features.shape[0] - join)
    before, after = slice(join - known, join), slice(join, join + ahead)
    # Known side extrapolated one frame on, generated side at its first frame (rotations as vectors about
    # the last known pose and the first generated pose).
    k_root, g_root = _fit(root[before], known), _fit(root[after], 0)
    k_rot = _fit(_log(q[before], q[join - 1][None]), known)
    g_rot = _fit(_log(q[after], q[join][None]), 0)
    if known < 3:
        k_root[2], k_rot[2] = 0.0, 0.0
    if known < 2:
        k_root[1:], k_rot[1:] = g_root[1:], g_rot[1:]
    root_terms = k_root - g_root
    extrapolated = R.quat_mul(R.axis_angle_to_quat(k_rot[0]), q[join - 1])
    rot_terms = np.concatenate([_log(extrapolated, q[join])[None], k_rot[1:] - g_rot[1:]])
    basis = quintic_basis(blend)
    span = slice(join, join + blend)
    root[span] += basis @ root_terms
    offsets = np.einsum("lt,tjc->ljc", basis, rot_terms)
    q[span] = R.quat_mul(R.axis_angle_to_quat(offsets), q[span])
    features[span] = encode_features(root[span], q[span]).to(features.device, features.dtype)


def settle(context: tuple[np.ndarray, np.ndarray], root: np.ndarray,
           rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first frames after a join low-passed together with the frames before it (Gaussian, σ = `SETTLE_SIGMA`),
    fully for the first half of `SETTLE_FRAMES` and fading out over the second; the frames before stay as they are.

    The network's first free frames after known ones can snap a limb (a wrist 12 m/s faster in one frame)
    that `inertialize` does not remove. Measured on live mode's validation prompts (10 steps, 27 joins,
    docs/live.md): joins over the data's 99th percentile of velocity jumps 9 → 6, worst 14.1 → 8.8 m/s, foot
    skating 0.23 → 0.29 m/s; σ 1.5 took the joins to 3 but the skating to 0.36, over 1.5× the data's 0.20."""
    ctx_root, ctx_rot = (np.asarray(a, np.float64) for a in context)
    n, h = root.shape[0], min(ctx_root.shape[0], SETTLE_CONTEXT)
    if n == 0 or h == 0:
        return root, rotations
    half = SETTLE_FRAMES / 2
    weight = np.clip(2.0 - np.arange(n) / half, 0.0, 1.0)
    k = int(np.count_nonzero(weight))  # later frames are returned untouched
    # Only the first k frames are eased: smooth just them and the kernel's reach past them (the same values as
    # smoothing the whole clip; a quaternion average is an eigen-decomposition per frame and joint).
    end = h + k + len(gaussian_kernel(SETTLE_SIGMA)) // 2
    both_root = np.concatenate([ctx_root[ctx_root.shape[0] - h:], root])[:end]
    both_rot = np.concatenate([ctx_rot[ctx_rot.shape[0] - h:], rotations])[:end]
    smooth_root = gaussian_smooth(both_root, SETTLE_SIGMA)[h : h + k]
    smooth_rot = smooth_quaternions(both_rot, SETTLE_SIGMA)[h : h + k]
    smooth_rot = np.where((smooth_rot * rotations[:k]).sum(-1, keepdims=True) < 0, -smooth_rot, smooth_rot)
    out_root, out_rot = root.copy(), rotations.copy()
    out_root[:k] += weight[:k, None] * (smooth_root[:k] - root[:k])
    eased = rotations[:k] + weight[:k, None, None] * (smooth_rot[:k] - rotations[:k])
    out_rot[:k] = eased / np.linalg.norm(eased, axis=-1, keepdims=True)
    return out_root, out_rot
