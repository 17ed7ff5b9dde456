"""Fixtures for the daemon tests: a real MotionBridge server on a free loopback port (in its own thread and
event loop, like a separate process), real WebSocket clients, and small real models."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from websockets.asyncio.client import ClientConnection, connect

from bridge.codec import SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK, decode_message, encode_message
from bridge.server import MotionBridgeServer, ServerConfig
from engine.core.motion import Motion
from engine.model.generation import CancelCheck, GenerationRequest, MotionModel, StepCallback, StepEvent
from engine.model.testing import tiny_random_model

# The test machine is small and shared; one intra-op thread keeps the model's speed predictable.
torch.set_num_threads(1)


class ExplodingModel(MotionModel):
    """The real tiny model, except that a prompt containing "explode" raises inside the model, as a CUDA
    out-of-memory error would."""

    def __init__(self, inner: MotionModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_seconds = inner.max_seconds
        self.default_steps = inner.default_steps
        self.default_cfg = inner.default_cfg

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        on_step: StepCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[list[Motion] | None]:
        if any("explode" in r.prompt for r in requests):
            raise RuntimeError("CUDA out of memory (simulated inside the model)")
        return self.inner.generate_batch(requests, on_step, cancelled)


class RecordingModel(MotionModel):
    """The real model, recording the last sampler step each batch reached (keyed by its prompts), so a test
    can prove that cancellation stopped the sampler rather than trusting wall-clock time."""

    def __init__(self, inner: MotionModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_seconds = inner.max_seconds
        self.default_steps = inner.default_steps
        self.default_cfg = inner.default_cfg
        self.last_step: dict[str, int] = {}
        self.total_steps: dict[str, int] = {}

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        on_step: StepCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[list[Motion] | None]:
        def record(event: StepEvent) -> None:
            for r in requests:
                self.last_step[r.prompt] = event.step
                self.total_steps[r.prompt] = event.steps
            if on_step is not None:
                on_step(event)

        return self.inner.generate_batch(requests, record, cancelled)


@dataclass
class RunningDaemon:
    """A daemon running on its own event loop thread."""

    server: MotionBridgeServer
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def http_url(self) -> str:
        return self.server.http_url

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the daemon's loop and return its result (to read scheduler state safely)."""
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # pragma: no cover - surfaced to the test
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def shutdown_async(self) -> Future:
        """Start the graceful shutdown; returns a future that completes when it is done."""
        return asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop)

    def stop(self) -> None:
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(timeout=30)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def start_daemon(model: MotionModel, config: ServerConfig) -> RunningDaemon:
    loop = asyncio.new_event_loop()
    started: Future = Future()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> MotionBridgeServer:
            server = MotionBridgeServer(model, config)
            await server.start()
            return server

        try:
            started.set_result(loop.run_until_complete(boot()))
        except BaseException as exc:
            started.set_exception(exc)
            return
        loop.run_forever()
        # Connections a failed test left open still have tasks; end them before the loop closes.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name="test-daemon", daemon=True)
    thread.start()
    return RunningDaemon(started.result(timeout=30), loop, thread)


@pytest.fixture(scope="session")
def tiny_model() -> MotionModel:
    """The real DiT pipeline with a tiny random-weight config (shared: the daemon owns it one at a time)."""
    return tiny_random_model(seed=0)


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., RunningDaemon]]:
    """Start daemons with a model and ServerConfig overrides; all are shut down after the test."""
    running: list[RunningDaemon] = []

    def make(model: MotionModel, **overrides: Any) -> RunningDaemon:
        overrides.setdefault("output_dir", tmp_path / "jobs")
        overrides.setdefault("shutdown_timeout", 5.0)
        overrides.setdefault("port", 0)
        daemon = start_daemon(model, ServerConfig(**overrides))
        running.append(daemon)
        return daemon

    yield make
    for daemon in running:
        daemon.stop()


@pytest.fixture
def daemon(daemon_factory: Callable[..., RunningDaemon], tiny_model: MotionModel) -> RunningDaemon:
    return daemon_factory(tiny_model)


class RawClient:
    """A bare WebSocket client speaking the protocol by hand (no bridge.client), to test the wire itself."""

    def __init__(self, ws: ClientConnection, subprotocol: str) -> None:
        self.ws = ws
        self.subprotocol = subprotocol
        self.hello: dict[str, Any] = {}

    @classmethod
    async def open(
        cls, url: str, encoding: str = "msgpack", subprotocols: list[str] | None = None, **kwargs: Any
    ) -> RawClient:
        sub = SUBPROTOCOL_MSGPACK if encoding == "msgpack" else SUBPROTOCOL_JSON
        offered = [sub] if subprotocols is None else subprotocols
        ws = await connect(url, subprotocols=offered or None, max_size=None, compression=None, **kwargs)
        return cls(ws, sub)

    @classmethod
    async def ready(cls, url: str, encoding: str = "msgpack", token: str | None = None) -> RawClient:
        client = await cls.open(url, encoding)
        client.hello = await client.recv()
        assert client.hello["op"] == "hello"
        identify: dict[str, Any] = {"op": "identify", "protocol": 1, "client": "pytest/1"}
        if token is not None:
            identify["token"] = token
        await client.send(identify)
        ready = await client.recv()
        assert ready["op"] == "ready", ready
        return client

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(encode_message(message, self.subprotocol))

    async def send_raw(self, frame: bytes | str) -> None:
        await self.ws.send(frame)

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        return decode_message(await asyncio.wait_for(self.ws.recv(), timeout), self.subprotocol)

    async def until(
        self, request_id: str, ops: tuple[str, ...] = ("done", "error"), timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """Every message for request_id up to and including the first whose op is in `ops`."""
        out: list[dict[str, Any]] = []
        while True:
            msg = await self.recv(timeout)
            if msg.get("id") == request_id:
                out.append(msg)
                if msg["op"] in ops:
                    return out

    async def until_all(self, request_ids: Sequence[str], timeout: float = 20.0) -> dict[str, list[dict[str, Any]]]:
        """Messages per request id until every one of them got its done or error."""
        out: dict[str, list[dict[str, Any]]] = {rid: [] for rid in request_ids}
        open_ids = set(request_ids)
        while open_ids:
            msg = await self.recv(timeout)
            rid = msg.get("id")
            if rid in out:
                out[rid].append(msg)
                if msg["op"] in ("done", "error"):
                    open_ids.discard(rid)
        return out

    async def close_code(self, timeout: float = 10.0) -> int | None:
        """Wait for the server to close; returns the close code it sent."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except Exception:
            pass
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()


def motion_arrays(msg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    count, joints = msg["count"], len(msg["joints"])
    root = np.frombuffer(msg["root"], "<f4").reshape(count, 3)
    rot = np.frombuffer(msg["rotations"], "<f4").reshape(count, joints, 4)
    return root, rot


@pytest.fixture
def raw() -> type[RawClient]:
    return RawClient


@pytest.fixture
def recording_model(tiny_model: MotionModel) -> RecordingModel:
    return RecordingModel(tiny_model)


@pytest.fixture
def exploding_model(tiny_model: MotionModel) -> MotionModel:
    return ExplodingModel(tiny_model)


@pytest.fixture
def arrays() -> Callable[[dict[str, Any]], tuple[np.ndarray, np.ndarray]]:
    return motion_arrays
