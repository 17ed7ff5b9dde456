"""Foot locking: planted feet hold still, everything else keeps its motion, swinging feet are left alone."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core import rotations as R
from engine.core.skeleton import BODY_JOINTS, FPS, NUM_BODY_JOINTS, SMPLH_BODY
from engine.post.footlock import LEGS, FootLock, carried_speed, lock_feet, planted_runs, two_bone_ik
from engine.post.postprocess import PostProcess, apply, lift_to_ground

J = {name: i for i, name in enumerate(BODY_JOINTS)}


def crouch(frames: int, drift: float) -> tuple[np.ndarray, np.ndarray]:
    """Knees bent (so a leg can still reach), the pelvis gliding forward at `drift` m/s, feet near the floor:
    a sliding stand, the typical artefact."""
    rot = np.tile([0.0, 0.0, 0.0, 1.0], (frames, NUM_BODY_JOINTS, 1))
    for side in ("left", "right"):
        rot[:, J[f"{side}_hip"]] = R.axis_angle_to_quat(np.array([-0.5, 0.0, 0.0]))
        rot[:, J[f"{side}_knee"]] = R.axis_angle_to_quat(np.array([1.0, 0.0, 0.0]))
        rot[:, J[f"{side}_ankle"]] = R.axis_angle_to_quat(np.array([-0.5, 0.0, 0.0]))
    rot[:, J["left_shoulder"]] = R.axis_angle_to_quat(np.stack([np.zeros(frames), np.zeros(frames),
                                                                np.linspace(0, 1, frames)], -1))
    root = np.stack([np.zeros(frames), np.full(frames, 0.9), drift * np.arange(frames) / FPS], -1)
    return lift_to_ground(root, rot), rot


def positions(root: np.ndarray, rot: np.ndarray) -> np.ndarray:
    return R.forward_kinematics(rot, root, SMPLH_BODY.offsets, SMPLH_BODY.parents)[0]


def test_two_bone_ik_reaches_every_reachable_target_and_keeps_bone_lengths():
    rng = np.random.default_rng(0)
    n = 300
    hip = rng.normal(size=(n, 3))
    knee = hip + [0.0, -0.4, 0.05] + 0.1 * rng.normal(size=(n, 3))
    ankle = knee + [0.0, -0.4, -0.05] + 0.1 * rng.normal(size=(n, 3))
    thigh, shin = np.linalg.norm(knee - hip, axis=1), np.linalg.norm(ankle - knee, axis=1)
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    reach = np.abs(thigh - shin) + (thigh + shin - np.abs(thigh - shin)) * rng.uniform(0.05, 0.95, n)
    target = hip + direction * reach[:, None]
    thigh_q, shin_q = two_bone_ik(hip, knee, ankle, target, np.tile([1.0, 0.0, 0.0], (n, 1)))
    new_knee = hip + R.quat_apply(thigh_q, knee - hip)
    new_ankle = new_knee + R.quat_apply(R.quat_mul(thigh_q, shin_q), ankle - knee)
    np.testing.assert_allclose(new_ankle, target, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(new_knee - hip, axis=1), thigh, atol=1e-12)


def test_out_of_reach_target_straightens_the_leg_toward_it():
    hip, knee, ankle = np.zeros((1, 3)), np.array([[0.0, -0.4, 0.1]]), np.array([[0.0, -0.8, 0.0]])
    target = np.array([[0.0, -2.0, 1.0]])
    thigh_q, shin_q = two_bone_ik(hip, knee, ankle, target, np.array([[1.0, 0.0, 0.0]]))
    new_knee = R.quat_apply(thigh_q, knee - hip)
    new_ankle = new_knee + R.quat_apply(R.quat_mul(thigh_q, shin_q), ankle - knee)
    direction = target / np.linalg.norm(target)
    legs = np.linalg.norm(knee) + np.linalg.norm(ankle - knee)
    np.testing.assert_allclose(new_ankle, direction * legs, atol=1e-3)


def test_planted_runs_need_a_low_slow_foot_bridge_short_gaps_and_never_merge():
    frames = 40
    ankle = np.zeros((frames, 3))
    ankle[:, 1] = 0.065  # rest-stance height
    ankle[10:20, 2] = np.linspace(0.0, 1.0, 10)  # sliding forward along the floor at 3 m/s
    ankle[20:, 2] = 1.0
    ankle[30, 1] = 0.5  # one frame in the air: bridged
    toe = ankle + [0.0, -0.05, 0.13]
    (a0, a1), (b0, b1) = planted_runs(ankle, toe, 0.065, 0.015, FootLock(grow=0))
    assert a0 == 0 and 8 <= a1 <= 11 and 19 <= b0 <= 21 and b1 == frames
    # Grown over the low slide, the two contacts still stay two, with a free frame between them.
    (c0, c1), (d0, d1) = planted_runs(ankle, toe, 0.065, 0.015, FootLock(grow=6))
    assert c0 == 0 and c1 > a1 and d0 < b0 and c1 < d0 and d1 == frames
    # The same path a metre up is never planted.
    assert planted_runs(ankle + [0.0, 1.0, 0.0], toe + [0.0, 1.0, 0.0], 0.065, 0.015, FootLock()) == []


def test_a_low_foot_slower_than_the_body_carrying_it_is_planted_a_faster_one_swings():
    frames = 40
    ankle = np.zeros((frames, 3))
    ankle[:, 1] = 0.065
    ankle[:, 2] = 3.0 * np.arange(frames) / FPS  # 3 m/s along the floor
    toe = ankle + [0.0, -0.05, 0.13]
    body_running = np.full(frames, 4.0)  # the pelvis would carry it at 4 m/s: it slides back, it is a stance
    body_walking = np.full(frames, 1.2)  # the pelvis would carry it at 1.2 m/s: it overtakes, it swings
    assert planted_runs(ankle, toe, 0.065, 0.015, FootLock(), carried=body_running) == [(0, frames)]
    assert planted_runs(ankle, toe, 0.065, 0.015, FootLock(), carried=body_walking) == []
    assert planted_runs(ankle, toe, 0.065, 0.015, FootLock(body_speed=0.0), carried=body_running) == []


def test_carried_speed_follows_the_pelvis_turning_and_moving():
    frames = 30
    spin = 2 * np.pi  # one turn a second about the vertical
    yaw = spin * np.arange(frames) / FPS
    pelvis_rot = R.axis_angle_to_quat(np.stack([np.zeros(frames), yaw, np.zeros(frames)], -1))
    pelvis = np.stack([0.5 * np.arange(frames) / FPS, np.full(frames, 0.9), np.zeros(frames)], -1)  # 0.5 m/s along x
    planted = np.tile([0.3, 0.0, 0.0], (frames, 1))  # a foot still on the floor, wherever the pelvis goes
    carried = carried_speed(planted, pelvis, pelvis_rot, sigma=0.0)
    # Fixed to the pelvis, the foot would move with it and circle it; the first step is exact.
    rel = planted[0] - pelvis[0]
    step = R.quat_apply(pelvis_rot[1], R.quat_apply(R.quat_conjugate(pelvis_rot[0]), rel)) + pelvis[1] - planted[0]
    assert carried[0] == pytest.approx(np.linalg.norm(step[[0, 2]]) * FPS, rel=0.05)
    assert carried.min() > 0.5  # it is carried faster than the pelvis alone moves
    np.testing.assert_allclose(carried_speed(pelvis + rel, pelvis, np.tile([0.0, 0.0, 0.0, 1.0], (frames, 1)),
                                             sigma=0.0), 0.5, atol=1e-9)


def test_a_trembling_planted_foot_is_found_on_its_smoothed_path_a_moving_one_is_not():
    frames = 40
    ankle = np.zeros((frames, 3))
    ankle[:, 1] = 0.065
    ankle[:, 0] = 0.04 * (np.arange(frames) % 2)  # planted, but 4 cm from side to side every frame: 1.2 m/s raw
    toe = ankle + [0.0, -0.05, 0.13]
    raw, smoothed = FootLock(speed=1.0, speed_sigma=0.0), FootLock(speed=1.0, speed_sigma=2.0)
    assert planted_runs(ankle, toe, 0.065, 0.015, raw) == []
    assert planted_runs(ankle, toe, 0.065, 0.015, smoothed) == [(0, frames)]
    ankle[:, 2] = 2.0 * np.arange(frames) / FPS  # the same tremble on a foot skimming forward at 2 m/s
    assert planted_runs(ankle, ankle + [0.0, -0.05, 0.13], 0.065, 0.015, smoothed) == []


def test_lock_feet_holds_sliding_planted_feet_and_keeps_the_rest_of_the_body():
    root, rot = crouch(24, drift=0.4)
    before = positions(root, rot)
    for side, (_, _, ankle, _) in LEGS.items():
        assert np.ptp(before[:, ankle, 2]) > 0.25, side  # the feet slide with the pelvis
    locked = lock_feet(root, rot)
    after = positions(root, locked)
    for _, _, ankle, toe in LEGS.values():
        for joint in (ankle, toe):
            horizontal = after[:, joint][:, [0, 2]]
            assert np.abs(horizontal - horizontal[0]).max() < 1e-3
    np.testing.assert_allclose(np.linalg.norm(after[:, J["left_knee"]] - after[:, J["left_hip"]], axis=1),
                               np.linalg.norm(SMPLH_BODY.offsets[J["left_knee"]]), atol=1e-9)
    untouched = [j for j in range(NUM_BODY_JOINTS) if j not in {i for leg in LEGS.values() for i in leg[:3]}]
    np.testing.assert_allclose(locked[:, untouched], rot[:, untouched], atol=1e-12)
    np.testing.assert_allclose(after[:, J["pelvis"]], before[:, J["pelvis"]], atol=1e-12)


def test_fixed_frames_stay_and_a_contact_across_them_holds_their_last_spot():
    """A continuation's given frames are final: unchanged, and the foot planted across the join stays where
    their last frame put it (not at a spot of the contact's own choosing)."""
    root, rot = crouch(24, drift=0.4)
    fixed = 6
    locked = lock_feet(root, rot, fixed=fixed)
    np.testing.assert_array_equal(locked[:fixed], R.quat_normalize(np.asarray(rot[:fixed], np.float64)))
    before, after = positions(root, rot), positions(root, locked)
    for _, _, ankle, _ in LEGS.values():
        spot = before[fixed - 1, ankle, [0, 2]]
        assert np.abs(after[fixed:, ankle][:, [0, 2]] - spot).max() < 1e-3
    # Without `fixed` the whole contact holds one spot of its own, and the first frames move.
    assert np.abs(lock_feet(root, rot)[:fixed] - rot[:fixed]).max() > 1e-3


def test_a_contact_starting_at_the_first_free_frame_does_not_snap_the_foot_there():
    """A foot that touches down exactly at a continuation's first free frame, still sliding (a run slowing to
    its plant), must not be pulled at once to the spot where the contact is slowest: with no free frame before
    it to ease in over, that pull snapped a foot a metre in one frame (~30 m/s) at live mode's joins."""
    frames, fixed = 30, 6
    root, rot = crouch(frames, drift=0.0)
    speed = np.concatenate([np.full(fixed, 1.0), np.linspace(1.0, 0.0, frames - fixed)])  # m/s, slowing down
    root[:, 2] = np.concatenate([[0.0], np.cumsum(speed[1:]) / FPS])
    root[:fixed, 1] += 0.3  # in the air until the first free frame
    before, after = positions(root, rot), positions(root, lock_feet(root, rot, fixed=fixed))
    for _, _, ankle, _ in LEGS.values():
        given = np.linalg.norm(before[fixed, ankle, [0, 2]] - before[fixed - 1, ankle, [0, 2]])
        step = np.linalg.norm(after[fixed, ankle, [0, 2]] - after[fixed - 1, ankle, [0, 2]])
        assert step < given + 0.01  # the pull snapped it 0.4 m (12 m/s) in one frame
        # Such a contact is left as it was made, like one starting within the blend after the given frames.
        np.testing.assert_allclose(after[fixed:, ankle], before[fixed:, ankle], atol=1e-9)


def test_lock_feet_leaves_airborne_feet_alone():
    root, rot = crouch(24, drift=0.4)
    root = root + [0.0, 0.5, 0.0]  # half a metre up: nothing is planted
    np.testing.assert_allclose(lock_feet(root, rot), rot, atol=1e-12)


def test_the_foot_moves_between_two_close_contacts_instead_of_jumping():
    frames = 30
    root, rot = crouch(frames, drift=0.4)
    root[12:16, 1] += 0.08  # a little hop: four frames with both feet off the floor
    before = positions(root, rot)
    after = positions(root, lock_feet(root, rot))
    for _, _, ankle, _ in LEGS.values():
        spots = after[[0, 29], ankle][:, [0, 2]]
        apart = np.linalg.norm(before[16, ankle, [0, 2]] - before[0, ankle, [0, 2]])
        assert np.linalg.norm(after[11, ankle, [0, 2]] - spots[0]) < 1e-3  # first contact held
        assert np.linalg.norm(after[16, ankle, [0, 2]] - after[29, ankle, [0, 2]]) < 1e-3  # second contact held
        steps = np.linalg.norm(np.diff(after[11:17, ankle][:, [0, 2]], axis=0), axis=1)
        assert steps.max() < 0.25 * apart  # spread over the hop (the max-weight lock moved 0.42 at once)


def test_post_process_runs_the_foot_lock_when_asked():
    root, rot = crouch(24, drift=0.4)
    settings = PostProcess(smooth_rotations=False, smooth_translation=False, lift_to_ground=True)
    plain = apply(root, rot, settings)
    locked = apply(root, rot, PostProcess(smooth_rotations=False, smooth_translation=False, foot_lock=True))
    ankle = J["left_ankle"]
    assert np.ptp(positions(*plain)[:, ankle, 2]) > 0.25
    assert np.ptp(positions(*locked)[:, ankle, 2]) < 1e-3


def test_post_process_settings_from_a_dict_reject_unknown_names():
    settings = PostProcess(sigma=2.0, translation_sigma=1.5, foot_lock=True)
    assert PostProcess.from_dict(settings.to_dict()) == settings
    with pytest.raises(ValueError, match="melt_feet"):
        PostProcess.from_dict({"melt_feet": True})
