"""The 201-number per-frame motion representation shared by HY-Motion and our embedded model.

| slice    | meaning                                                             |
|----------|---------------------------------------------------------------------|
| 0:3      | root translation, absolute, metres, Y up                            |
| 3:9      | root (pelvis) global orientation, upstream 6D (row-major 3×2)       |
| 9:135    | 21 body joints (SMPL-H order 1..21), local rotation, 6D each        |
| 135:201  | 22 joint world positions in metres (FK on our rest skeleton); the decoder ignores them |

Models work on normalised features `(x - mean) / std`; a std below 1e-3 is treated as 0 (the feature is
constant: it normalises to 0 and denormalises to its mean).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.core.skeleton import NUM_BODY_JOINTS, SMPLH_BODY
from engine.model import tensor_rotations as R

FEATURE_DIM = 201
ROOT_POS = slice(0, 3)
ROOT_ROT6D = slice(3, 9)
BODY_ROT6D = slice(9, 135)
JOINT_POS = slice(135, 201)
STD_EPS = 1e-3


def encode_features(root: np.ndarray | torch.Tensor, local_quats: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Source-skeleton motion → (L, 201) features (float32 tensor). root (L, 3), local_quats (L, 22, 4)."""
    root_t = torch.as_tensor(np.asarray(root) if isinstance(root, np.ndarray) else root, dtype=torch.float64)
    quats = torch.as_tensor(
        np.asarray(local_quats) if isinstance(local_quats, np.ndarray) else local_quats, dtype=torch.float64
    )
    frames = root_t.shape[0]
    rot6d = R.quat_to_rot6d(quats).reshape(frames, NUM_BODY_JOINTS * 6)
    positions, _ = R.forward_kinematics(quats, root_t, torch.from_numpy(SMPLH_BODY.offsets), SMPLH_BODY.parents)
    return torch.cat([root_t, rot6d, positions.reshape(frames, -1)], dim=-1).float()


def decode_features(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., L, 201) denormalised features → root (..., L, 3) and local quaternions (..., L, 22, 4)."""
    root = features[..., ROOT_POS]
    rot6d = features[..., 3:135].reshape(features.shape[:-1] + (NUM_BODY_JOINTS, 6))
    return root, R.rot6d_to_quat(rot6d)


@dataclass(frozen=True)
class Normalizer:
    """Per-feature mean and std (201 each)."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def from_arrays(cls, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor) -> Normalizer:
        mean_t = torch.as_tensor(np.asarray(mean, dtype=np.float32)).reshape(-1)
        std_t = torch.as_tensor(np.asarray(std, dtype=np.float32)).reshape(-1)
        if mean_t.numel() != FEATURE_DIM or std_t.numel() != FEATURE_DIM:
            raise ValueError(f"mean and std must hold {FEATURE_DIM} values, got {mean_t.numel()} and {std_t.numel()}")
        return cls(mean_t, torch.where(std_t < STD_EPS, torch.zeros_like(std_t), std_t))

    @classmethod
    def identity(cls) -> Normalizer:
        return cls(torch.zeros(FEATURE_DIM), torch.ones(FEATURE_DIM))

    def to(self, device: torch.device | str) -> Normalizer:
        return Normalizer(self.mean.to(device), self.std.to(device))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(x), self.std.to(x)
        return torch.where(std > 0, (x - mean) / torch.where(std > 0, std, torch.ones_like(std)), torch.zeros_like(x))

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std.to(x) + self.mean.to(x)
