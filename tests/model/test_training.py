"""Training smoke runs: a few optimiser steps on a tiny synthetic data set, checkpoints, resume, export."""

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import rotations as R
from engine import training
from engine.loading import load_model, read_embedded_config
from engine.representation import encode_features
from engine.training import SMOKE, Recipe, Trainee, batch_loss, encode_captions, feature_statistics, load_training_set


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
        loss = batch_loss(trainee, SMOKE, x1, data.lengths[:6], caps, torch.Generator().manual_seed(7), 0.0)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_condition_dropout_uses_the_learned_null_features(data_dir):
    data = load_training_set(data_dir, SMOKE.train_frames, stride=10)
    text = encode_captions(data.captions, SMOKE, None)
    trainee = Trainee(SMOKE)
    # adaLN-zero starts with zero gates and output layer, which pass no gradient back; give them weights.
    for module in trainee.modules():
        if isinstance(module, torch.nn.Linear) and not module.weight.any():
            torch.nn.init.normal_(module.weight, std=0.1)
    x1 = torch.randn(2, SMOKE.train_frames, 201)
    lengths = torch.tensor([SMOKE.train_frames] * 2)
    batch_loss(trainee, SMOKE, x1, lengths, text.select([0, 1]), torch.Generator().manual_seed(0), 1.0).backward()
    assert trainee.null_ctxt.grad is not None and trainee.null_ctxt.grad.abs().sum() > 0
    assert trainee.null_vtxt.grad.abs().sum() > 0


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
