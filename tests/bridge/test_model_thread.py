"""The daemon's thread layout: the model is loaded and sampled on one thread, with the thread count asked for."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bridge.cli import build_parser
from bridge.client import MotionBridgeClient
from bridge.server import MotionBridgeServer, ServerConfig
from bridge.serving import load_on_model_thread, model_threads
from engine.model.threads import ModelThread, default_threads


def test_serve_loads_and_samples_the_model_on_one_thread_with_the_requested_thread_count(tmp_path):
    argv = ["serve", "--model", "engine.model.testing:thread_probe_model", "--threads", "1"]
    args = build_parser(argv).parse_args(argv)
    model, thread = load_on_model_thread(args.model, args.device, args.dtype, model_threads(args))

    async def scenario() -> None:
        server = MotionBridgeServer(model, ServerConfig(port=0, output_dir=str(tmp_path)), model_thread=thread)
        await server.start()
        try:
            async with MotionBridgeClient(server.url) as client:
                for seed in (0, 1):
                    await client.generate_motion("a person waves", seconds=1.0, steps=2, seed=seed)
        finally:
            await server.shutdown()

    asyncio.run(scenario())
    assert model.built_on == thread.ident != threading.get_ident()
    assert model.ran_on == [(thread.ident, 1), (thread.ident, 1)]


def test_threads_default_to_half_the_cores_and_must_be_positive():
    assert (default_threads(cores=1), default_threads(cores=2), default_threads(cores=16)) == (1, 1, 8)
    args = build_parser(["serve"]).parse_args(["serve"])
    assert model_threads(args) == default_threads()
    with pytest.raises(ValueError, match="at least 1"):
        ModelThread(0)
