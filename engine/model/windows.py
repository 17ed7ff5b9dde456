"""Windows of a clip: the initial noise per seed, and moving features into and out of a window's own frame.

A window is generated as the network was trained, starting at the origin facing +Z; a later window of a long
clip, a continuation and a timeline segment are moved there from where the clip is (`to_local`) and back
(`to_world`). Shared by `engine.model.pipeline` and `engine.model.directing`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from engine.model import tensor_rotations as R
from engine.model.representation import FEATURE_DIM, JOINT_POS, ROOT_POS, ROOT_ROT6D

HOST = torch.device("cpu")
"""Where float64 work happens (MPS has none)."""


def seed_noise(
    seeds: Sequence[int], train_frames: int, dim: int = FEATURE_DIM, device: torch.device | str = "cpu"
) -> Tensor:
    """Upstream's initial noise: per seed a `torch.Generator(device).manual_seed(seed)` drawing (1, train_frames,
    dim) float32, concatenated over seeds → (B, train_frames, dim) on `device`. The CPU generator (default) gives
    the same noise on every machine."""
    return torch.cat(
        [
            torch.randn((1, train_frames, dim), generator=torch.Generator(device).manual_seed(int(s)), device=device)
            for s in seeds
        ]
    )


def root_heading_frame(frame: Tensor) -> tuple[Tensor, Tensor]:
    """Yaw (radians) from the root orientation, and the horizontal root position, of one denormalised frame
    (`engine.model.directing.sampling.heading_frame` reads the heading from the hip line instead)."""
    frame = frame.detach().to(HOST, torch.float64)
    rot = R.rot6d_to_matrix(frame[ROOT_ROT6D])
    fwd = rot[:, 2]
    yaw = torch.atan2(fwd[0], fwd[2])
    origin = frame[ROOT_POS].clone()
    origin[1] = 0.0
    return yaw, origin


def _yaw_matrix(yaw: Tensor) -> Tensor:
    c, s = torch.cos(yaw), torch.sin(yaw)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([c, zero, s, zero, one, zero, -s, zero, c]).reshape(3, 3)


def _transform(features: Tensor, rot: Tensor, before: Tensor, after: Tensor) -> Tensor:
    """Apply p ↦ rot (p - before) + after to root and joint positions, rot ∘ R to the root orientation.

    Computed in float64 on the CPU (`rot`, `before`, `after` live there too); the result goes back to
    `features`' device and dtype."""
    f = features.detach().to(HOST, torch.float64, copy=True)
    f[:, ROOT_POS] = (f[:, ROOT_POS] - before) @ rot.T + after
    root_rot = R.rot6d_to_matrix(f[:, ROOT_ROT6D])
    f[:, ROOT_ROT6D] = R.matrix_to_rot6d(rot[None] @ root_rot)
    joints = f[:, JOINT_POS].reshape(f.shape[0], -1, 3)
    f[:, JOINT_POS] = ((joints - before) @ rot.T + after).reshape(f.shape[0], -1)
    return f.to(features.device, features.dtype)


def to_local(features: Tensor, yaw: Tensor, origin: Tensor) -> Tensor:
    """Features moved into the frame whose origin is `origin` on the floor and whose +Z is heading `yaw`."""
    return _transform(features, _yaw_matrix(-yaw), origin, torch.zeros_like(origin))


def to_world(features: Tensor, yaw: Tensor, origin: Tensor) -> Tensor:
    """Inverse of `to_local`."""
    return _transform(features, _yaw_matrix(yaw), torch.zeros_like(origin), origin)
