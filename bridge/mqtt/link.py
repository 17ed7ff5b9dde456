"""MQTT link: one node's reconnecting connection to the broker (queued publishes, subscriptions, last will)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiomqtt

from bridge.mqtt.schema import BadPayload, BrokerUrl

log = logging.getLogger("motionbridge.mqtt")


def payload_bytes(message: aiomqtt.Message) -> bytes:
    p = message.payload
    if isinstance(p, (bytes, bytearray)):
        return bytes(p)
    if isinstance(p, str):
        return p.encode()
    return b"" if p is None else str(p).encode()



MessageHandler = Callable[[aiomqtt.Message], Awaitable[None]]


@dataclass
class _Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass
class MqttLink:
    """One node's connection to the broker, kept up for the life of the process.

    `run()` connects, subscribes, calls `on_connect`, then sends queued publishes and feeds received
    messages to `on_message` until `stop()`. A lost connection (broker restart, network) is retried with
    backoff; publishes queued meanwhile are sent after the reconnect, so callers never block on the
    broker. MQTT 5, clean start: a dead node's session is not kept, so jobs are not queued for it.
    """

    url: BrokerUrl
    client_id: str
    subscriptions: Sequence[str] = ()
    on_message: MessageHandler | None = None
    on_connect: Callable[[], Awaitable[None]] | None = None
    will: aiomqtt.Will | None = None
    keepalive: int = 10
    max_backoff_s: float = 2.0
    outbox_limit: int = 10_000
    send_window: int = 32
    _outbox: deque[_Outgoing] = field(default_factory=deque, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _connected: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _client: aiomqtt.Client | None = field(default=None, init=False)
    _task: asyncio.Task | None = field(default=None, init=False)
    connects: int = field(default=0, init=False)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    def start(self) -> asyncio.Task:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"mqtt-{self.client_id}")
        return self._task

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Queue a publish; it is sent as soon as (or once again) the broker is connected."""
        if len(self._outbox) >= self.outbox_limit:
            dropped = self._outbox.popleft()
            log.warning("mqtt outbox full (%d): dropped a message for %s", self.outbox_limit, dropped.topic)
        self._outbox.append(_Outgoing(topic, payload, qos, retain))
        self._wake.set()

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued publish was handed to the broker (or `timeout` passes)."""
        deadline = time.monotonic() + timeout
        while self._outbox and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def stop(self, final: Sequence[tuple[str, bytes, bool]] = ()) -> None:
        """Publish `final` (topic, payload, retain) messages if connected, then disconnect cleanly."""
        if self._client is not None and self.connected:
            for topic, payload, retain in final:
                with contextlib.suppress(aiomqtt.MqttError, asyncio.TimeoutError):
                    await self._client.publish(topic, payload, qos=1, retain=retain, timeout=2.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def run(self) -> None:
        backoff = 0.1
        while True:
            client = aiomqtt.Client(
                self.url.host,
                self.url.port,
                username=self.url.username,
                password=self.url.password,
                identifier=self.client_id,
                protocol=aiomqtt.ProtocolVersion.V5,
                will=self.will,
                keepalive=self.keepalive,
                tls_context=self.url.tls_context(),
                timeout=5.0,
                # Many small messages each way (progress, acks): Nagle + delayed ACK would add ~40 ms a hop.
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
            try:
                async with client:
                    self._client = client
                    for topic in self.subscriptions:
                        granted = await client.subscribe(topic, qos=1)
                        if any(getattr(code, "is_failure", False) for code in granted):
                            log.error("broker refused the subscription to %s (%s): check its ACL", topic, granted)
                    self.connects += 1
                    self._connected.set()
                    log.info("mqtt %s connected to %s", self.client_id, self.url.redacted())
                    backoff = 0.1
                    if self.on_connect is not None:
                        await self.on_connect()
                    await self._pump(client)
            except aiomqtt.MqttError as exc:
                if "authorized" in str(exc) or "password" in str(exc):
                    log.error(
                        "broker %s refused the credentials of %s (%s): check user:password in the URL",
                        self.url.redacted(),
                        self.client_id,
                        exc,
                    )
                    backoff = self.max_backoff_s
                else:
                    log.warning("mqtt %s: %s; reconnecting in %.1f s", self.client_id, exc, backoff)
            except Exception:
                # A bug in a connect hook or a TLS setup error must not end the link for good.
                log.exception("mqtt %s failed; reconnecting in %.1f s", self.client_id, backoff)
            finally:
                self._client = None
                self._connected.clear()
            await asyncio.sleep(backoff)
            backoff = min(self.max_backoff_s, backoff * 2)

    async def _pump(self, client: aiomqtt.Client) -> None:
        tasks = [asyncio.create_task(self._send(client)), asyncio.create_task(self._receive(client))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # re-raises the MqttError that ended this connection
        raise aiomqtt.MqttError("message stream ended")

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if self.on_message is None:
                continue
            try:
                await self.on_message(message)
            except BadPayload as exc:
                log.warning("dropped a malformed message on %s: %s", message.topic, exc)
            except Exception:
                log.exception("handler failed on a message on %s (dropped)", message.topic)

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            while self._outbox:
                # Up to `send_window` publishes in flight at once (QoS 1 waits for PUBACK, one round trip
                # each); they leave the outbox only once the broker took them, so a batch cut by a
                # disconnect is sent again after the reconnect (receivers drop the duplicates).
                batch = [self._outbox[i] for i in range(min(self.send_window, len(self._outbox)))]
                await asyncio.gather(
                    *(client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain, timeout=10.0) for m in batch)
                )
                for item in batch:
                    if self._outbox and self._outbox[0] is item:
                        self._outbox.popleft()
            self._wake.clear()
            await self._wake.wait()
