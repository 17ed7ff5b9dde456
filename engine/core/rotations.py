"""Rotation math: the one place that owns quaternion order, the 6D layout and forward kinematics.

Conventions (stated once, imported everywhere):
- quaternions are (x, y, z, w), Hamilton product, active rotations (`quat_apply(q, v)` rotates v);
- rotation matrices act on column vectors: v' = R v; composing parent then child is R_parent @ R_child;
- upstream HY-Motion 6D is the first two columns of R written as a 3×2 matrix in row-major order:
  (a0, a1, a2, a3, a4, a5) = (R00, R01, R10, R11, R20, R21), so column 1 = (a0, a2, a4) and
  column 2 = (a1, a3, a5). This is *not* the "two contiguous columns" layout used by other codebases;
- Euler angles (BVH) are in radians here and applied in the listed order: "ZXY" means R = Rz · Rx · Ry.

Numpy only (no torch): every function takes numpy arrays, computes in float64 and returns the dtype of its
first array argument. The network's tensors have a twin for the few functions they need on the device and
through autograd, `engine.model.tensor_rotations` (a test keeps the two in agreement).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

F = TypeVar("F", bound=Callable[..., Any])
Array = NDArray[np.floating]


def _float64(fn: F) -> F:
    """Run `fn` in float64; the result comes back in the dtype of the first array argument."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        dtype = None
        conv = []
        for a in args:
            if isinstance(a, np.ndarray):
                dtype = dtype or a.dtype
                a = np.asarray(a, dtype=np.float64)
            conv.append(a)
        out = fn(*conv, **kwargs)
        if dtype is None:
            return out
        if isinstance(out, tuple):
            return tuple(o.astype(dtype, copy=False) for o in out)
        return out.astype(dtype, copy=False)

    return wrapper  # type: ignore[return-value]


def _norm(x: Array) -> Array:
    return np.sqrt((x * x).sum(-1, keepdims=True))


def cross(a: Array, b: Array) -> Array:
    """np.cross over the last axis (the same values, bit for bit) without its per-call overhead: 8 against 20 µs
    for 65 vectors, and `quat_apply` runs ~80 times in each live chunk's clean-up."""
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], axis=-1)


# ---------------------------------------------------------------- quaternions (x, y, z, w)


@_float64
def quat_identity_like(q: Array) -> Array:
    out = np.zeros_like(q)
    out[..., 3] = 1.0
    return out


@_float64
def quat_normalize(q: Array) -> Array:
    return q / np.maximum(_norm(q), 1e-12)


@_float64
def quat_conjugate(q: Array) -> Array:
    return np.concatenate([-q[..., :3], q[..., 3:]], axis=-1)


@_float64
def quat_mul(a: Array, b: Array) -> Array:
    """Hamilton product a ⊗ b (apply b first, then a)."""
    # Components by indexing, not np.moveaxis (~12 µs a call): forward kinematics multiplies per joint.
    ax, ay, az, aw = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bx, by, bz, bw = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


@_float64
def quat_apply(q: Array, v: Array) -> Array:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    u = q[..., :3]
    w = q[..., 3:]
    t = 2.0 * cross(u, v)
    return v + w * t + cross(u, t)


@_float64
def quat_to_matrix(q: Array) -> Array:
    q = quat_normalize(q)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )
    return m.reshape(q.shape[:-1] + (3, 3))


@_float64
def matrix_to_quat(m: Array) -> Array:
    """Rotation matrices (..., 3, 3) to unit quaternions with w ≥ 0 (at a half turn: the first non-zero of x, y, z
    positive); numerically stable branch choice."""
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # Four candidate solutions, each well conditioned when its leading component is the largest.
    cands = np.stack(
        [
            np.stack([1 + m00 - m11 - m22, m01 + m10, m02 + m20, m21 - m12], -1),
            np.stack([m01 + m10, 1 - m00 + m11 - m22, m12 + m21, m02 - m20], -1),
            np.stack([m02 + m20, m12 + m21, 1 - m00 - m11 + m22, m10 - m01], -1),
            np.stack([m21 - m12, m02 - m20, m10 - m01, 1 + m00 + m11 + m22], -1),
        ],
        axis=-2,
    )
    diag = np.stack([m00 - m11 - m22, -m00 + m11 - m22, -m00 - m11 + m22, m00 + m11 + m22], -1)
    best = diag.argmax(axis=-1)[..., None, None]
    q: Array = quat_normalize(np.take_along_axis(cands, best, axis=-2)[..., 0, :])
    # One sign per rotation: w > 0. At a half turn w is rounding noise whose sign differs between builds, so
    # there the first clearly non-zero of x, y, z decides instead.
    tol = np.finfo(q.dtype).eps ** 0.5
    key = q[..., 3]
    for axis in (2, 1, 0):  # x last, so it wins over y and z
        key = np.where(np.abs(q[..., axis]) > tol, q[..., axis], key)
    key = np.where(np.abs(q[..., 3]) > tol, q[..., 3], key)
    return np.where(key[..., None] < 0, -q, q)


@_float64
def axis_angle_to_quat(aa: Array) -> Array:
    angle = _norm(aa)
    half = 0.5 * angle
    # sin(θ/2)/θ, with its series near zero so tiny rotations stay exact.
    small = angle < 1e-6
    scale = np.where(small, 0.5 - angle * angle / 48.0, np.sin(half) / np.maximum(angle, 1e-12))
    return np.concatenate([aa * scale, np.cos(half)], axis=-1)


@_float64
def quat_to_axis_angle(q: Array) -> Array:
    q = quat_normalize(q)
    q = np.where(q[..., 3:] < 0, -q, q)
    xyz = q[..., :3]
    sin_half = _norm(xyz)
    angle = 2.0 * np.arctan2(sin_half, q[..., 3:])
    small = sin_half < 1e-6
    scale = np.where(small, 2.0 + angle * angle / 12.0, angle / np.maximum(sin_half, 1e-12))
    return xyz * scale


@_float64
def axis_angle_to_matrix(aa: Array) -> Array:
    return quat_to_matrix(axis_angle_to_quat(aa))


@_float64
def matrix_to_axis_angle(m: Array) -> Array:
    return quat_to_axis_angle(matrix_to_quat(m))


@_float64
def quat_slerp(a: Array, b: Array, t: ArrayLike) -> Array:
    """Spherical interpolation along the shorter arc; t broadcasts against the quaternions' batch shape."""
    t = np.asarray(t, dtype=np.float64)
    if t.ndim < a.ndim:
        t = t.reshape(t.shape + (1,) * (a.ndim - t.ndim))
    dot = (a * b).sum(-1, keepdims=True)
    b = np.where(dot < 0, -b, b)
    dot = np.minimum(np.abs(dot), 1.0)
    theta = np.arccos(dot)
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6
    safe = np.maximum(sin_theta, 1e-12)
    wa = np.where(near, 1 - t, np.sin((1 - t) * theta) / safe)
    wb = np.where(near, t, np.sin(t * theta) / safe)
    return quat_normalize(wa * a + wb * b)


@_float64
def quat_make_continuous(q: Array, dim: int = 0) -> Array:
    """Flip signs along `dim` (time) so consecutive quaternions lie in the same hemisphere.

    Frame i is flipped when its dot product with the (possibly flipped) frame i−1 is negative. Flipping
    frame i−1 negates that dot product, so frame i's sign is the product of the signs of the raw dot products
    back to the last frame that kept its sign unconditionally (the first frame, or one whose raw dot product
    is zero or NaN, which never flips): a parity of negative dot products since then, with no loop over time.
    """
    q = np.moveaxis(q, dim, 0)
    if q.shape[0] < 2:
        return np.moveaxis(q.copy(), 0, dim)
    dots = (q[1:] * q[:-1]).sum(-1, keepdims=True)
    negative = np.concatenate([np.zeros_like(dots[:1], dtype=np.int64), (dots < 0).astype(np.int64)]).cumsum(0)
    frame = np.arange(q.shape[0]).reshape(-1, *([1] * (q.ndim - 1)))
    keeps = np.concatenate([np.ones_like(dots[:1], dtype=bool), ~((dots < 0) | (dots > 0))])
    last_keep = np.maximum.accumulate(np.where(keeps, frame, 0), axis=0)
    flip = (negative - np.take_along_axis(negative, last_keep, axis=0)) % 2 == 1
    return np.moveaxis(np.where(flip, -q, q), 0, dim)


@_float64
def quat_from_yaw(angle: Array) -> Array:
    """Rotation by `angle` radians about +Y (counter-clockwise seen from above, +Z turns toward +X)."""
    half = 0.5 * angle
    zero = np.zeros_like(angle)
    return np.stack([zero, np.sin(half), zero, np.cos(half)], axis=-1)


@_float64
def quat_yaw(q: Array) -> Array:
    """Heading angle about +Y of the rotated +Z axis (0 = facing +Z, +π/2 = facing +X)."""
    fwd = quat_apply(q, np.broadcast_to(np.array([0.0, 0.0, 1.0]), q.shape[:-1] + (3,)))
    return np.arctan2(fwd[..., 0], fwd[..., 2])


def quat_between(a: Array, b: Array, fallback_axis: Array | None = None) -> Array:
    """The shortest-arc rotation taking directions a onto directions b (..., 3 each), as unit quaternions.

    Where a and b are parallel or opposite their cross product defines no axis: the rotation is then about
    `fallback_axis` (a unit vector, e.g. a knee's bend axis) or, without one, about an axis perpendicular
    to a (a × X, or a × Y when a lies along X) — a half turn for opposite directions, none for equal ones.
    Computed in the inputs' dtype.
    """
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = cross(a, b)
    norm = np.linalg.norm(axis, axis=-1, keepdims=True)
    if fallback_axis is None:
        reference = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        perpendicular = cross(a, np.broadcast_to(reference, a.shape))
        fallback_axis = perpendicular / np.linalg.norm(perpendicular, axis=-1, keepdims=True)
    axis = np.where(norm > 1e-9, axis / np.maximum(norm, 1e-12), fallback_axis)
    angle = np.arctan2(norm[..., 0], (a * b).sum(-1))
    return axis_angle_to_quat(axis * angle[..., None])


# ---------------------------------------------------------------- HY-Motion 6D (row-major 3×2)


@_float64
def rot6d_to_matrix(d6: Array) -> Array:
    """Upstream 6D (..., 6) → rotation matrices (..., 3, 3) by Gram–Schmidt on the two stored columns."""
    m = d6.reshape(d6.shape[:-1] + (3, 2))
    c1, c2 = m[..., 0], m[..., 1]
    b1 = c1 / np.maximum(_norm(c1), 1e-8)
    c2 = c2 - (b1 * c2).sum(-1, keepdims=True) * b1
    b2 = c2 / np.maximum(_norm(c2), 1e-8)
    b3 = cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


@_float64
def matrix_to_rot6d(m: Array) -> Array:
    return m[..., :, :2].reshape(m.shape[:-2] + (6,))


@_float64
def rot6d_to_quat(d6: Array) -> Array:
    return matrix_to_quat(rot6d_to_matrix(d6))


@_float64
def quat_to_rot6d(q: Array) -> Array:
    return matrix_to_rot6d(quat_to_matrix(q))


# ---------------------------------------------------------------- Euler (BVH)


_AXES = {"X": 0, "Y": 1, "Z": 2}


@_float64
def euler_to_quat(angles: Array, order: str) -> Array:
    """Angles (..., 3) in radians, one per letter of `order`, composed as R = R[order0] · R[order1] · R[order2]."""
    out = None
    for k, axis in enumerate(order.upper()):
        half = 0.5 * angles[..., k]
        comps = [np.zeros_like(half)] * 3 + [np.cos(half)]
        comps[_AXES[axis]] = np.sin(half)
        q = np.stack(comps, axis=-1)
        out = q if out is None else quat_mul(out, q)
    assert out is not None
    return out


@_float64
def quat_to_euler(q: Array, order: str) -> Array:
    """Inverse of `euler_to_quat` for Tait–Bryan orders (three distinct axes); radians."""
    m = quat_to_matrix(q)
    i, j, k = (_AXES[a] for a in order.upper())
    # R = Ri(a) Rj(b) Rk(c); the parity sign makes the formula hold for every permutation.
    sign = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    b = np.arcsin(np.clip(sign * m[..., i, k], -1.0, 1.0))
    a = np.arctan2(-sign * m[..., j, k], m[..., k, k])
    c = np.arctan2(-sign * m[..., i, j], m[..., i, i])
    return np.stack([a, b, c], axis=-1)


# ---------------------------------------------------------------- kinematics


@_float64
def forward_kinematics(
    local_quats: Array,
    root: Array,
    offsets: Array,
    parents: Sequence[int],
) -> tuple[Array, Array]:
    """World joint positions (..., J, 3) and world rotations (..., J, 4).

    `local_quats` (..., J, 4) are local rotations relative to a rest pose with identity rest rotations;
    `root` (..., 3) is the root joint's world position; `offsets` (J, 3) are parent-relative rest offsets
    (the root's own offset is ignored: `root` is absolute).
    """
    world_rot: list[Array] = []
    world_pos: list[Array] = []
    for j, p in enumerate(parents):
        if p < 0:
            world_rot.append(local_quats[..., j, :])
            world_pos.append(root)
        else:
            world_rot.append(quat_mul(world_rot[p], local_quats[..., j, :]))
            world_pos.append(world_pos[p] + quat_apply(world_rot[p], np.broadcast_to(offsets[j], root.shape)))
    return np.stack(world_pos, axis=-2), np.stack(world_rot, axis=-2)


def local_from_world(world_quats: Array, parents: Sequence[int]) -> Array:
    """Local rotations (..., J, 4) from world rotations: local_j = inverse(world_parent) ⊗ world_j."""
    local = world_quats.copy()
    for j, p in enumerate(parents):
        if p >= 0:
            local[..., j, :] = quat_mul(quat_conjugate(world_quats[..., p, :]), world_quats[..., j, :])
    return local
