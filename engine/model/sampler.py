"""Flow-matching Euler sampler: integrates a velocity field from t = 0 (noise) to t = 1 (data).

The sampler knows nothing about text, networks or devices beyond tensors: it takes a velocity function
`v(t, x)` and a time grid and yields the state after every step, together with the clean-data estimate
`x + (1 - t) v` that previews are drawn from. Rows can be pruned between steps (cancelled requests), and a
`constrain` hook may overwrite parts of the state before each evaluation (long-clip windows conditioned on
known frames), and a `guide` hook may correct the velocity after it (`engine.directing`: the clean estimate
is pulled onto a request's constraints). With the default grid it reproduces torchdiffeq's fixed-grid Euler
that upstream uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

Velocity = Callable[[Tensor, Tensor], Tensor]
"""v(t, x): t a 0-d tensor, x (B, ...) → dx/dt with x's shape."""
Constraint = Callable[[Tensor, Tensor], Tensor]
"""constrain(t, x) → x with known parts replaced by their value at time t."""
Guide = Callable[[Tensor, Tensor, Tensor], Tensor]
"""guide(t, x, v) → the velocity to step with instead of v."""


def flow_grid(steps: int, device: torch.device | str = "cpu") -> Tensor:
    """`steps + 1` uniform points from 0 to 1 (float32), as upstream's `torch.linspace(0, 1, steps + 1)`."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    return torch.linspace(0.0, 1.0, steps + 1, device=device)


@dataclass(frozen=True)
class FlowState:
    """The state after step `step` (1-based) of `steps`: x at time t, and the clean estimate made on the way."""

    step: int
    steps: int
    t: Tensor
    x: Tensor
    velocity: Tensor
    estimate: Tensor


class EulerFlowSampler:
    """Iterate Euler steps over `grid`; `prune(keep)` drops rows between steps."""

    def __init__(
        self,
        velocity: Velocity,
        x0: Tensor,
        grid: Tensor,
        constrain: Constraint | None = None,
        guide: Guide | None = None,
    ) -> None:
        if grid.dim() != 1 or grid.numel() < 2:
            raise ValueError("grid must be a 1-d tensor with at least two time points")
        self.velocity = velocity
        self.x = x0
        self.grid = grid
        self.constrain = constrain
        self.guide = guide
        self.step = 0

    @property
    def steps(self) -> int:
        return self.grid.numel() - 1

    def prune(self, keep: Tensor) -> None:
        """Keep only rows `keep` (index tensor or bool mask) of the running state."""
        self.x = self.x[keep]

    def __iter__(self) -> Iterator[FlowState]:
        while self.step < self.steps:
            yield self.advance()

    def advance(self) -> FlowState:
        t0, t1 = self.grid[self.step], self.grid[self.step + 1]
        x = self.constrain(t0, self.x) if self.constrain is not None else self.x
        v = self.velocity(t0, x)
        if self.guide is not None:
            v = self.guide(t0, x, v)
        estimate = x + (1.0 - t0) * v
        self.x = x + (t1 - t0) * v
        self.step += 1
        return FlowState(self.step, self.steps, t1, self.x, v, estimate)


def sample_flow(velocity: Velocity, x0: Tensor, grid: Tensor, constrain: Constraint | None = None) -> Tensor:
    """Run all steps and return the final state (t = grid[-1])."""
    sampler = EulerFlowSampler(velocity, x0, grid, constrain)
    for _ in sampler:
        pass
    return sampler.x
