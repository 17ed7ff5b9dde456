"""The sampler side of directing: pull each step's clean estimate onto the goals (estimate guidance).

At step t the flow sampler knows x and the predicted velocity v, hence the clean estimate x̂ = x + (1 − t)·v.
The guide moves x̂ toward the goal features (the displacement known on goal frames, spread to their
neighbours with `goals.spread_operator` so the estimate stays smooth) and returns the velocity that lands
on the corrected estimate: v' = v + δ / (1 − t). At the last step that puts every goal feature exactly on
its target; at earlier steps the network sees a state consistent with the goals and shapes the frames
around them. No gradient flows through the network, so a step costs what an unconstrained one does.

`mode="replace"` is the alternative measured against it (docs/directing.md): the classic inpainting
replacement of the goal features of x by (1 − t)·noise + t·target before each evaluation, as long-clip
windows did, without spreading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from engine.model import tensor_rotations as R
from engine.model.directing.goals import spread_operator
from engine.model.representation import ROOT_ROT6D, Normalizer

GUIDE_RADIUS = 0
"""Frames over which the guidance spreads a goal's displacement in the estimate."""


@dataclass(frozen=True)
class WindowTargets:
    """One row's goals inside one window, in the window's frame (denormalised features): key frames (K,),
    target (K, 201), weight (K, 201), facing (K,) radians or NaN."""

    keys: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    facing: np.ndarray
    known: int = 0
    """Frames 0 … known − 1 of the window are known frames (start context, previous window), not goals."""


class FeatureGuide:
    """Velocity correction (`guide`) or state replacement (`constrain`) for a batch of rows."""

    def __init__(
        self, rows: list[WindowTargets], length: int, normalizer: Normalizer, noise: Tensor | None = None,
        radius: float = GUIDE_RADIUS, device: torch.device | str = "cpu",
    ) -> None:
        k = max([len(r.keys) for r in rows] + [1])
        b, c = len(rows), normalizer.mean.numel()
        # Without spreading a displacement stays on its key frame: a scatter, not a (rows, frames, keys, 201)
        # operator (tens of megabytes per row for a 12 s HY-Motion window with many keys).
        op = np.zeros((b, length, k, c), np.float32) if radius > 0 else None
        keys = np.zeros((b, k), np.int64)
        target = np.zeros((b, k, c), np.float32)
        weight = np.zeros((b, k, c), np.float32)
        facing = np.full((b, k), np.nan, np.float32)
        for i, r in enumerate(rows):
            n = len(r.keys)
            if n == 0:
                continue
            if op is not None:
                known = (r.keys < r.known)[:, None]
                op[i, :, :n] = spread_operator(r.keys, r.weight * known, length, 0) + spread_operator(
                    r.keys, r.weight * ~known, length, radius
                )
            keys[i, :n], target[i, :n], weight[i, :n], facing[i, :n] = r.keys, r.target, r.weight, r.facing
        self.active = any(len(r.keys) for r in rows)
        self.op = torch.from_numpy(op).to(device) if op is not None else None
        self.keys = torch.from_numpy(keys).to(device)
        self.target = torch.from_numpy(target).to(device)
        self.weight = torch.from_numpy(weight).to(device)
        self.facing = torch.from_numpy(facing).to(device)
        self.normalizer = normalizer.to(device)
        self.noise = noise

    def _gather(self, x: Tensor, rows: Tensor) -> Tensor:
        idx = self.keys[rows].clamp_max(x.shape[1] - 1)
        return torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]))

    def _goal_values(self, current: Tensor, rows: Tensor) -> Tensor:
        """Targets of the rows, with facing goals turned into a root orientation: the current one turned about
        +Y to the wanted heading (its roll and pitch kept)."""
        target = self.target[rows].clone()
        facing = self.facing[rows]
        has = ~torch.isnan(facing)
        if bool(has.any()):
            m = R.rot6d_to_matrix(current[..., ROOT_ROT6D][has])
            yaw = torch.atan2(m[:, 0, 2], m[:, 2, 2])
            turn = facing[has] - yaw
            c, s = torch.cos(turn), torch.sin(turn)
            zero, one = torch.zeros_like(c), torch.ones_like(c)
            ry = torch.stack([c, zero, s, zero, one, zero, -s, zero, c], -1).reshape(-1, 3, 3)
            target[..., ROOT_ROT6D][has] = R.matrix_to_rot6d(ry @ m)
        return target

    def guide(self, t: Tensor, x: Tensor, v: Tensor, rows: Tensor) -> Tensor:
        if not self.active:
            return v
        rows = rows.to(x.device)
        estimate = self.normalizer.denormalize(x + (1.0 - t) * v)
        current = self._gather(estimate, rows)
        displacement = self.weight[rows] * (self._goal_values(current, rows) - current)
        if self.op is None:
            idx = self.keys[rows].clamp_max(x.shape[1] - 1)[..., None].expand(-1, -1, x.shape[-1])
            spread = torch.zeros_like(estimate).scatter_add(1, idx, displacement)  # padding keys add 0
        else:
            spread = torch.einsum("blkc,bkc->blc", self.op[rows, : x.shape[1]], displacement)
        std = self.normalizer.std
        step = torch.where(std > 0, spread / torch.where(std > 0, std, torch.ones_like(std)), torch.zeros_like(spread))
        return v + step / (1.0 - t)

    def constrain(self, t: Tensor, x: Tensor, rows: Tensor) -> Tensor:
        if not self.active or self.noise is None:
            return x
        rows = rows.to(x.device)
        idx = self.keys[rows].clamp_max(x.shape[1] - 1)[..., None].expand(-1, -1, x.shape[-1])
        current = torch.gather(x, 1, idx)
        clean = self.normalizer.denormalize(current)
        goal = self.normalizer.normalize(self._goal_values(clean, rows))
        noisy = (1.0 - t) * torch.gather(self.noise[rows.cpu()].to(x.device)[:, : x.shape[1]], 1, idx) + t * goal
        # Padding keys carry weight 0, so adding (not writing) the changes leaves their frames alone.
        return x.scatter_add(1, idx, self.weight[rows] * (noisy - current))
