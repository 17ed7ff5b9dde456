"""The flow-matching Euler sampler on velocity fields with known solutions."""

from __future__ import annotations

import pytest
import torch

from engine.model.sampler import EulerFlowSampler, flow_grid, sample_flow


def test_grid_has_steps_plus_one_uniform_points_from_0_to_1():
    grid = flow_grid(50)
    assert grid.shape == (51,) and grid[0] == 0 and grid[-1] == 1
    assert torch.allclose(grid.diff(), torch.full((50,), 0.02))
    with pytest.raises(ValueError):
        flow_grid(0)


def test_constant_velocity_moves_by_exactly_that_velocity():
    x0 = torch.randn(3, 7, 5, dtype=torch.float64)
    v = torch.randn(7, 5, dtype=torch.float64)
    out = sample_flow(lambda t, x: v.expand_as(x), x0, flow_grid(13).double())
    assert torch.allclose(out, x0 + v)


def test_linear_field_matches_the_euler_recurrence():
    lam = -0.7
    x0 = torch.randn(4, dtype=torch.float64)
    steps = 10
    out = sample_flow(lambda t, x: lam * x, x0, flow_grid(steps).double())
    assert torch.allclose(out, x0 * (1 + lam / steps) ** steps)
    # and approaches the exact solution as the grid refines
    fine = sample_flow(lambda t, x: lam * x, x0, flow_grid(2000).double())
    assert torch.allclose(fine, x0 * torch.exp(torch.tensor(lam, dtype=torch.float64)), atol=1e-3)


def test_rectified_flow_field_reaches_its_target_and_estimates_it_at_every_step():
    """v(t, x) = (target − x) / (1 − t): the straight path to the target; the clean estimate is the target."""
    target = torch.randn(2, 9, dtype=torch.float64)
    x0 = torch.randn(2, 9, dtype=torch.float64)
    sampler = EulerFlowSampler(lambda t, x: (target - x) / (1 - t), x0, flow_grid(8).double())
    states = list(sampler)
    assert [s.step for s in states] == list(range(1, 9))
    for s in states:
        assert torch.allclose(s.estimate, target)
        assert torch.allclose(s.x, (1 - s.t) * x0 + s.t * target)
    assert torch.allclose(states[-1].x, target)


def test_time_dependent_field_is_evaluated_at_the_start_of_each_step():
    seen = []

    def velocity(t, x):
        seen.append(float(t))
        return torch.ones_like(x) * t

    out = sample_flow(velocity, torch.zeros(1), flow_grid(4))
    assert seen == [0.0, 0.25, 0.5, 0.75]
    assert torch.allclose(out, torch.tensor([0.25 * (0.0 + 0.25 + 0.5 + 0.75)]))


def test_pruned_rows_leave_the_state_and_the_rest_continue_unchanged():
    x0 = torch.arange(4.0)[:, None].repeat(1, 3)
    full = sample_flow(lambda t, x: x * 0.5, x0.clone(), flow_grid(6))
    sampler = EulerFlowSampler(lambda t, x: x * 0.5, x0.clone(), flow_grid(6))
    sampler.advance()
    sampler.prune(torch.tensor([True, False, True, False]))
    for _ in sampler:
        pass
    assert sampler.x.shape == (2, 3)
    assert torch.allclose(sampler.x, full[[0, 2]])


def test_constraint_overwrites_the_state_before_each_evaluation():
    known = torch.tensor([5.0])
    noise = torch.tensor([[0.0, 0.0]])

    def constrain(t, x):
        x = x.clone()
        x[:, 0] = (1 - t) * noise[:, 0] + t * known
        return x

    seen = []

    def velocity(t, x):
        seen.append(float(x[0, 0]))
        return torch.zeros_like(x)

    sample_flow(velocity, noise.clone(), flow_grid(5), constrain)
    assert seen == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])
