"""MQTT events: a node's retained status (with its load) and the job events a daemon publishes (`serve --mqtt`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiomqtt
from pydantic import ValidationError

from bridge.mqtt.link import MqttLink
from bridge.mqtt.schema import (
    BrokerUrl,
    JobEvent,
    NodeStatus,
    Topics,
    _short,
    check_name,
    default_node_id,
    to_json,
)

log = logging.getLogger("motionbridge.mqtt")




StatusSource = Callable[[], dict[str, Any]]
"""Returns the live fields of a node's status: model, device, queue, load, jobs, model_info."""


class LoadMeter:
    """The `load` of a status: the fraction of time the model was busy since the previous reading.

    `busy()` is sampled every `period_s` on the event loop (cheap: one attribute read), so the meter works
    with any job runner that can say whether it is running something now.
    """

    def __init__(self, busy: Callable[[], bool], period_s: float = 0.1):
        self.busy, self.period_s = busy, period_s
        self._samples = 0
        self._busy_samples = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        async def sample() -> None:
            while True:
                await asyncio.sleep(self.period_s)
                self._samples += 1
                self._busy_samples += bool(self.busy())

        self._task = asyncio.create_task(sample(), name="load-meter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def read(self) -> float:
        """Busy fraction since the last read (the current state if no sample was taken yet)."""
        if self._samples == 0:
            return 1.0 if self.busy() else 0.0
        load = self._busy_samples / self._samples
        self._samples = self._busy_samples = 0
        return round(load, 3)


class NodePresence:
    """Publishes a node's retained status every heartbeat and arranges the "offline" last will."""

    def __init__(self, topics: Topics, node: str, role: str, source: StatusSource, heartbeat_s: float = 2.0):
        self.topics, self.node, self.role, self.source, self.heartbeat_s = topics, node, role, source, heartbeat_s
        self._task: asyncio.Task | None = None

    def will(self) -> aiomqtt.Will:
        offline = NodeStatus(node=self.node, state="offline", role=self.role)  # type: ignore[arg-type]
        return aiomqtt.Will(self.topics.status(self.node), to_json(offline), qos=1, retain=True)

    def offline_message(self) -> tuple[str, bytes, bool]:
        offline = NodeStatus(node=self.node, state="offline", role=self.role, ts=time.time())  # type: ignore[arg-type]
        return self.topics.status(self.node), to_json(offline), True

    def current(self) -> NodeStatus:
        fields = {
            k: v for k, v in self.source().items() if k not in ("v", "node", "state", "role", "heartbeat_s", "ts")
        }
        return NodeStatus(
            node=self.node,
            state="online",
            role=self.role,  # type: ignore[arg-type]
            heartbeat_s=self.heartbeat_s,
            ts=time.time(),
            **fields,
        )

    def publish(self, link: MqttLink) -> None:
        try:
            status = self.current()
        except Exception:  # a status source bug must not stop the heartbeat or the link
            log.exception("status of node %s not published", self.node)
            return
        link.publish(self.topics.status(self.node), to_json(status), retain=True)

    def start(self, link: MqttLink) -> None:
        async def beat() -> None:
            while True:
                await asyncio.sleep(self.heartbeat_s)
                # Only while connected: a backlog of stale heartbeats after an outage says nothing.
                if link.connected:
                    self.publish(link)

        self._task = asyncio.create_task(beat(), name=f"heartbeat-{self.node}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class EventPublisher:
    """What `motionbridge serve --mqtt URL` runs: the node's status and the events of its jobs.

    The server calls `job_event(...)` from its event loop for accepted, progress, done and error; the
    call only queues the publish, so a slow or absent broker never delays a WebSocket client.
    """

    def __init__(
        self,
        url: BrokerUrl | str,
        source: StatusSource,
        node: str | None = None,
        role: str = "daemon",
        heartbeat_s: float = 5.0,
    ):
        self.url = BrokerUrl.parse(url) if isinstance(url, str) else url
        self.node = check_name("node id", node or default_node_id(role))
        self.topics = Topics(self.url.prefix)
        self.presence = NodePresence(self.topics, self.node, role, source, heartbeat_s)
        self.link = MqttLink(
            self.url,
            client_id=f"{self.node}-{uuid.uuid4().hex[:6]}",
            will=self.presence.will(),
            on_connect=self._on_connect,
        )

    async def _on_connect(self) -> None:
        # Re-asserted on every connect: a restarted broker without persistence forgot the retained status.
        self.presence.publish(self.link)

    async def start(self) -> None:
        self.link.start()
        self.presence.start(self.link)

    async def stop(self) -> None:
        await self.presence.stop()
        await self.link.flush(timeout=2.0)
        await self.link.stop(final=[self.presence.offline_message()])

    def job_event(self, event: str, job: str, **fields: Any) -> None:
        """Publish one job event (QoS 1, not retained); `fields` are those of `JobEvent`."""
        try:
            payload = JobEvent(event=event, job=job, node=self.node, ts=time.time(), **fields)  # type: ignore[arg-type]
        except ValidationError as exc:
            log.error("job event %s of %r not published: %s", event, job, _short(exc))
            return
        self.link.publish(self.topics.events(job), to_json(payload))
