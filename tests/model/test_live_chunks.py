"""engine.model.live: a chunk's request, its frames joined onto the stream, and the area steering."""

from __future__ import annotations

import math

import numpy as np

from engine.core import rotations as R
from engine.model.directing.joins import SETTLE_FRAMES, settle
from engine.model.live import CONTEXT_FRAMES, LiveArea, chunk_request, new_frames, set_off_inwards, turn_back
from engine.model.testing import tiny_random_model

FPS = 30.0


def _walk(frames: int, start: tuple[float, float], direction: tuple[float, float], speed: float = 1.2) -> np.ndarray:
    t = np.arange(frames)[:, None] / FPS
    xz = np.asarray(start) + t * speed * np.asarray(direction)
    return np.stack([xz[:, 0], np.full(frames, 0.9), xz[:, 1]], axis=1)


def _facing(yaw: float) -> np.ndarray:
    return R.axis_angle_to_quat(np.array([0.0, yaw, 0.0]))


def test_inside_the_area_or_heading_in_or_standing_asks_nothing() -> None:
    area = LiveArea((0.0, 0.0), 4.0)
    # Well inside, and still well inside at the end of a 0.5 s chunk going straight on.
    assert turn_back(_walk(30, (0.0, -1.0), (0.0, 1.0)), _facing(0.0), area, 0.5, FPS) == ()
    assert turn_back(_walk(30, (0.0, 3.5), (0.0, -1.0)), _facing(math.pi), area, 2.0, FPS) == ()  # heading in
    assert turn_back(_walk(30, (0.0, 3.5), (0.0, 1.0), speed=0.05), _facing(0.0), area, 2.0, FPS) == ()  # idle
    assert turn_back(_walk(30, (0.0, 3.5), (0.0, 1.0)), _facing(0.0), LiveArea((0.0, 0.0), 0.0), 2.0, FPS) == ()


def test_walking_out_turns_back_towards_the_centre_along_an_arc() -> None:
    area = LiveArea((0.0, 0.0), 4.0)
    root = _walk(30, (1.0, 2.0), (0.0, 1.0))  # at about (1, 3.2) walking +Z, away from the centre
    points = turn_back(root, _facing(0.0), area, 59 / FPS, FPS)
    assert len(points) == 4 and math.isclose(points[-1].time, 59 / FPS)
    p = root[-1, [0, 2]]
    ends = [w.position[[0, 2]] for w in points]
    # Each waypoint lies on an arc of the walker's speed, so consecutive points are about speed × Δt apart.
    steps = np.linalg.norm(np.diff(np.vstack([p] + ends), axis=0), axis=1)
    assert np.allclose(steps, 1.2 * 59 / FPS / 4, rtol=0.05), steps
    # It turns toward the centre, which lies to the walker's left (−X): heading rotates toward −X, the facing
    # (0 = +Z, +π/2 = +X) goes negative, and the last point is nearer the centre's side than a straight walk.
    assert points[-1].facing is not None and points[-1].facing < -0.5
    straight = p + 1.2 * 59 / FPS * np.array([0.0, 1.0])
    assert ends[-1][0] < straight[0] - 0.3 and np.linalg.norm(ends[-1]) < np.linalg.norm(straight)


def test_a_walk_that_would_pass_the_turning_line_within_the_chunk_turns_already() -> None:
    """Steering waits for nothing it can foresee: a walker 0.2 m from the centre, heading out at 1.2 m/s, is past
    the turning line (a quarter of the radius) well before a 2 s chunk ends, so that chunk turns it (waiting for
    the next one let walks overshoot a 4 m area to 4.6–4.9 m once the first chunk was short)."""
    area = LiveArea((0.0, 0.0), 4.0)
    root = _walk(30, (0.0, -1.0), (0.0, 1.0))  # ends at about (0, 0.2), heading +Z
    assert np.linalg.norm(root[-1, [0, 2]]) < 0.25 * area.radius
    assert len(turn_back(root, _facing(0.0), area, 2.0, FPS)) == 4
    assert turn_back(root, _facing(0.0), area, 0.5, FPS) == ()  # within half a second it stays inside the line


def _standing(frames: int, at: tuple[float, float]) -> np.ndarray:
    return _walk(frames, at, (0.0, 1.0), speed=0.0)


def test_a_chunk_setting_off_outwards_from_a_standstill_is_turned_to_head_for_the_centre() -> None:
    """A figure standing 2.5 m out that sets off walking further out (+Z) is turned, body and travel together,
    towards the centre; the turn starts from nothing at the first frame, so the stream has no jump."""
    area = LiveArea((0.0, 0.0), 4.0)
    history = _standing(30, (0.0, 2.5))
    root = _walk(61, (0.0, 2.5), (0.0, 1.0))[1:]  # 2 s walking straight out at 1.2 m/s
    rotations = np.tile(_facing(0.0), (60, 22, 1))
    turned = set_off_inwards(history, root, rotations, area, FPS)
    assert turned is not None
    t_root, t_rot = turned
    # It ends nearer the centre than it started, having covered the same ground (a turn, not a shortening).
    assert np.linalg.norm(t_root[-1, [0, 2]]) < 2.5 - 0.5
    steps = np.linalg.norm(np.diff(np.vstack([history[-1:], t_root])[:, [0, 2]], axis=0), axis=1)
    assert math.isclose(steps.sum(), 1.2 * 2.0, rel_tol=0.35)
    # Faces where it goes: from +Z (0) to −Z (±π) by the end, the body turned with the travel.
    assert abs(abs(float(R.quat_yaw(t_rot[-1, 0]))) - math.pi) < 1e-6
    # Eased in: the first frame moves by no more than the untouched walk's first step, heights and the other
    # joints are not touched.
    assert np.linalg.norm(t_root[0] - history[-1]) <= 1.2 / FPS + 1e-9
    assert np.array_equal(t_root[:, 1], root[:, 1]) and np.array_equal(t_rot[:, 1:], rotations[:, 1:])


def test_set_off_leaves_walkers_inward_travel_small_moves_and_free_sessions_alone() -> None:
    area = LiveArea((0.0, 0.0), 4.0)
    rotations = np.tile(_facing(0.0), (60, 22, 1))
    out = _walk(61, (0.0, 2.5), (0.0, 1.0))[1:]
    assert set_off_inwards(_walk(30, (0.0, 1.5), (0.0, 1.0)), out, rotations, area, FPS) is None  # was walking
    inward = _walk(61, (0.0, 2.5), (0.0, -1.0))[1:]
    assert set_off_inwards(_standing(30, (0.0, 2.5)), inward, rotations, area, FPS) is None  # heads in anyway
    sway = _walk(61, (0.0, 2.5), (0.0, 1.0), speed=0.1)[1:]
    assert set_off_inwards(_standing(30, (0.0, 2.5)), sway, rotations, area, FPS) is None  # 0.2 m: a step
    assert set_off_inwards(_standing(30, (0.0, 2.5)), out, rotations, LiveArea((0.0, 0.0), 0.0), FPS) is None


def test_first_chunk_is_free_and_later_ones_continue_the_context() -> None:
    assert chunk_request("a person walks", 3, None, fps=FPS).constraints is None
    root = _walk(30, (0.0, 0.0), (0.0, 1.0))
    rot = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (30, 22, 1))
    req = chunk_request("a person waves", 4, (root, rot), fps=FPS, steps=7)
    assert req.prompt == "a person waves" and req.seed == 4 and req.steps == 7
    assert req.constraints is not None and req.constraints.start is not None
    assert np.array_equal(req.constraints.start.root, root[-CONTEXT_FRAMES:]) and req.constraints.path == ()


def test_settle_keeps_its_length_eases_only_the_join_and_leaves_later_frames_alone() -> None:
    rng = np.random.default_rng(0)
    ctx_root = _walk(12, (0.0, 0.0), (0.0, 1.0))
    ctx_rot = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (12, 22, 1))
    root = _walk(40, (0.0, 0.44), (0.0, 1.0))
    root[2] += np.array([0.0, 0.0, 0.3])  # a snap two frames after the join
    rot = R.axis_angle_to_quat(rng.normal(0, 0.05, (40, 22, 3)))
    out_root, out_rot = settle((ctx_root, ctx_rot), root, rot)
    assert out_root.shape == root.shape and out_rot.shape == rot.shape
    assert np.allclose(np.linalg.norm(out_rot, axis=-1), 1.0)
    assert abs(out_root[2, 2] - out_root[1, 2]) < abs(root[2, 2] - root[1, 2]) / 2  # the snap is eased
    assert np.array_equal(out_root[SETTLE_FRAMES:], root[SETTLE_FRAMES:])
    assert np.array_equal(out_rot[SETTLE_FRAMES:], rot[SETTLE_FRAMES:])


def test_a_continuation_starts_where_its_context_ends() -> None:
    model = tiny_random_model(seed=0)
    first = model.generate_batch([chunk_request("a person walks", 0, None, fps=FPS, seconds=1.0)])[0][0]
    root0, rot0 = new_frames(first, continued=False)
    context = (root0[-CONTEXT_FRAMES:], rot0[-CONTEXT_FRAMES:])
    nxt = model.generate_batch([chunk_request("a person walks", 1, context, fps=FPS, seconds=1.0)])[0][0]
    assert np.allclose(nxt.root[0], root0[-1], atol=1e-4)  # frame 0 of a continuation is the last frame sent
    root1, _ = new_frames(nxt, continued=True)
    assert root1.shape[0] == nxt.frames - 1  # which is not sent twice


def test_settle_equals_easing_towards_the_whole_clip_smoothed() -> None:
    """It smooths only the frames it eases (and the kernel's reach): the result is what smoothing everything gives."""
    from engine.model.directing.joins import SETTLE_CONTEXT, SETTLE_SIGMA
    from engine.post.smoothing import gaussian_smooth, smooth_quaternions

    for n in (60, 7, 3):
        rng = np.random.default_rng(n)
        ctx = (rng.normal(size=(30, 3)), R.axis_angle_to_quat(rng.normal(0, 0.3, (30, 22, 3))))
        root, rot = rng.normal(size=(n, 3)), R.axis_angle_to_quat(rng.normal(0, 0.3, (n, 22, 3)))
        h = SETTLE_CONTEXT
        smooth_root = gaussian_smooth(np.concatenate([ctx[0][-h:], root]), SETTLE_SIGMA)[h:]
        smooth_rot = smooth_quaternions(np.concatenate([ctx[1][-h:], rot]), SETTLE_SIGMA)[h:]
        smooth_rot = np.where((smooth_rot * rot).sum(-1, keepdims=True) < 0, -smooth_rot, smooth_rot)
        w = np.clip(2.0 - np.arange(n) / (SETTLE_FRAMES / 2), 0.0, 1.0)
        expected_root = root + w[:, None] * (smooth_root - root)
        eased = rot + w[:, None, None] * (smooth_rot - rot)
        expected_rot = np.where(w[:, None, None] > 0, eased / np.linalg.norm(eased, axis=-1, keepdims=True), rot)
        out_root, out_rot = settle(ctx, root, rot)
        np.testing.assert_array_equal(out_root, expected_root)
        np.testing.assert_allclose(out_rot, expected_rot, atol=1e-15)
