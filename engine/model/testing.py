"""Small real models for tests elsewhere in the project (daemon, clients): no weights or text model needed.

`tiny_random_model()` is the real `DiTMotionModel` with the "test" network config, seeded random weights and a
hash-based text encoder; a 5 s clip with 50 steps and CFG samples in a fraction of a second on one CPU core.
Its motions are not meaningful, but shapes, timing, previews, cancellation and determinism are real.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import torch

from engine.core.motion import Motion
from engine.core.skeleton import NUM_BODY_JOINTS, SMPLH_BODY
from engine.model.configs import TEST, ModelConfig
from engine.model.dit import HunyuanMotionMMDiT
from engine.model.generation import CancelCheck, GenerationRequest, MotionModel, StepCallback
from engine.model.pipeline import DiTMotionModel
from engine.model.representation import FEATURE_DIM, JOINT_POS, ROOT_POS, Normalizer, encode_features
from engine.model.text_encoders import HashTextEncoder


def rest_pose_normalizer(rotation_std: float = 0.15, translation_std: float = 0.1) -> Normalizer:
    """A normaliser centred on the standing rest pose, so random latents decode to poses near it."""
    root = torch.tensor(SMPLH_BODY.rest_positions()[0], dtype=torch.float64)[None]
    quats = torch.zeros(1, NUM_BODY_JOINTS, 4, dtype=torch.float64)
    quats[..., 3] = 1.0
    mean = encode_features(root, quats)[0]
    std = torch.full((FEATURE_DIM,), rotation_std)
    std[ROOT_POS] = translation_std
    std[JOINT_POS] = translation_std
    return Normalizer.from_arrays(mean, std)


def random_model(
    config: ModelConfig, seed: int = 0, device: str = "cpu", dtype: torch.dtype = torch.float32, name: str | None = None
) -> DiTMotionModel:
    """The real pipeline around a randomly initialised network of `config` and a hash text encoder."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = HunyuanMotionMMDiT(config.network)
        cfg = network.config
        null_vtxt = torch.randn(1, 1, cfg.vtxt_input_dim)
        null_ctxt = torch.randn(1, 1, cfg.ctxt_input_dim)
    encoder = HashTextEncoder(cfg.ctxt_input_dim, cfg.vtxt_input_dim, config.text_max_length)
    return DiTMotionModel(
        network.to(dtype),
        config,
        rest_pose_normalizer(),
        null_vtxt,
        null_ctxt,
        encoder,
        name=name or f"random-{config.name}",
        device=device,
    )


def tiny_random_model(seed: int = 0, device: str = "cpu") -> DiTMotionModel:
    """The real DiTMotionModel with the small "test" config, random weights and a hash text encoder."""
    return random_model(TEST, seed=seed, device=device, name="tiny-random")


class ThreadProbeModel(MotionModel):
    """A model that notes where it runs: `built_on`, the thread that built it, and `ran_on`, one (thread, torch
    intra-op threads) pair per `generate_batch`, which `inner` then serves: for tests of the daemon's threads."""

    def __init__(self, inner: MotionModel) -> None:
        self.inner = inner
        self.name, self.fps, self.max_seconds = inner.name, inner.fps, inner.max_seconds
        self.default_steps, self.default_cfg, self.device = inner.default_steps, inner.default_cfg, inner.device
        self.built_on = threading.get_ident()
        self.ran_on: list[tuple[int, int]] = []

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        on_step: StepCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[list[Motion] | None]:
        self.ran_on.append((threading.get_ident(), torch.get_num_threads()))
        return self.inner.generate_batch(requests, on_step, cancelled)


def thread_probe_model(device: str = "cpu") -> ThreadProbeModel:
    """`ThreadProbeModel` around `tiny_random_model` (a `package.module:factory` spec for the CLI)."""
    return ThreadProbeModel(tiny_random_model(device=device))
