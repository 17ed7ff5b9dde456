"""Checkpoint safety and formats: refused pickles, the upstream folder layout, convert, embedded files."""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np
import pytest
import torch
import yaml

import engine
from engine.io import checkpoint_convert
from engine.io.checkpoint import (
    PUBLISHED_STATS_SHA256,
    CheckpointError,
    StatsChecksumError,
    UnsafeCheckpointError,
    WeightsMismatchError,
    check_stats,
    load_torch_checkpoint,
    locate,
    read_config,
    sha256_of,
)
from engine.io.loading import (
    ModelNotFoundError,
    load_embedded_model,
    read_embedded_config,
    save_embedded_model,
)
from engine.model.configs import TEST
from engine.model.dit import HunyuanMotionMMDiT
from engine.model.testing import tiny_random_model
from engine.model.text_encoders import TextEncoderError

torch.set_num_threads(1)


class Payload:
    """Unpickling this object calls Path.touch on a marker file: proof that code ran."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_checkpoint_that_needs_code_is_refused_and_its_payload_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "latest.ckpt"
    torch.save({"model_state_dict": {"w": torch.zeros(2)}, "extra": Payload(marker)}, evil)
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        load_torch_checkpoint(evil)
    assert not marker.exists()
    # The crafted file really carries a live payload: a full unpickle would have run it.
    torch.load(evil, weights_only=False)
    assert marker.exists()


def _write_hymotion_dir(root: pathlib.Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A folder in the upstream layout with the tiny test config, random weights and stats one level up."""
    model_dir = root / "HY-Motion-1.0"
    model_dir.mkdir(parents=True)
    config = {
        "network_module": "hymotion/network/hymotion_mmdit.HunyuanMotionMMDiT",
        "network_module_args": TEST.network,
        "train_pipeline": "hymotion/pipeline/motion_diffusion.MotionFlowMatching",
        "train_pipeline_args": {
            "train_frames": 360,
            "enable_ctxt_null_feat": True,
            "infer_noise_scheduler_cfg": {"validation_steps": 12},
            "test_cfg": {"text_guidance_scale": 4.0},
            "text_encoder_cfg": {"llm_type": "qwen3", "max_length_llm": 8},
        },
    }
    (model_dir / "config.yml").write_text(yaml.safe_dump(config))
    torch.manual_seed(seed)
    net = HunyuanMotionMMDiT(TEST.network)
    state = {f"motion_transformer.{k}": torch.randn_like(v) * 0.1 for k, v in net.state_dict().items()}
    state["null_vtxt_feat"] = torch.randn(1, 1, 16)
    state["null_ctxt_input"] = torch.randn(1, 1, 16)
    state["special_game_vtxt_feat"] = torch.randn(1, 1, 16)
    torch.save({"model_state_dict": state}, model_dir / "latest.ckpt")
    (root / "stats").mkdir()
    np.save(root / "stats" / "Mean.npy", np.zeros((1, 201), dtype=np.float32))
    np.save(root / "stats" / "Std.npy", np.full((1, 201), 0.2, dtype=np.float32))
    return state


def test_upstream_config_yml_is_read(tmp_path):
    _write_hymotion_dir(tmp_path)
    cfg = read_config(tmp_path / "HY-Motion-1.0" / "config.yml")
    assert (cfg.default_steps, cfg.default_cfg, cfg.text_max_length, cfg.train_frames) == (12, 4.0, 8, 360)
    assert cfg.network["feat_dim"] == 32 and cfg.name == "HY-Motion-1.0"


def test_hymotion_folder_loads_and_samples_without_text_encoder(tmp_path):
    state = _write_hymotion_dir(tmp_path)
    model = engine.load_model(tmp_path / "HY-Motion-1.0", device="cpu", load_text_encoder=False, verify_stats=False)
    assert torch.equal(model.network.final_layer.linear.weight, state["motion_transformer.final_layer.linear.weight"])
    assert torch.equal(model.null_vtxt.cpu(), state["null_vtxt_feat"])
    assert (model.default_steps, model.default_cfg, model.name) == (12, 4.0, "HY-Motion-1.0")
    latent = model.sample_latent(torch.randn(1, 8, 16), torch.tensor([4]), torch.randn(1, 1, 16), 30, [0], steps=3)
    assert latent.shape == (1, 30, 201)


def test_statistics_that_are_not_the_published_files_are_refused_with_what_to_do(tmp_path):
    _write_hymotion_dir(tmp_path)
    with pytest.raises(StatsChecksumError, match=r"Mean\.npy is not HY-Motion 1\.0's published file") as caught:
        engine.load_model(tmp_path / "HY-Motion-1.0", device="cpu", load_text_encoder=False)
    assert PUBLISHED_STATS_SHA256["Mean.npy"] in str(caught.value) and "fetch-weights" in str(caught.value)
    stats = tmp_path / "stats"
    check_stats(stats, {name: sha256_of(stats / name) for name in ("Mean.npy", "Std.npy")})  # the files' own digests
    np.save(stats / "Std.npy", np.full((1, 201), 0.3, dtype=np.float32))
    with pytest.raises(StatsChecksumError, match=r"Std\.npy"):
        check_stats(stats, {"Mean.npy": sha256_of(stats / "Mean.npy"), "Std.npy": "0" * 64})


def test_missing_text_encoders_are_a_clear_error(tmp_path):
    _write_hymotion_dir(tmp_path)
    with pytest.raises(TextEncoderError, match="Qwen3-8B"):
        engine.load_model(tmp_path / "HY-Motion-1.0", device="cpu", verify_stats=False)


def test_folder_without_config_names_what_to_pass(tmp_path):
    with pytest.raises(CheckpointError, match="no config.yml"):
        locate(tmp_path)
    with pytest.raises(ModelNotFoundError):
        engine.load_model(tmp_path / "nothing-here")


def test_mis_shaped_checkpoint_is_reported_by_key(tmp_path):
    state = _write_hymotion_dir(tmp_path)
    state["motion_transformer.input_encoder.weight"] = torch.zeros(32, 200)
    torch.save({"model_state_dict": state}, tmp_path / "HY-Motion-1.0" / "latest.ckpt")
    with pytest.raises(WeightsMismatchError, match=r"input_encoder\.weight has \(32, 200\)"):
        engine.load_model(tmp_path / "HY-Motion-1.0", device="cpu", load_text_encoder=False, verify_stats=False)


def test_convert_writes_safetensors_that_load_to_the_same_model(tmp_path, capsys):
    _write_hymotion_dir(tmp_path)
    folder = tmp_path / "HY-Motion-1.0"
    before = engine.load_model(folder, device="cpu", load_text_encoder=False, verify_stats=False)
    parser = argparse.ArgumentParser()
    checkpoint_convert.configure_parser(parser)
    assert checkpoint_convert.run(parser.parse_args([str(folder)])) == 0
    assert "latest.safetensors" in capsys.readouterr().out
    assert locate(folder).weights.name == "latest.safetensors"
    (folder / "latest.ckpt").unlink()
    after = engine.load_model(folder, device="cpu", load_text_encoder=False, verify_stats=False)
    for (k, a), (_, b) in zip(before.network.state_dict().items(), after.network.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_convert_refuses_an_unsafe_pickle(tmp_path, capsys):
    _write_hymotion_dir(tmp_path)
    folder = tmp_path / "HY-Motion-1.0"
    marker = tmp_path / "ran"
    torch.save({"model_state_dict": Payload(marker)}, folder / "latest.ckpt")
    parser = argparse.ArgumentParser()
    checkpoint_convert.configure_parser(parser)
    assert checkpoint_convert.run(parser.parse_args([str(folder)])) == 2
    assert "refused" in capsys.readouterr().err and not marker.exists()
    assert not (folder / "latest.safetensors").exists()


def test_embedded_model_round_trip_gives_identical_motion(tmp_path):
    model = tiny_random_model(seed=4)
    path = save_embedded_model(model, tmp_path / "m.safetensors", meta={"licence": "test"})
    config = read_embedded_config(path)
    assert config["text_encoder"] == "hash" and config["meta"]["licence"] == "test"
    assert config["network"]["feat_dim"] == 32
    loaded = engine.load_model(path, device="cpu")
    a = model.generate("turn around", seconds=1.0, seed=2, steps=5)[0]
    b = loaded.generate("turn around", seconds=1.0, seed=2, steps=5)[0]
    assert np.array_equal(a.rotations, b.rotations)


def test_embedded_model_carries_its_post_processing(tmp_path):
    from engine.post.postprocess import PostProcess

    model = tiny_random_model(seed=4)
    assert model.postprocess == PostProcess()  # upstream's steps unless the model says otherwise
    model.postprocess = PostProcess(sigma=2.0, translation_sigma=2.0, foot_lock=True)
    path = save_embedded_model(model, tmp_path / "m.safetensors")
    assert engine.load_model(path, device="cpu").postprocess == model.postprocess


def test_embedded_model_with_unknown_post_processing_is_refused(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = save_embedded_model(tiny_random_model(seed=4), tmp_path / "m.safetensors")
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        metadata = dict(f.metadata())
    config = json.loads(metadata["config"])
    config["postprocess"]["melt_feet"] = True
    metadata["config"] = json.dumps(config)
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match="melt_feet"):
        engine.load_model(path, device="cpu")


def test_non_embedded_safetensors_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a MotionBridge embedded model"):
        load_embedded_model(tmp_path / "other.safetensors")


def test_tiny_without_weights_says_how_to_get_them(tmp_path, monkeypatch):
    import engine.io.loading

    # A checkout whose weights file is missing (e.g. a partial clone): point the loader at an empty folder.
    monkeypatch.setattr(engine.io.loading, "TINY_PATH", tmp_path / "tiny.safetensors")
    with pytest.raises(ModelNotFoundError, match="tiny.safetensors"):
        engine.load_model("tiny")


def test_random_named_config_loads():
    model = engine.load_model("random:test", device="cpu")
    assert model.network.config.feat_dim == 32
