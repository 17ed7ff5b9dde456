"""DiTMotionModel end to end on the tiny random model: exactness, determinism, batching, cancellation,
previews, decoding, long clips and clip options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.core import rotations as R
from engine.core.skeleton import NUM_BODY_JOINTS
from engine.model.generation import Cancelled, GenerationError, GenerationRequest
from engine.model.representation import decode_features, encode_features
from engine.model.testing import tiny_random_model
from engine.model.text_encoders import TextEncoderError
from engine.model.windows import seed_noise
from engine.post.postprocess import PostProcess

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    return tiny_random_model(seed=0)


@pytest.fixture(scope="module")
def features(model):
    return model.encode_text(["a person walks forward", "jump", "a slow careful sideways shuffle to the left"])


def _batch_sizes(model):
    """Record the batch size of every network call (a spy; the network itself runs unchanged)."""
    sizes: list[int] = []
    original = model.network.forward

    def spy(*args, **kwargs):
        sizes.append(kwargs["x"].shape[0])
        return original(*args, **kwargs)

    return sizes, spy, original


def test_seed_noise_is_upstreams_cpu_generator_recipe():
    noise = seed_noise([3, 11], 360)
    expected = torch.cat([torch.randn((1, 360, 201), generator=torch.Generator().manual_seed(s)) for s in (3, 11)])
    assert torch.equal(noise, expected)


def test_exact_short_path_equals_padded_360_path(model, features):
    frames = [150, 61, 233]
    kwargs = dict(frames=frames, seeds=[0, 1, 2], steps=8, cfg=5.0)
    try:
        model.exact_crop = True
        short = model.sample_latent(features.ctxt, features.ctxt_length, features.vtxt, **kwargs)
        model.exact_crop = False
        padded = model.sample_latent(features.ctxt, features.ctxt_length, features.vtxt, **kwargs)
    finally:
        model.exact_crop = True
    for a, b, n in zip(short, padded, frames, strict=True):
        assert a.shape == b.shape == (n, 201)
        assert (a - b).abs().max() < 1e-5


def test_same_seed_same_motion_and_different_seeds_differ(model):
    a = model.generate("wave with the right hand", seconds=2.0, seed=7, steps=10)[0]
    b = model.generate("wave with the right hand", seconds=2.0, seed=7, steps=10)[0]
    c = model.generate("wave with the right hand", seconds=2.0, seed=8, steps=10)[0]
    assert np.array_equal(a.rotations, b.rotations) and np.array_equal(a.root, b.root)
    assert not np.allclose(a.rotations, c.rotations, atol=1e-3)
    assert (a.seed, c.seed, a.text, a.fps, a.frames) == (7, 8, "wave with the right hand", 30, 60)


def test_samples_use_consecutive_seeds(model):
    motions = model.generate("kick", seconds=1.0, seed=4, samples=2, steps=6)
    single = model.generate("kick", seconds=1.0, seed=5, steps=6)[0]
    assert [m.seed for m in motions] == [4, 5]
    assert np.allclose(motions[1].rotations, single.rotations, atol=1e-5)


def test_mixed_lengths_in_one_batch_equal_separate_runs(model):
    requests = [GenerationRequest("run", 2.0, 1, 1, 6, 5.0), GenerationRequest("sit down", 4.5, 2, 1, 6, 5.0)]
    together = model.generate_batch(requests)
    alone = [model.generate_batch([r])[0] for r in requests]
    for t, a, frames in zip(together, alone, (60, 135), strict=True):
        assert t[0].frames == frames
        assert np.allclose(t[0].rotations, a[0].rotations, atol=1e-5)


def test_cancelling_one_request_drops_its_rows_and_keeps_the_others(model, monkeypatch):
    sizes, spy, _ = _batch_sizes(model)
    monkeypatch.setattr(model.network, "forward", spy)
    requests = [GenerationRequest("walk", 2.0, 0, 2, 10, 5.0), GenerationRequest("dance", 3.0, 5, 1, 10, 5.0)]
    steps_seen = []
    results = model.generate_batch(
        requests,
        on_step=lambda e: steps_seen.append(e.step),
        cancelled=lambda i: i == 0 and len(steps_seen) >= 3,
    )
    assert results[0] is None
    assert len(results[1]) == 1 and results[1][0].frames == 90
    # 3 rows × 2 (CFG) for three steps, then only request 1's row × 2.
    assert sizes == [6, 6, 6] + [2] * 7
    monkeypatch.undo()
    alone = model.generate_batch([requests[1]])[0][0]
    assert np.allclose(results[1][0].rotations, alone.rotations, atol=1e-5)


def test_cancelling_the_whole_batch_raises_cancelled(model):
    requests = [GenerationRequest("walk", 2.0, 0, 1, 10, 5.0), GenerationRequest("run", 2.0, 1, 1, 10, 5.0)]
    count = []
    with pytest.raises(Cancelled):
        model.generate_batch(requests, on_step=lambda e: count.append(e.step), cancelled=lambda i: len(count) >= 2)
    assert count == [1, 2]
    with pytest.raises(Cancelled):
        model.generate("walk", seconds=1.0, steps=10, cancel=lambda: True)


def test_step_events_count_steps_and_previews_decode_the_current_estimate(model):
    events = []
    requests = [GenerationRequest("spin around", 1.5, 3, 1, 5, 5.0), GenerationRequest("crawl", 2.5, 4, 2, 5, 5.0)]
    results = model.generate_batch(requests, on_step=events.append)
    assert [(e.step, e.steps) for e in events] == [(i, 5) for i in range(1, 6)]
    early = events[0].preview(1)
    assert [m.frames for m in early] == [75, 75] and [m.seed for m in early] == [4, 5]
    last = events[-1].preview(0)[0]
    # At the last step the clean estimate is the final state; the final clip adds only post-processing.
    final_raw = model.generate("spin around", seconds=1.5, seed=3, steps=5)[0]
    assert last.frames == final_raw.frames == results[0][0].frames
    unprocessed = model.decode(
        model.sample_latent(*_features_tuple(model, "spin around"), frames=45, seeds=[3], steps=5),
        PostProcess.none(),
    )[0]
    assert np.allclose(last.rotations, unprocessed.rotations, atol=1e-5)


def _features_tuple(model, prompt):
    f = model.encode_text([prompt])
    return f.ctxt, f.ctxt_length, f.vtxt


def test_text_free_sampling_end_to_end():
    model = tiny_random_model(seed=1)
    model.text_encoder = None
    with pytest.raises(TextEncoderError, match="without a text encoder"):
        model.encode_text(["walk"])
    g = torch.Generator().manual_seed(0)
    ctxt, vtxt = torch.randn(2, 8, 16, generator=g), torch.randn(2, 1, 16, generator=g)
    latent = model.sample_latent(ctxt, torch.tensor([3, 8]), vtxt, frames=150, seeds=[0, 1], steps=50, cfg=5.0)
    assert latent.shape == (2, 150, 201) and torch.isfinite(latent).all()
    motions = model.decode(latent)
    assert len(motions) == 2 and motions[0].rotations.shape == (150, NUM_BODY_JOINTS, 4)
    assert np.allclose(np.linalg.norm(motions[0].rotations, axis=-1), 1.0, atol=1e-5)


def test_decode_of_a_known_latent_returns_its_root_and_rotations(model):
    frames = 12
    rng = np.random.default_rng(3)
    quats = R.quat_normalize(rng.normal(size=(frames, NUM_BODY_JOINTS, 4)))
    root = rng.normal(size=(frames, 3)) * 0.2 + np.array([0.0, 0.95, 0.0])
    latent = model.normalizer.normalize(encode_features(root, quats))
    motion = model.decode(latent, PostProcess.none())[0]
    assert np.allclose(motion.root, root, atol=1e-5)
    assert np.allclose(np.abs((motion.rotations * quats).sum(-1)), 1.0, atol=1e-5)


def test_bf16_network_runs_the_whole_pipeline_on_cpu():
    model = tiny_random_model(seed=2)
    reference = model.generate("walk", seconds=2.0, seed=0, steps=10)[0]
    model.network.to(torch.bfloat16)
    assert model.dtype == torch.bfloat16
    motion = model.generate("walk", seconds=2.0, seed=0, steps=10)[0]
    assert np.isfinite(motion.rotations).all() and motion.frames == reference.frames
    dots = np.abs((motion.rotations * reference.rotations).sum(-1)).clip(0, 1)
    assert np.degrees(2 * np.arccos(dots)).mean() < 5.0


def test_bad_settings_are_typed_errors(model):
    with pytest.raises(GenerationError, match="share steps and cfg"):
        model.generate_batch([GenerationRequest("a", steps=5), GenerationRequest("b", steps=6)])
    with pytest.raises(GenerationError, match="at most"):
        model.generate("a", seconds=model.max_seconds + 1)
    with pytest.raises(GenerationError, match="steps"):
        model.generate("a", steps=0)


# ---------------------------------------------------------------- long clips


class SmoothingField(nn.Module):
    """An analytic stand-in for the DiT: flows every state toward its own moving average, so samples are smooth
    curves and any discontinuity at a window join comes from the windowing, not from the field."""

    def forward(
        self, x, ctxt_input, vtxt_input, timesteps, x_mask_temporal, ctxt_mask_temporal, text_position_offset=None
    ):
        width = 15
        padded = F.pad(x.transpose(1, 2), (width, width), mode="replicate")
        smooth = F.avg_pool1d(padded, 2 * width + 1, stride=1).transpose(1, 2)
        return (smooth - x) / (1 - timesteps[:, None, None]).clamp_min(0.02)


def _jump_ratio(world: torch.Tensor, joins: list[int]) -> float:
    """Largest frame-to-frame change next to the joins over the 99th percentile of changes elsewhere."""
    step = world.diff(dim=0).abs().amax(dim=-1)
    near = torch.zeros_like(step, dtype=torch.bool)
    for j in joins:
        near[j - 3 : j + 3] = True
    return float(step[near].max() / torch.quantile(step[~near], 0.99))


def test_long_clip_has_no_velocity_spike_at_the_joins():
    model = tiny_random_model()
    model.network = SmoothingField()
    model.overlap_frames = 60
    f = model.encode_text(["walk in a circle"])
    frames = 900
    plan = model.window_plan(frames)
    assert plan == [(0, 360), (300, 360), (600, 300)]
    latent = model.sample_latent(f.ctxt, f.ctxt_length, f.vtxt, frames=frames, seeds=[0], steps=20, cfg=1.0)[0]
    world = model.normalizer.denormalize(latent)
    joins = [start for start, _ in plan[1:]] + [start + model.overlap_frames for start, _ in plan[1:]]
    assert _jump_ratio(world, joins) < 2.0
    # The same field with windows simply concatenated shows the spike this test looks for.
    a = model.sample_latent(f.ctxt, f.ctxt_length, f.vtxt, frames=360, seeds=[0], steps=20, cfg=1.0)[0]
    b = model.sample_latent(f.ctxt, f.ctxt_length, f.vtxt, frames=300, seeds=[1], steps=20, cfg=1.0)[0]
    naive = model.normalizer.denormalize(torch.cat([a, b]))
    assert _jump_ratio(naive, [360]) > 4.0


def test_long_clip_first_window_is_the_single_window_clip():
    model = tiny_random_model()
    model.network = SmoothingField()
    f = model.encode_text(["walk"])
    long = model.sample_latent(f.ctxt, f.ctxt_length, f.vtxt, frames=500, seeds=[2], steps=10, cfg=1.0)[0]
    short = model.sample_latent(f.ctxt, f.ctxt_length, f.vtxt, frames=360, seeds=[2], steps=10, cfg=1.0)[0]
    assert torch.allclose(long[:300], short[:300], atol=1e-5)


def test_long_and_short_requests_share_a_batch_call_with_one_step_count(model):
    events = []
    results = model.generate_batch(
        [GenerationRequest("walk a long way", 14.0, 0, 1, 4, 5.0), GenerationRequest("wave", 2.0, 1, 1, 4, 5.0)],
        on_step=events.append,
    )
    assert results[0][0].frames == 420 and results[1][0].frames == 60
    assert np.isfinite(results[0][0].rotations).all()
    # one short batch (4 steps) + two windows of the long clip (4 steps each)
    assert [e.step for e in events] == list(range(1, 13)) and {e.steps for e in events} == {12}


# ---------------------------------------------------------------- in place, loop


def test_clip_options_apply_through_generate(model):
    plain = model.generate("jog", seconds=2.0, seed=3, steps=5)[0]
    motion = model.generate("jog", seconds=2.0, seed=3, steps=5, in_place=True, loop=True)[0]
    assert np.allclose(motion.root[:, [0, 2]], 0.0)
    assert np.allclose(motion.root[-1], motion.root[0], atol=1e-5)
    assert np.allclose(np.abs((motion.rotations[-1] * motion.rotations[0]).sum(-1)), 1.0, atol=1e-5)
    assert np.allclose(motion.rotations[:30], plain.rotations[:30])
    batch = model.generate_batch([GenerationRequest("jog", 2.0, 3, 1, 5, None, in_place=True)])[0][0]
    assert np.allclose(batch.root[:, [0, 2]], 0.0) and np.allclose(batch.root[:, 1], plain.root[:, 1])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_stays_within_one_degree_of_fp32():
    reference = tiny_random_model(seed=5, device="cuda").generate("walk", seconds=5.0, seed=0)[0]
    model = tiny_random_model(seed=5, device="cuda")
    model.network.to(torch.bfloat16)
    motion = model.generate("walk", seconds=5.0, seed=0)[0]
    dots = np.abs((motion.rotations * reference.rotations).sum(-1)).clip(0, 1)
    assert np.degrees(2 * np.arccos(dots)).mean() < 1.0


def test_window_frame_change_puts_the_tail_at_the_origin_facing_z_and_inverts_exactly():
    from engine.model.windows import root_heading_frame, to_local, to_world

    rng = np.random.default_rng(0)
    quats = R.quat_normalize(rng.normal(size=(10, NUM_BODY_JOINTS, 4)))
    quats[:, 0] = R.quat_from_yaw(np.full(10, 2.1))  # root turned 120° about +Y
    root = np.column_stack([np.full(10, 3.0), np.full(10, 0.9), np.linspace(-2.0, -1.0, 10)])
    world = encode_features(root, quats).double()
    yaw, origin = root_heading_frame(world[0])
    assert float(yaw) == pytest.approx(2.1)
    local = to_local(world, yaw, origin)
    assert local[0, 0].item() == pytest.approx(0.0, abs=1e-9) and local[0, 2].item() == pytest.approx(0.0, abs=1e-9)
    assert local[0, 1].item() == pytest.approx(0.9)
    assert float(root_heading_frame(local[0])[0]) == pytest.approx(0.0, abs=1e-9)
    assert torch.allclose(to_world(local, yaw, origin), world, atol=1e-9)
    # positions, root orientation and root translation move together: FK of the moved pose gives the moved joints
    root_local, quats_local = decode_features(local)
    assert torch.allclose(encode_features(root_local, quats_local).double(), local, atol=1e-5)
