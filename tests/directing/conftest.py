"""Fixtures for the directing tests: the shipped embedded model on one thread, and a random HY-Motion-shaped one."""

from __future__ import annotations

import pytest
import torch

from engine.model.generation import MotionModel


@pytest.fixture(scope="session")
def tiny() -> MotionModel:
    torch.set_num_threads(1)
    from engine.io.loading import load_model

    return load_model("tiny", device="cpu")


@pytest.fixture(scope="session")
def hymotion_random() -> MotionModel:
    """The real pipeline with the HY-Motion network layout ("test" config: 360-frame window), random weights."""
    from engine.model.testing import tiny_random_model

    return tiny_random_model(seed=0)
