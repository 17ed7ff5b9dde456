"""The parts of the mechanism on their own: spreading, guidance, IK, joins, the exact warp."""

from __future__ import annotations

import numpy as np
import torch

from engine.core import rotations as R
from engine.core.skeleton import BODY_JOINTS, SMPLH_BODY
from engine.model.directing import ik
from engine.model.directing.cleanup import apply_goals
from engine.model.directing.goals import FrameGoal, spread_weights
from engine.model.directing.guidance import FeatureGuide, WindowTargets
from engine.model.directing.joins import inertialize, quintic_basis
from engine.model.representation import Normalizer, encode_features
from engine.model.sampler import EulerFlowSampler, flow_grid


def test_spread_weights_are_one_on_their_key_and_flat_there():
    w = spread_weights(np.array([10, 14, 40]), 60, radius=6)
    assert np.allclose(w[[10, 14, 40]], np.eye(3))
    assert w[3].sum() == 0 and w[47].sum() == 0  # beyond the radius nothing moves
    assert min(w[9, 0], w[11, 0], w[39, 2], w[41, 2]) > 0.8  # flat around a key: it changes no velocity there


def test_estimate_guidance_without_spread_feeds_the_network_what_replacement_does_and_lands_exactly():
    torch.manual_seed(0)
    noise = torch.randn(2, 30, 201)
    weight = np.zeros((3, 201))
    weight[:, :9] = 1.0
    rows = [WindowTargets(np.array([0, 5, 29]), np.random.default_rng(0).normal(size=(3, 201)), weight,
                          np.full(3, np.nan))] * 2
    guide = FeatureGuide(rows, 30, Normalizer.identity(), noise=noise, radius=0)

    seen = {"guide": [], "replace": []}

    def velocity_for(name):
        def velocity(t, x):
            seen[name].append(x.clone())
            return torch.sin(x.mean(dim=1, keepdim=True)) - 0.3 * x  # frames see each other, as in a network

        return velocity

    live = torch.arange(2)
    a = EulerFlowSampler(velocity_for("guide"), noise.clone(), flow_grid(8),
                         guide=lambda t, x, v: guide.guide(t, x, v, live))
    b = EulerFlowSampler(velocity_for("replace"), noise.clone(), flow_grid(8),
                         constrain=lambda t, x: guide.constrain(t, x, live))
    for _ in range(8):
        a.advance()
        b.advance()
    for x_guide, x_replace in zip(seen["guide"], seen["replace"], strict=True):
        assert torch.allclose(x_guide, x_replace, atol=1e-5)
    target = torch.from_numpy(rows[0].target[:, :9]).float()
    assert torch.allclose(a.x[:, [0, 5, 29], :9], target.expand(2, -1, -1), atol=1e-5)
    assert not torch.allclose(b.x[:, [0, 5, 29], :9], target.expand(2, -1, -1), atol=1e-3)


def test_ik_reaches_a_hand_and_a_foot_target_together():
    rot = np.tile([0.0, 0.0, 0.0, 1.0], (22, 1))
    root = np.array([0.0, 0.95, 0.0])
    pos, _ = R.forward_kinematics(rot, root, SMPLH_BODY.offsets, SMPLH_BODY.parents)
    hand, foot = BODY_JOINTS.index("left_wrist"), BODY_JOINTS.index("right_foot")
    targets = {hand: pos[hand] + np.array([-0.2, -0.3, 0.25]), foot: pos[foot] + np.array([0.0, 0.2, 0.15])}
    new_root, new_rot = ik.solve(root, rot, targets)
    got, _ = R.forward_kinematics(new_rot, new_root, SMPLH_BODY.offsets, SMPLH_BODY.parents)
    assert max(np.linalg.norm(got[j] - p) for j, p in targets.items()) < 1e-3


def test_a_join_continues_position_velocity_and_acceleration():
    frames = 40
    t = np.arange(frames, dtype=np.float64)
    root = np.stack([0.02 * t, np.full(frames, 0.95), 0.03 * t + 0.0004 * t**2], axis=1)
    root[20:] += np.array([0.3, 0.0, -0.2])  # a pop at frame 20
    quats = np.tile([0.0, 0.0, 0.0, 1.0], (frames, 22, 1))
    quats[:, 1] = R.axis_angle_to_quat(np.stack([0.02 * t, 0 * t, 0 * t], axis=1))
    quats[20:, 1] = R.axis_angle_to_quat(np.stack([0.02 * t[20:] + 0.5, 0 * t[20:], 0 * t[20:]], axis=1))
    features = encode_features(root, quats).double()
    inertialize(features, 20, 0, blend=15)
    fixed = features[:, :3].numpy()
    step = np.diff(fixed, axis=0)
    assert np.abs(np.diff(step, axis=0)).max() < 0.01  # no velocity jump left anywhere
    np.testing.assert_allclose(fixed[35:], root[35:], atol=1e-9)  # beyond the blend: the generated motion
    basis = quintic_basis(15)
    assert np.allclose(basis[0], [1, 0, 0]) and np.abs(basis[-1]).max() < 0.05


def test_the_warp_makes_every_goal_frame_exact_and_leaves_far_frames_alone():
    rng = np.random.default_rng(1)
    frames = 80
    root = np.cumsum(rng.normal(0, 0.01, (frames, 3)), axis=0) + [0, 0.95, 0]
    rot = R.quat_normalize(np.tile([0.0, 0.0, 0.0, 1.0], (frames, 22, 1)) + rng.normal(0, 0.05, (frames, 22, 4)))
    wrist = BODY_JOINTS.index("right_wrist")
    target_q = R.axis_angle_to_quat(np.array([0.4, 0.2, 0.0]))
    goals = {10: FrameGoal(rotations={5: (target_q, 1.0)}, root={0: (1.0, 1.0), 2: (0.5, 1.0)}),
             14: FrameGoal(effectors={wrist: (np.array([0.5, 1.3, 0.4]), 1.0)}, facing=(0.7, 1.0))}
    new_root, new_rot = apply_goals(root, rot, goals, radius=8)
    pos, _ = R.forward_kinematics(new_rot, new_root, SMPLH_BODY.offsets, SMPLH_BODY.parents)
    assert np.allclose(new_root[10, [0, 2]], [1.0, 0.5])
    assert abs(abs((new_rot[10, 5] * target_q).sum()) - 1) < 1e-9
    assert np.linalg.norm(pos[14, wrist] - [0.5, 1.3, 0.4]) < 1e-3
    assert abs(float(R.quat_yaw(new_rot[14, 0])) - 0.7) < 1e-6
    np.testing.assert_allclose(new_root[30:], root[30:])
    np.testing.assert_allclose(new_rot[30:], rot[30:], atol=1e-12)


def test_windows_never_span_two_segments_and_short_ones_start_earlier():
    from engine.model.directing import Constraints, Segment
    from engine.model.directing.goals import compile_constraints
    from engine.model.directing.sampling import Window, plan_windows

    two = compile_constraints(Constraints(segments=(Segment("a", 5.0), Segment("b", 5.0))), "", 0.0)
    assert plan_windows(two, 150, 30) == [Window(0, 150, 0, "a"), Window(120, 180, 30, "b")]
    three = compile_constraints(Constraints(segments=(Segment("a", 3.0), Segment("b", 4.0), Segment("c", 8.0))), "",
                                0.0)
    plan = plan_windows(three, 150, 30)
    bounds = {"a": (0, 90), "b": (90, 210), "c": (210, 450)}
    for w in plan:
        lo, hi = bounds[w.prompt]
        assert lo <= w.start + w.known and w.start + w.length <= hi  # generated frames stay in the segment
        assert w.start >= lo - 30  # known frames reach at most 30 frames into the segment before
        assert w.length >= 90
    assert plan[-1].start + plan[-1].length == 450
