"""bridge.client against a live daemon: async and sync use, fetch with automatic reconnect, connect backoff."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import numpy as np
import pytest

from bridge.client import (
    ConnectionLost,
    HandshakeRefused,
    MotionBridgeClient,
    MotionBridgeError,
    MotionBridgeSyncClient,
)
from bridge.server import ServerConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_async_client_streams_events_and_collects_motions(daemon) -> None:
    async def scenario():
        async with MotionBridgeClient(daemon.url) as client:
            ops = [
                e["op"]
                async for e in client.generate("a person runs", seconds=1.0, steps=6, preview_every=2, chunk_frames=8)
            ]
            result = await client.generate_motion("a person runs", seconds=1.0, steps=6, samples=2, seed=5)
            status = await client.status()
            return ops, result, status

    ops, result, status = asyncio.run(scenario())
    assert ops[0] == "accepted" and ops[-1] == "done" and "progress" in ops and ops.count("motion") >= 4 + 2
    assert [s.seed for s in result.samples] == [5, 6]
    motion = result.samples[0].to_motion(text="a person runs")
    assert motion.frames == 30 and motion.rotations.shape == (30, 22, 4)
    assert not np.allclose(result.samples[0].rotations, result.samples[1].rotations)
    assert status["op"] == "status" and status["queue"] == 0


def test_error_replies_raise_typed_errors_and_the_client_stays_usable(daemon) -> None:
    async def scenario():
        async with MotionBridgeClient(daemon.url, encoding="json") as client:
            with pytest.raises(MotionBridgeError) as info:
                await client.generate_motion("walk", seconds=1e9)
            assert info.value.code == "too_long"
            with pytest.raises(MotionBridgeError) as info:
                await client.fetch("jdoesnotexist")
            assert info.value.code == "not_found"
            return await client.generate_motion("walk", seconds=1.0, steps=3, target="unreal")

    result = asyncio.run(scenario())
    assert result.samples[0].joints[0] == "pelvis" and result.samples[0].target == "unreal"
    with pytest.raises(ValueError, match="smplh"):
        result.samples[0].to_motion()


def test_cancel_through_the_client_ends_the_stream_with_cancelled(daemon) -> None:
    async def scenario():
        async with MotionBridgeClient(daemon.url) as client:
            stream = client.generate("a long routine", request_id="mine", seconds=5.0, steps=200)
            with pytest.raises(MotionBridgeError) as info:
                async for event in stream:
                    if event["op"] == "progress":
                        await client.cancel("mine")
            return info.value.code

    assert asyncio.run(scenario()) == "cancelled"


def test_fetch_reconnects_after_the_connection_was_closed(daemon) -> None:
    async def scenario():
        client = MotionBridgeClient(daemon.url)
        first = await client.generate_motion("a person claps", seconds=1.0, steps=4)
        await client.close()
        assert not client.connected
        again = await client.fetch(first.job, target="unity")
        await client.close()
        return first, again

    first, again = asyncio.run(scenario())
    assert again.job == first.job and again.cached
    assert again.samples[0].joints[0] == "Hips"
    np.testing.assert_allclose(again.samples[0].root[:, 0], -first.samples[0].root[:, 0], atol=1e-6)


def test_connect_retries_with_backoff_until_the_daemon_is_up(daemon_factory, tiny_model) -> None:
    port = free_port()
    started: list = []

    def start_later() -> None:
        time.sleep(0.6)
        started.append(daemon_factory(tiny_model, port=port))

    thread = threading.Thread(target=start_later)
    thread.start()
    try:
        client = MotionBridgeSyncClient(f"ws://127.0.0.1:{port}/v1", connect_retries=8, backoff_s=0.1)
        with client:
            result = client.generate("a person nods", seconds=1.0, steps=3)
    finally:
        thread.join()
    assert result.done["frames"] == 30


def test_unreachable_daemon_and_bad_token_are_clear_errors(daemon_factory, tiny_model) -> None:
    with pytest.raises(ConnectionLost, match="cannot reach the daemon"):
        MotionBridgeSyncClient(f"ws://127.0.0.1:{free_port()}/v1", connect_retries=1, backoff_s=0.01)
    daemon = daemon_factory(tiny_model, token="right")
    with pytest.raises(HandshakeRefused) as info:
        MotionBridgeSyncClient(daemon.url, token="wrong", connect_retries=0)
    assert info.value.close_code == 4001
    with MotionBridgeSyncClient(daemon.url, token="right") as client:
        assert client.status()["model"] == "tiny-random"


def test_shutdown_while_streaming_ends_with_done_then_connection_lost_on_next_use(daemon_factory, tiny_model) -> None:
    daemon = daemon_factory(tiny_model, shutdown_timeout=60.0)

    async def scenario():
        client = MotionBridgeClient(daemon.url, connect_retries=0)
        await client.connect()
        events = []
        async for event in client.generate("a person stretches", seconds=1.0, steps=40):
            events.append(event)
            if event["op"] == "progress" and event["step"] == 1:
                shutdown = daemon.shutdown_async()
        await asyncio.wrap_future(shutdown)
        await asyncio.sleep(0.1)
        assert client.close_code == 1001
        with pytest.raises(ConnectionLost):
            await client.status()
        return events

    events = asyncio.run(scenario())
    assert events[-1]["op"] == "done"


def test_config_defaults_bind_loopback() -> None:
    assert ServerConfig().host == "127.0.0.1" and ServerConfig().port == 8747
