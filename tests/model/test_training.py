"""Training smoke runs: a few optimiser steps on a tiny synthetic data set, checkpoints, resume, export."""

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.core import rotations as R
from engine.core.skeleton import FPS, NUM_BODY_JOINTS
from engine.io.loading import load_model, read_embedded_config
from engine.model.representation import Normalizer, encode_features
from engine.model.text_encoders import TextFeatures
from engine.train import training
from engine.train.dataset import mirror_caption, mirror_twin_id
from engine.train.mocap.clip import MocapClip, mirror
from engine.train.training import (
    SMOKE,
    Recipe,
    Trainee,
    batch_loss,
    clip_weights,
    draw_batch,
    encode_captions,
    feature_statistics,
    geometric_terms,
    load_training_set,
    pool_kept_tokens,
    sentence_is_token_mean,
)


def synthetic_clip(frames: int, speed: float, hop: float) -> tuple[np.ndarray, np.ndarray]:
    """A body gliding forward at `speed` m/s, bobbing by `hop` m, legs swinging at 1 Hz."""
    t = np.arange(frames) / 30.0
    root = np.stack([np.zeros(frames), 0.95 + hop * np.abs(np.sin(np.pi * t)), speed * t], -1)
    rot = np.tile([0.0, 0.0, 0.0, 1.0], (frames, 22, 1))
    swing = 0.4 * np.sin(2 * np.pi * t)
    rot[:, 1] = R.axis_angle_to_quat(np.stack([swing, 0 * t, 0 * t], -1))
    rot[:, 2] = R.axis_angle_to_quat(np.stack([-swing, 0 * t, 0 * t], -1))
    return root, rot


def write_dataset(folder: Path) -> Path:
    (folder / "clips").mkdir(parents=True)
    entries = []
    for k, (name, speed, hop, caps) in enumerate([
        ("walk", 1.2, 0.0, ["a person walks forward", "someone walks ahead"]),
        ("hop", 0.3, 0.3, ["a person hops along", "someone bounces forward"]),
        ("run", 3.0, 0.05, ["a person runs", "someone sprints"]),
    ]):
        root, rot = synthetic_clip(50 + 10 * k, speed, hop)
        np.savez(folder / "clips" / f"{name}.npz", root=root.astype(np.float32), rotations=rot.astype(np.float32),
                 features=encode_features(root, rot).numpy())
        entries.append({"id": name, "take": name, "source": "synthetic", "captions": caps, "frames": len(root),
                        "mirrored": False, "file": f"clips/{name}.npz"})
    (folder / "index.json").write_text(json.dumps({"version": 1, "captions_version": 1, "fps": 30, "clips": entries}))
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data"))


def test_training_windows_are_canonical_and_padded(data_dir):
    data = load_training_set(data_dir, SMOKE.train_frames, stride=10)
    assert data.windows.shape[1:] == (SMOKE.train_frames, 201)
    assert len(data.clip_windows) == 3 and len(data.captions) == 6
    assert int(data.lengths.max()) == SMOKE.train_frames
    # Every window starts at the origin.
    np.testing.assert_allclose(data.windows[:, 0, [0, 2]].numpy(), 0.0, atol=1e-5)


def test_loss_is_finite_and_falls_on_a_fixed_batch(data_dir):
    torch.manual_seed(0)
    data = load_training_set(data_dir, SMOKE.train_frames, stride=10)
    norm = feature_statistics(data)
    text = encode_captions(data.captions, SMOKE, None)
    trainee = Trainee(SMOKE)
    opt = torch.optim.Adam(trainee.parameters(), lr=3e-3)
    x1 = norm.normalize(data.windows[:6])
    caps = text.select([0, 1, 2, 3, 4, 5])
    losses = []
    for _ in range(12):
        loss, parts = batch_loss(trainee, SMOKE, x1, data.lengths[:6], caps, torch.Generator().manual_seed(7),
                                 Recipe(cond_drop=0.0), norm)
        assert set(parts) == {"flow", "pos", "vel", "foot"}
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def standing_features(frames: int, drift: float = 0.0) -> torch.Tensor:
    """Features of the rest pose standing still, its root optionally drifting along +X at `drift` m/s."""
    t = np.arange(frames) / FPS
    root = np.stack([drift * t, np.full(frames, 0.95), np.zeros(frames)], -1)
    rot = np.tile([0.0, 0.0, 0.0, 1.0], (frames, NUM_BODY_JOINTS, 1))
    return encode_features(root, rot)[None].double()


def test_geometric_terms_are_zero_for_the_data_and_measure_a_sliding_body():
    still = standing_features(20)
    mask = torch.ones(1, 20, dtype=torch.bool)
    pos, vel, foot = geometric_terms(still, still, mask)
    assert pos.item() == pytest.approx(0, abs=1e-12) and vel.item() == pytest.approx(0, abs=1e-12)
    assert foot.item() == pytest.approx(0, abs=1e-12)
    # The same pose gliding at 0.5 m/s: every joint, and so every planted foot, is 0.5 m/s off.
    pos, vel, foot = geometric_terms(standing_features(20, drift=0.5), still, mask)
    assert vel.item() == pytest.approx(0.25, rel=1e-6)
    assert foot.item() == pytest.approx(0.25, rel=1e-6)
    assert pos.item() == pytest.approx(np.mean((0.5 * np.arange(20) / FPS) ** 2), rel=1e-6)
    # Frames outside the mask do not count.
    half = torch.arange(20)[None] < 1
    assert geometric_terms(standing_features(20, drift=0.5), still, half)[1].item() == 0.0


def test_geometric_terms_act_on_rotations_and_root_not_on_the_position_features():
    pred = standing_features(10, drift=0.2).clone().requires_grad_(True)
    pos, vel, foot = geometric_terms(pred, standing_features(10), torch.ones(1, 10, dtype=torch.bool))
    (pos + vel + foot).sum().backward()
    assert pred.grad[..., 0].abs().sum() > 0  # the root
    assert pred.grad[..., 3:135].abs().sum() > 0  # the 6D rotations (turning a leg moves the feet too)
    assert pred.grad[..., 135:].abs().sum() == 0  # the decoder ignores the position features, so does this


def test_clip_weights_boost_a_clip_whose_captions_are_rare(data_dir, tmp_path):
    import shutil

    folder = tmp_path / "data"
    shutil.copytree(data_dir, folder)
    index = json.loads((folder / "index.json").read_text())
    walk = index["clips"][0]
    for k in range(4):  # four more clips captioned like the walk
        index["clips"].append({**walk, "id": f"walk{k}", "captions": [f"a person walks forward {'slowly' * k}"]})
    (folder / "index.json").write_text(json.dumps(index))
    data = load_training_set(folder, SMOKE.train_frames, stride=10)
    weights = clip_weights(data, encode_captions(data.captions, SMOKE.with_(text_encoder="minilm"), None))
    assert weights.sum() == pytest.approx(1.0)
    assert weights[2] > 2 * weights[0], weights  # "a person runs" vs one of five walks


def write_mirrored_dataset(folder: Path) -> Path:
    """A symmetric walk and a shuffle to the left, each with its mirror twin, as `dataset build` writes them."""
    (folder / "clips").mkdir(parents=True)
    entries = []
    for name, caps, drift in (("walk", ["a person walks forward"], 0.0),
                              ("shuffle", ["someone shuffles to the left", "a sidestep toward the left"], 0.8)):
        root, rot = synthetic_clip(50, 1.0 - drift, 0.0)
        root[:, 0] = drift * np.arange(50) / FPS  # drifting toward +X, the body's left
        clip = MocapClip(name=name, root=root, rotations=rot, fps=FPS)
        twin = (mirror_twin_id(name), mirror(clip), [mirror_caption(t) for t in caps], True)
        for clip_id, c, texts, mirrored in ((name, clip, caps, False), twin):
            np.savez(folder / "clips" / f"{clip_id}.npz", root=c.root.astype(np.float32),
                     rotations=c.rotations.astype(np.float32), features=encode_features(c.root, c.rotations).numpy())
            entries.append({"id": clip_id, "take": name, "source": "synthetic", "captions": texts, "frames": 50,
                            "mirrored": mirrored, "file": f"clips/{clip_id}.npz"})
    (folder / "index.json").write_text(json.dumps({"version": 1, "captions_version": 1, "fps": 30, "clips": entries}))
    return folder


def test_mirrored_pairs_are_a_left_right_clip_and_its_mirror_image_in_the_same_slot(tmp_path):
    data = load_training_set(write_mirrored_dataset(tmp_path / "data"), SMOKE.train_frames, stride=5)
    assert data.twins.tolist() == [1, 0, 3, 2]
    assert data.directional_clips.tolist() == [2, 3]  # the walk says neither left nor right
    text = encode_captions(data.captions, SMOKE, None)
    rng = np.random.default_rng(3)
    for _ in range(5):
        x, lengths, caps, tied = draw_batch(data, text, rng, 8, pair_share=0.5)
        assert tied.tolist() == [0, 0, 2, 2, 4, 5, 6, 7]
        for first in (0, 2):
            a, b = x[first], x[first + 1]
            np.testing.assert_allclose(b[:, 0].numpy(), -a[:, 0].numpy(), atol=1e-5)  # root x reflected
            np.testing.assert_allclose(b[:, 1:3].numpy(), a[:, 1:3].numpy(), atol=1e-5)
            ids = [int(torch.nonzero((text.vtxt == caps.vtxt[r]).all(-1).all(-1))[0]) for r in (first, first + 1)]
            assert data.captions[ids[1]] == mirror_caption(data.captions[ids[0]]) != data.captions[ids[0]]
    assert draw_batch(data, text, rng, 8)[3].tolist() == list(range(8))  # no pairs unless asked


def live_trainee() -> Trainee:
    """A smoke-size trainee whose adaLN-zero gates and output layer have weights: at zero they pass no
    gradient back, and the tests below need gradients and text-dependent outputs."""
    trainee = Trainee(SMOKE)
    for module in trainee.modules():
        if isinstance(module, torch.nn.Linear) and not module.weight.any():
            torch.nn.init.normal_(module.weight, std=0.1)
    return trainee


def test_tied_rows_share_noise_time_and_dropout(data_dir):
    data = load_training_set(data_dir, SMOKE.train_frames, stride=10)
    text = encode_captions(data.captions, SMOKE, None)
    trainee = live_trainee()
    x1 = data.windows[[0, 0]]  # one window twice, so a row's loss depends only on the noise it gets
    recipe = Recipe(cond_drop=0.5, token_drop=0.3)

    def loss(tied: list[int]) -> float:
        with torch.no_grad():
            gen = torch.Generator().manual_seed(11)
            return batch_loss(trainee, SMOKE, x1, data.lengths[[0, 0]], text.select([0, 0]), gen, recipe,
                              Normalizer.identity(), torch.tensor(tied))[0].item()

    own, first, second = loss([0, 1]), loss([0, 0]), loss([1, 1])
    assert first != pytest.approx(second)  # the two rows' own draws differ…
    assert (first + second) / 2 == pytest.approx(own, rel=1e-5)  # …and a tied row takes its partner's, whole


def test_condition_dropout_uses_the_learned_null_features(data_dir):
    data = load_training_set(data_dir, SMOKE.train_frames, stride=10)
    text = encode_captions(data.captions, SMOKE, None)
    trainee = live_trainee()
    x1 = torch.randn(2, SMOKE.train_frames, 201)
    lengths = torch.tensor([SMOKE.train_frames] * 2)
    loss, _ = batch_loss(trainee, SMOKE, x1, lengths, text.select([0, 1]), torch.Generator().manual_seed(0),
                         Recipe(cond_drop=1.0), Normalizer.identity())
    loss.backward()
    assert trainee.null_ctxt.grad is not None and trainee.null_ctxt.grad.abs().sum() > 0
    assert trainee.null_vtxt.grad.abs().sum() > 0


def test_word_dropout_swaps_caption_tokens_for_the_null_token_and_keeps_the_sentence_vector(data_dir):
    data = load_training_set(data_dir, SMOKE.train_frames, stride=10)
    text = encode_captions(data.captions, SMOKE, None)
    x1 = torch.randn(2, SMOKE.train_frames, 201)
    lengths = torch.tensor([SMOKE.train_frames] * 2)

    def null_grads(token_drop: float) -> tuple[float, float]:
        trainee = live_trainee()
        loss, _ = batch_loss(trainee, SMOKE, x1, lengths, text.select([0, 1]), torch.Generator().manual_seed(0),
                             Recipe(cond_drop=0.0, token_drop=token_drop), Normalizer.identity())
        loss.backward()
        grad = lambda p: 0.0 if p.grad is None else float(p.grad.abs().sum())  # noqa: E731
        return grad(trainee.null_ctxt), grad(trainee.null_vtxt)

    assert null_grads(0.0) == (0.0, 0.0)  # captions as they are: the null features are not used
    ctxt, vtxt = null_grads(1.0)
    assert ctxt > 0 and vtxt == 0.0  # every token dropped, the sentence vector kept


def mean_pooled_features(batch: int, length: int, dim: int, seed: int = 0) -> TextFeatures:
    """Random token states with MiniLM's sentence vector: the normalised mean of the valid tokens."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, length + 1, (batch,), generator=gen)
    valid = torch.arange(length)[None] < lengths[:, None]
    ctxt = torch.randn(batch, length, dim, generator=gen) * valid[..., None]
    vtxt = torch.nn.functional.normalize(ctxt.sum(1) / lengths[:, None], dim=-1)[:, None]
    return TextFeatures(ctxt, lengths, vtxt)


def test_pooling_the_kept_tokens_averages_only_valid_kept_ones_and_falls_back_when_none_is_kept():
    text = mean_pooled_features(3, 6, 4)
    text.ctxt_length[:] = torch.tensor([4, 6, 5])
    kept = torch.ones(3, 6, dtype=torch.bool)
    kept[0, 1] = False  # row 0 loses its second word; position 5 is padding and must not count
    kept[2] = False  # row 2 loses every word
    fallback = torch.full_like(text.vtxt, 7.0)
    pooled = pool_kept_tokens(text.ctxt, text.ctxt_length, kept, fallback)
    want = torch.nn.functional.normalize(text.ctxt[0, [0, 2, 3]].mean(0), dim=-1)
    assert torch.allclose(pooled[0, 0], want, atol=1e-6)
    assert torch.allclose(pooled[1, 0], torch.nn.functional.normalize(text.ctxt[1].mean(0), dim=-1), atol=1e-6)
    assert torch.equal(pooled[2], fallback[2])


def test_sentence_vectors_are_recognised_as_token_means_only_when_they_are(data_dir):
    assert sentence_is_token_mean(mean_pooled_features(5, 8, 16))
    data = load_training_set(data_dir, SMOKE.train_frames, stride=10)
    assert not sentence_is_token_mean(encode_captions(data.captions, SMOKE, None))  # hash features: unrelated


def sentence_vector_fed(text: TextFeatures, recipe: Recipe, repool: bool = False) -> torch.Tensor:
    """The sentence vectors the network receives in one training step on these captions."""
    seen = []
    trainee = live_trainee()
    real_forward = trainee.network.forward
    trainee.network.forward = lambda *a, **k: seen.append(k["vtxt_input"].clone()) or real_forward(*a, **k)
    lengths = torch.tensor([SMOKE.train_frames] * text.batch)
    with torch.no_grad():
        batch_loss(trainee, SMOKE, torch.randn(text.batch, SMOKE.train_frames, 201), lengths, text,
                   torch.Generator().manual_seed(0), recipe, Normalizer.identity(), repool=repool)
    return seen[0]


def test_word_dropout_reaches_the_sentence_vector_when_it_is_the_token_mean():
    text = mean_pooled_features(2, SMOKE.text_max_length, 16, seed=3)
    recipe = Recipe(cond_drop=0.0, token_drop=0.5, vtxt_noise=0.0)
    whole, repooled = (sentence_vector_fed(text, recipe, repool) for repool in (False, True))
    assert torch.equal(whole, text.vtxt)  # without re-pooling the caption's own vector goes in
    assert not torch.allclose(repooled, text.vtxt, atol=1e-3)  # half the words gone: a different vector
    assert torch.allclose(repooled.norm(dim=-1), torch.ones(2, 1), atol=1e-5)


def test_sentence_vector_noise_moves_the_vector_by_about_its_norm_and_keeps_it_unit():
    text = mean_pooled_features(64, SMOKE.text_max_length, 16, seed=4)
    shaken = sentence_vector_fed(text, Recipe(cond_drop=0.0, token_drop=0.0, vtxt_noise=0.5))
    assert torch.allclose(shaken.norm(dim=-1), torch.ones(64, 1), atol=1e-5)
    cos = (shaken * text.vtxt).sum(-1)
    assert 0.8 < float(cos.mean()) < 0.95  # 1 / sqrt(1 + 0.5²) = 0.89 for noise of norm 0.5


def test_train_command_writes_logs_checkpoint_and_a_loadable_model_and_resumes(data_dir, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "run"
    parser = argparse.ArgumentParser()
    training.configure_parser(parser)
    args = parser.parse_args(["--data", str(data_dir), "--config", "smoke", "--out", str(out), "--steps", "4",
                              "--batch-size", "4"])
    assert training.run(args) == 0
    rows = list(csv.DictReader((out / "loss.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    summary = json.loads((out / "train.json").read_text())
    assert summary["steps"] == 4 and summary["recipe"]["seed"] == Recipe().seed
    assert summary["repooled_sentence_vectors"] is False  # hash features are no token means
    config = read_embedded_config(out / "smoke.safetensors")
    assert config["train_frames"] == SMOKE.train_frames and config["text_encoder"] == "hash"
    model = load_model(out / "smoke.safetensors", device="cpu")
    motion = model.generate("a person walks forward", seconds=1.0, seed=3, steps=3)[0]
    assert motion.rotations.shape == (30, 22, 4) and np.isfinite(motion.root).all()
    # Resume continues the step count and the same log.
    args = parser.parse_args(["--data", str(data_dir), "--config", "smoke", "--out", str(out), "--steps", "6",
                              "--batch-size", "4", "--resume"])
    assert training.run(args) == 0
    rows = list(csv.DictReader((out / "loss.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]


def test_training_is_deterministic_for_a_seed(data_dir, tmp_path):
    torch.set_num_threads(1)
    logs = []
    for run in ("a", "b"):
        training.train(data_dir, SMOKE, tmp_path / run, steps=3, recipe=Recipe(batch_size=4), log=lambda _m: None)
        logs.append([r["loss"] for r in csv.DictReader((tmp_path / run / "loss.csv").open())])
    assert logs[0] == logs[1]


def test_fine_tuning_starts_from_the_given_model_file_and_refuses_another_size(data_dir, tmp_path):
    torch.set_num_threads(1)
    quiet = {"recipe": Recipe(batch_size=4), "log": lambda _m: None}
    training.train(data_dir, SMOKE, tmp_path / "base", steps=3, **quiet)
    init = tmp_path / "base" / "smoke.safetensors"
    training.train(data_dir, SMOKE, tmp_path / "same", steps=0, init=init, **quiet)
    before = load_model(init, device="cpu", load_text_encoder=False)
    after = load_model(tmp_path / "same" / "smoke.safetensors", device="cpu", load_text_encoder=False)
    weights = after.network.state_dict()
    assert all(torch.equal(v, weights[k]) for k, v in before.network.state_dict().items())
    assert torch.equal(before.null_ctxt, after.null_ctxt) and torch.equal(before.null_vtxt, after.null_vtxt)
    wider = SMOKE.with_(network={**SMOKE.network, "feat_dim": 2 * SMOKE.network["feat_dim"]})
    with pytest.raises(ValueError, match="cannot be fine-tuned"):
        training.train(data_dir, wider, tmp_path / "wider", steps=1, init=init, **quiet)


def test_a_grown_network_computes_what_the_small_one_did_and_can_learn_more():
    from engine.model.dit import HunyuanMotionMMDiT
    from engine.train.training import grown_state

    torch.manual_seed(0)
    small = HunyuanMotionMMDiT(SMOKE.network).eval()
    c = small.config
    big = HunyuanMotionMMDiT({**c.to_dict(), "num_layers": 2 * c.num_layers}).eval()
    assert len(big.single_blocks) > len(small.single_blocks)
    big.load_state_dict(grown_state(small, big))
    x = torch.randn(2, 40, c.input_dim)
    ctxt, vtxt = torch.randn(2, 8, c.ctxt_input_dim), torch.randn(2, 1, c.vtxt_input_dim)
    t, xm, cm = torch.rand(2), torch.ones(2, 40, dtype=torch.bool), torch.ones(2, 8, dtype=torch.bool)
    assert torch.equal(small(x, ctxt, vtxt, t, xm, cm), big(x, ctxt, vtxt, t, xm, cm))
    # The new blocks are identity only through their zeroed gates: their other weights are live.
    out = big(x, ctxt, vtxt, t, xm, cm).square().mean()
    out.backward()
    gate = big.single_blocks[-1].modulation.linear.weight.grad
    assert gate is not None and gate.abs().sum() > 0
    with pytest.raises(ValueError, match="no counterpart"):
        grown_state(big, small)
