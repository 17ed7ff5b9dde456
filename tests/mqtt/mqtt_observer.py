"""A plain aiomqtt client that records what arrives on some topics, for asserting on the broker's traffic."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt

from bridge.mqtt.schema import BrokerUrl

STARTUP_S = 60.0
"""How long a worker subprocess may take to come online (importing torch on a loaded 2-core CI box)."""


@dataclass
class Seen:
    topic: str
    payload: bytes
    retain: bool


class Observer:
    def __init__(self, url: str, topics: list[str]):
        self.url = BrokerUrl.parse(url)
        self.topics = topics
        self.seen: list[Seen] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.client: aiomqtt.Client | None = None

    async def __aenter__(self) -> Observer:
        self.client = aiomqtt.Client(
            self.url.host,
            self.url.port,
            username=self.url.username,
            password=self.url.password,
            protocol=aiomqtt.ProtocolVersion.V5,
        )
        await self.client.__aenter__()
        for t in self.topics:
            await self.client.subscribe(t, qos=1)
        self._task = asyncio.create_task(self._collect())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None and self.client is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(aiomqtt.MqttError):
            await self.client.__aexit__(None, None, None)

    async def _collect(self) -> None:
        assert self.client is not None
        async for m in self.client.messages:
            self.seen.append(Seen(str(m.topic), bytes(m.payload), bool(m.retain)))  # type: ignore[arg-type]
            self._changed.set()

    async def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        assert self.client is not None
        await self.client.publish(topic, payload, qos=qos)

    async def wait_for(self, predicate: Callable[[list[Seen]], bool], timeout: float = 5.0) -> list[Seen]:
        deadline = time.monotonic() + timeout
        while not predicate(self.seen):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; saw {[(s.topic, s.payload[:80]) for s in self.seen[-10:]]}")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return self.seen
