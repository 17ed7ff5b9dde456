"""Rotation math: the one place that owns quaternion order, the 6D layout and forward kinematics.

Conventions (stated once, imported everywhere):
- quaternions are (x, y, z, w), Hamilton product, active rotations (`quat_apply(q, v)` rotates v);
- rotation matrices act on column vectors: v' = R v; composing parent then child is R_parent @ R_child;
- upstream HY-Motion 6D is the first two columns of R written as a 3×2 matrix in row-major order:
  (a0, a1, a2, a3, a4, a5) = (R00, R01, R10, R11, R20, R21), so column 1 = (a0, a2, a4) and
  column 2 = (a1, a3, a5). This is *not* the "two contiguous columns" layout used by other codebases;
- Euler angles (BVH) are in radians here and applied in the listed order: "ZXY" means R = Rz · Rx · Ry.

Every function takes torch tensors or numpy arrays (returned as the same kind and dtype); numpy inputs
are computed in float64.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

F = TypeVar("F", bound=Callable[..., Any])


def _accepts_numpy(fn: F) -> F:
    """Run `fn` in torch; numpy arguments go in as float64 tensors and results come back as numpy."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        numpy_dtype = None
        conv_args = []
        for a in args:
            if isinstance(a, np.ndarray):
                numpy_dtype = numpy_dtype or a.dtype
                a = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))
            conv_args.append(a)
        out = fn(*conv_args, **kwargs)
        if numpy_dtype is None:
            return out
        if isinstance(out, tuple):
            return tuple(o.numpy().astype(numpy_dtype, copy=False) for o in out)
        return out.numpy().astype(numpy_dtype, copy=False)

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------- quaternions (x, y, z, w)


@_accepts_numpy
def quat_identity_like(q: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(q)
    out[..., 3] = 1.0
    return out


@_accepts_numpy
def quat_normalize(q: torch.Tensor) -> torch.Tensor:
    return q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)


@_accepts_numpy
def quat_conjugate(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([-q[..., :3], q[..., 3:]], dim=-1)


@_accepts_numpy
def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a ⊗ b (apply b first, then a)."""
    ax, ay, az, aw = a.unbind(-1)
    bx, by, bz, bw = b.unbind(-1)
    return torch.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        dim=-1,
    )


@_accepts_numpy
def quat_apply(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    u = q[..., :3]
    w = q[..., 3:]
    t = 2.0 * torch.cross(u, v, dim=-1)
    return v + w * t + torch.cross(u, t, dim=-1)


@_accepts_numpy
def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    q = quat_normalize(q)
    x, y, z, w = q.unbind(-1)
    m = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    )
    return m.reshape(q.shape[:-1] + (3, 3))


@_accepts_numpy
def matrix_to_quat(m: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) to unit quaternions with w ≥ 0 (at a half turn: the first non-zero of x, y, z
    positive); numerically stable branch choice."""
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # Four candidate solutions, each well conditioned when its leading component is the largest.
    cands = torch.stack(
        [
            torch.stack([1 + m00 - m11 - m22, m01 + m10, m02 + m20, m21 - m12], -1),
            torch.stack([m01 + m10, 1 - m00 + m11 - m22, m12 + m21, m02 - m20], -1),
            torch.stack([m02 + m20, m12 + m21, 1 - m00 - m11 + m22, m10 - m01], -1),
            torch.stack([m21 - m12, m02 - m20, m10 - m01, 1 + m00 + m11 + m22], -1),
        ],
        dim=-2,
    )
    diag = torch.stack([m00 - m11 - m22, -m00 + m11 - m22, -m00 - m11 + m22, m00 + m11 + m22], -1)
    best = diag.argmax(dim=-1, keepdim=True)
    q = torch.gather(cands, -2, best.unsqueeze(-1).expand(best.shape[:-1] + (1, 4))).squeeze(-2)
    q = quat_normalize(q)
    # One sign per rotation: w > 0. At a half turn w is rounding noise whose sign differs between numpy/torch
    # builds, so there the first clearly non-zero of x, y, z decides instead.
    tol = torch.finfo(q.dtype).eps ** 0.5
    key = q[..., 3]
    for axis in (2, 1, 0):  # x last, so it wins over y and z
        key = torch.where(q[..., axis].abs() > tol, q[..., axis], key)
    key = torch.where(q[..., 3].abs() > tol, q[..., 3], key)
    return torch.where(key[..., None] < 0, -q, q)


@_accepts_numpy
def axis_angle_to_quat(aa: torch.Tensor) -> torch.Tensor:
    angle = aa.norm(dim=-1, keepdim=True)
    half = 0.5 * angle
    # sin(θ/2)/θ, with its series near zero so tiny rotations stay exact.
    small = angle < 1e-6
    scale = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(half) / angle.clamp_min(1e-12))
    return torch.cat([aa * scale, torch.cos(half)], dim=-1)


@_accepts_numpy
def quat_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    q = quat_normalize(q)
    q = torch.where(q[..., 3:] < 0, -q, q)
    xyz = q[..., :3]
    sin_half = xyz.norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, q[..., 3:])
    small = sin_half < 1e-6
    scale = torch.where(small, 2.0 + angle * angle / 12.0, angle / sin_half.clamp_min(1e-12))
    return xyz * scale


@_accepts_numpy
def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    return quat_to_matrix(axis_angle_to_quat(aa))


@_accepts_numpy
def matrix_to_axis_angle(m: torch.Tensor) -> torch.Tensor:
    return quat_to_axis_angle(matrix_to_quat(m))


@_accepts_numpy
def quat_slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation along the shorter arc; t broadcasts against the quaternions' batch shape."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    if t.dim() < a.dim():
        t = t.reshape(t.shape + (1,) * (a.dim() - t.dim()))
    dot = (a * b).sum(-1, keepdim=True)
    b = torch.where(dot < 0, -b, b)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta)
    near = sin_theta < 1e-6
    wa = torch.where(near, 1 - t, torch.sin((1 - t) * theta) / sin_theta.clamp_min(1e-12))
    wb = torch.where(near, t, torch.sin(t * theta) / sin_theta.clamp_min(1e-12))
    return quat_normalize(wa * a + wb * b)


@_accepts_numpy
def quat_make_continuous(q: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Flip signs along `dim` (time) so consecutive quaternions lie in the same hemisphere.

    Frame i is flipped when its dot product with the (possibly flipped) frame i−1 is negative. Flipping
    frame i−1 negates that dot product, so frame i's sign is the product of the signs of the raw dot products
    back to the last frame that kept its sign unconditionally (the first frame, or one whose raw dot product
    is zero or NaN, which never flips): a parity of negative dot products since then, with no loop over time.
    """
    q = q.movedim(dim, 0)
    if q.shape[0] < 2:
        return q.clone().movedim(0, dim)
    dots = (q[1:] * q[:-1]).sum(-1, keepdim=True)
    negative = torch.cat([torch.zeros_like(dots[:1], dtype=torch.int64), (dots < 0).long()]).cumsum(0)
    frame = torch.arange(q.shape[0], device=q.device).reshape(-1, *([1] * (q.dim() - 1)))
    keeps = torch.cat([torch.ones_like(dots[:1], dtype=torch.bool), ~((dots < 0) | (dots > 0))])
    last_keep = torch.where(keeps, frame, torch.zeros_like(frame)).cummax(0).values
    flip = (negative - negative.gather(0, last_keep)) % 2 == 1
    return torch.where(flip, -q, q).movedim(0, dim)


@_accepts_numpy
def quat_from_yaw(angle: torch.Tensor) -> torch.Tensor:
    """Rotation by `angle` radians about +Y (counter-clockwise seen from above, +Z turns toward +X)."""
    half = 0.5 * angle
    zero = torch.zeros_like(angle)
    return torch.stack([zero, torch.sin(half), zero, torch.cos(half)], dim=-1)


@_accepts_numpy
def quat_yaw(q: torch.Tensor) -> torch.Tensor:
    """Heading angle about +Y of the rotated +Z axis (0 = facing +Z, +π/2 = facing +X)."""
    fwd = quat_apply(q, torch.tensor([0.0, 0.0, 1.0], dtype=q.dtype, device=q.device).expand(q.shape[:-1] + (3,)))
    return torch.atan2(fwd[..., 0], fwd[..., 2])


# ---------------------------------------------------------------- HY-Motion 6D (row-major 3×2)


@_accepts_numpy
def rot6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Upstream 6D (..., 6) → rotation matrices (..., 3, 3) by Gram–Schmidt on the two stored columns."""
    m = d6.reshape(d6.shape[:-1] + (3, 2))
    c1, c2 = m[..., 0], m[..., 1]
    b1 = c1 / c1.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    c2 = c2 - (b1 * c2).sum(-1, keepdim=True) * b1
    b2 = c2 / c2.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


@_accepts_numpy
def matrix_to_rot6d(m: torch.Tensor) -> torch.Tensor:
    return m[..., :, :2].reshape(m.shape[:-2] + (6,))


@_accepts_numpy
def rot6d_to_quat(d6: torch.Tensor) -> torch.Tensor:
    return matrix_to_quat(rot6d_to_matrix(d6))


@_accepts_numpy
def quat_to_rot6d(q: torch.Tensor) -> torch.Tensor:
    return matrix_to_rot6d(quat_to_matrix(q))


# ---------------------------------------------------------------- Euler (BVH)


_AXES = {"X": 0, "Y": 1, "Z": 2}


@_accepts_numpy
def euler_to_quat(angles: torch.Tensor, order: str) -> torch.Tensor:
    """Angles (..., 3) in radians, one per letter of `order`, composed as R = R[order0] · R[order1] · R[order2]."""
    out = None
    for k, axis in enumerate(order.upper()):
        half = 0.5 * angles[..., k]
        comps = [torch.zeros_like(half)] * 3 + [torch.cos(half)]
        comps[_AXES[axis]] = torch.sin(half)
        q = torch.stack(comps, dim=-1)
        out = q if out is None else quat_mul(out, q)
    assert out is not None
    return out


@_accepts_numpy
def quat_to_euler(q: torch.Tensor, order: str) -> torch.Tensor:
    """Inverse of `euler_to_quat` for Tait–Bryan orders (three distinct axes); radians."""
    m = quat_to_matrix(q)
    i, j, k = (_AXES[a] for a in order.upper())
    # R = Ri(a) Rj(b) Rk(c); the parity sign makes the formula hold for every permutation.
    sign = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    b = torch.asin((sign * m[..., i, k]).clamp(-1.0, 1.0))
    a = torch.atan2(-sign * m[..., j, k], m[..., k, k])
    c = torch.atan2(-sign * m[..., i, j], m[..., i, i])
    return torch.stack([a, b, c], dim=-1)


# ---------------------------------------------------------------- kinematics


@_accepts_numpy
def forward_kinematics(
    local_quats: torch.Tensor,
    root: torch.Tensor,
    offsets: torch.Tensor,
    parents: Sequence[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """World joint positions (..., J, 3) and world rotations (..., J, 4).

    `local_quats` (..., J, 4) are local rotations relative to a rest pose with identity rest rotations;
    `root` (..., 3) is the root joint's world position; `offsets` (J, 3) are parent-relative rest offsets
    (the root's own offset is ignored: `root` is absolute).
    """
    offsets = offsets.to(local_quats.dtype)
    world_rot: list[torch.Tensor] = []
    world_pos: list[torch.Tensor] = []
    for j, p in enumerate(parents):
        if p < 0:
            world_rot.append(local_quats[..., j, :])
            world_pos.append(root)
        else:
            world_rot.append(quat_mul(world_rot[p], local_quats[..., j, :]))
            world_pos.append(world_pos[p] + quat_apply(world_rot[p], offsets[j].expand_as(root)))
    return torch.stack(world_pos, dim=-2), torch.stack(world_rot, dim=-2)


def forward_kinematics_matrices(
    local_mats: torch.Tensor,
    root: torch.Tensor,
    offsets: torch.Tensor,
    parents: Sequence[int],
) -> torch.Tensor:
    """World joint positions (..., J, 3) from local rotation matrices (..., J, 3, 3), as `forward_kinematics`.

    The matrix form is what training differentiates through (straight from 6D, no quaternion branches).
    """
    offsets = offsets.to(local_mats.dtype)
    world_rot: list[torch.Tensor] = []
    world_pos: list[torch.Tensor] = []
    for j, p in enumerate(parents):
        if p < 0:
            world_rot.append(local_mats[..., j, :, :])
            world_pos.append(root)
        else:
            world_rot.append(world_rot[p] @ local_mats[..., j, :, :])
            world_pos.append(world_pos[p] + world_rot[p] @ offsets[j])
    return torch.stack(world_pos, dim=-2)


def local_from_world(world_quats: Any, parents: Sequence[int]) -> Any:
    """Local rotations (..., J, 4) from world rotations: local_j = inverse(world_parent) ⊗ world_j."""
    local = world_quats.copy() if isinstance(world_quats, np.ndarray) else world_quats.clone()
    for j, p in enumerate(parents):
        if p >= 0:
            local[..., j, :] = quat_mul(quat_conjugate(world_quats[..., p, :]), world_quats[..., j, :])
    return local
