"""Rotation math on torch tensors: the twin of `engine.core.rotations` for the network's side.

The model decodes and encodes its 201-d features on its device (and training differentiates through forward
kinematics), so these few functions work on tensors of any dtype and device. Conventions are those stated in
`engine.core.rotations` (quaternions x, y, z, w; the upstream row-major 6D layout); a test checks that both
agree on the same inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def quat_normalize(q: torch.Tensor) -> torch.Tensor:
    return q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)


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


def quat_apply(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    u = q[..., :3]
    w = q[..., 3:]
    t = 2.0 * torch.cross(u, v, dim=-1)
    return v + w * t + torch.cross(u, t, dim=-1)


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


def rot6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Upstream 6D (..., 6) → rotation matrices (..., 3, 3) by Gram–Schmidt on the two stored columns."""
    m = d6.reshape(d6.shape[:-1] + (3, 2))
    c1, c2 = m[..., 0], m[..., 1]
    b1 = c1 / c1.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    c2 = c2 - (b1 * c2).sum(-1, keepdim=True) * b1
    b2 = c2 / c2.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rot6d(m: torch.Tensor) -> torch.Tensor:
    return m[..., :, :2].reshape(m.shape[:-2] + (6,))


def rot6d_to_quat(d6: torch.Tensor) -> torch.Tensor:
    return matrix_to_quat(rot6d_to_matrix(d6))


def quat_to_rot6d(q: torch.Tensor) -> torch.Tensor:
    return matrix_to_rot6d(quat_to_matrix(q))


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
