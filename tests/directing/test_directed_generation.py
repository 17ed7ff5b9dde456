"""Each constraint kind on the shipped embedded model (and the HY-Motion layout), batches, previews, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core import rotations as R
from engine.core.skeleton import BODY_JOINTS
from engine.model.directing import (
    Constraints,
    EffectorKey,
    EndPose,
    Pose,
    PoseKey,
    Segment,
    StartMotion,
    Waypoint,
)
from engine.model.generation import Cancelled, GenerationRequest
from engine.train.directing_metrics import angle_between, frame_jumps, join_jumps, positions

STEPS = 6
WALK = "a person walks forward"


@pytest.fixture(scope="module")
def wave(tiny):
    return tiny.generate("a person waves goodbye with their right hand", seconds=3.0, seed=3, steps=STEPS)[0]


@pytest.fixture(scope="module")
def earlier(tiny):
    return tiny.generate(WALK, seconds=3.0, seed=7, steps=STEPS)[0]


def test_start_frame_zero_is_the_given_last_frame_and_the_join_is_smooth(tiny, earlier):
    out = tiny.generate(WALK, seconds=3.0, seed=1, steps=STEPS,
                        constraints=Constraints(start=StartMotion.from_motion(earlier)))[0]
    assert out.frames == 90
    np.testing.assert_allclose(out.root[0], earlier.root[-1], atol=1e-5)
    assert angle_between(out.rotations[0].astype(np.float64), earlier.rotations[-1].astype(np.float64)).max() < 0.01
    joined = positions(np.concatenate([earlier.root[:-1], out.root]),
                       np.concatenate([earlier.rotations[:-1], out.rotations]))
    dv, _ = join_jumps(joined, earlier.frames - 1)
    assert dv < 3.7  # the motion-capture data's 99th percentile of per-frame velocity jumps (m/s)


def test_pose_keys_and_end_pose_are_hit(tiny, wave):
    keys = (PoseKey(0.5, Pose(wave.rotations[15])), PoseKey(1.5, Pose(wave.rotations[45]),
                                                           joints=("right_shoulder", "right_elbow")))
    out = tiny.generate(WALK, seconds=3.0, seed=2, steps=STEPS,
                        constraints=Constraints(keys=keys, end=EndPose(Pose(wave.rotations[-1]))))[0]
    err = angle_between(out.rotations.astype(np.float64), wave.rotations[: out.frames].astype(np.float64))
    assert err[15].max() < 0.01
    arm = [BODY_JOINTS.index("right_shoulder"), BODY_JOINTS.index("right_elbow")]
    assert err[45, arm].max() < 0.01
    assert angle_between(out.rotations[-1].astype(np.float64), wave.rotations[-1].astype(np.float64)).max() < 0.01


def test_effector_keys_are_hit(tiny):
    free = tiny.generate(WALK, seconds=3.0, seed=4, steps=STEPS)[0].world_positions()
    wrist = free[40, BODY_JOINTS.index("right_wrist")] + np.array([0.2, 0.3, 0.1])
    pelvis = free[60, 0] + np.array([0.1, -0.05, 0.0])
    c = Constraints(keys=(EffectorKey(40 / 30, "right_wrist", wrist), EffectorKey(2.0, "pelvis", pelvis)))
    out = tiny.generate(WALK, seconds=3.0, seed=4, steps=STEPS, constraints=c)[0].world_positions()
    assert np.linalg.norm(out[40, BODY_JOINTS.index("right_wrist")] - wrist) < 1e-3
    assert np.linalg.norm(out[60, 0] - pelvis) < 1e-3


def test_path_waypoints_and_facing_are_hit(tiny):
    path = (Waypoint(1.0, np.array([0.4, 5.0, 1.0])), Waypoint(2.5, np.array([1.5, 0.0, 2.0]), facing=1.2))
    out = tiny.generate(WALK, seconds=3.0, seed=5, steps=STEPS, constraints=Constraints(path=path))[0]
    np.testing.assert_allclose(out.root[30, [0, 2]], [0.4, 1.0], atol=1e-5)
    np.testing.assert_allclose(out.root[75, [0, 2]], [1.5, 2.0], atol=1e-5)
    assert abs(float(R.quat_yaw(out.rotations[75, 0].astype(np.float64))) - 1.2) < 1e-4


def test_segments_make_one_continuous_motion_with_their_frame_ranges(tiny):
    c = Constraints(segments=(Segment("a man strolls ahead", 4.0), Segment("someone creeps on all fours", 3.0)))
    out = tiny.generate("", seconds=0.0, seed=0, steps=STEPS, constraints=c)[0]
    assert out.frames == 210
    assert out.meta["segments"] == [{"prompt": "a man strolls ahead", "start": 0, "count": 120},
                                    {"prompt": "someone creeps on all fours", "start": 120, "count": 90}]
    dv, _ = frame_jumps(out.world_positions())
    assert dv.max() < 15.0  # no teleport anywhere, the boundary included (a pop is > 30 m/s)
    assert np.median(out.root[120 + 45 :, 1]) < np.median(out.root[:120, 1]) - 0.2  # the crawl is low


def test_a_batch_carries_one_set_of_constraints_per_request(tiny, earlier):
    path = Constraints(path=(Waypoint(1.0, np.array([0.5, 0.0, 1.2])),))
    start = Constraints(start=StartMotion.from_motion(earlier))
    reqs = [GenerationRequest(WALK, 2.0, seed=0, steps=STEPS, constraints=path),
            GenerationRequest(WALK, 2.0, seed=1, samples=2, steps=STEPS, constraints=start),
            GenerationRequest("a person jumps", 2.0, seed=2, steps=STEPS)]
    out = tiny.generate_batch(reqs)
    np.testing.assert_allclose(out[0][0].root[30, [0, 2]], [0.5, 1.2], atol=1e-5)
    assert len(out[1]) == 2 and out[1][0].seed == 1 and out[1][1].seed == 2
    for m in out[1]:
        np.testing.assert_allclose(m.root[0], earlier.root[-1], atol=1e-5)
    assert out[2][0].frames == 60
    assert not np.allclose(out[1][0].root, out[1][1].root)


def test_previews_come_every_step_and_cancel_drops_one_request(tiny):
    c = Constraints(path=(Waypoint(1.0, np.array([0.5, 0.0, 1.2])),))
    reqs = [GenerationRequest(WALK, 2.0, seed=0, steps=STEPS, constraints=c),
            GenerationRequest(WALK, 2.0, seed=1, steps=STEPS, constraints=c)]
    events = []

    def on_step(event):
        events.append((event.step, event.steps, event.preview(0)[0].frames if event.step == 2 else None))

    out = tiny.generate_batch(reqs, on_step=on_step, cancelled=lambda i: i == 1 and len(events) >= 3)
    assert [e[0] for e in events] == list(range(1, STEPS + 1)) and events[0][1] == STEPS
    assert events[1][2] == 60
    assert out[1] is None and out[0][0].frames == 60
    with pytest.raises(Cancelled):
        tiny.generate(WALK, seconds=2.0, steps=STEPS, cancel=lambda: True, constraints=c)


def test_a_cancel_after_the_last_step_stops_the_clean_up(tiny, monkeypatch):
    """A live chunk dropped by a prompt change is often past its sampler steps: its ~40 ms clean-up (decode,
    foot lock, joins) must stop at the next stage, not run to the end while the new prompt waits."""
    import engine.model.directing.sampling as sampling

    locks = []
    real_lock = sampling.lock_feet
    monkeypatch.setattr(sampling, "lock_feet", lambda *a, **k: locks.append(1) or real_lock(*a, **k))
    start = StartMotion(np.array([[0.0, 0.95, 0.0], [0.0, 0.95, 0.04]]), np.tile([0.0, 0.0, 0.0, 1.0], (2, 22, 1)))
    request = GenerationRequest(WALK, 2.0, seed=0, steps=STEPS, constraints=Constraints(start=start))
    steps = []
    with pytest.raises(Cancelled):
        tiny.generate_batch([request], on_step=lambda e: steps.append(e.step), cancelled=lambda i: len(steps) == STEPS)
    assert steps[-1] == STEPS  # every sampler step ran: the cancel came during the clean-up
    assert locks == []  # stopped right after decoding, before the first foot lock
    tiny.generate_batch([request])
    assert len(locks) == 2  # uncancelled: the lock and the re-lock after the join


def test_the_hymotion_layout_follows_the_same_constraints(hymotion_random):
    model = hymotion_random
    start = StartMotion(np.array([[0.0, 0.95, 0.0], [0.0, 0.95, 0.02]]), np.tile([0.0, 0.0, 0.0, 1.0], (2, 22, 1)))
    pose = np.tile([0.0, 0.0, 0.0, 1.0], (22, 1))
    pose[BODY_JOINTS.index("left_elbow")] = R.axis_angle_to_quat(np.array([0.0, 1.0, 0.0]))
    c = Constraints(start=start, keys=(PoseKey(1.0, Pose(pose)),),
                    path=(Waypoint(2.0, np.array([0.3, 0.0, 0.8])),),
                    segments=(Segment("walk", 8.0), Segment("jump", 7.0)))
    out = model.generate("", seconds=0.0, seed=0, steps=4, constraints=c)[0]
    assert out.frames == 450 and [s["count"] for s in out.meta["segments"]] == [240, 210]
    np.testing.assert_allclose(out.root[0], start.root[-1], atol=1e-5)
    assert angle_between(out.rotations[30].astype(np.float64), pose).max() < 0.01
    np.testing.assert_allclose(out.root[60, [0, 2]], [0.3, 0.8], atol=1e-5)
