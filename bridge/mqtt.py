"""The MQTT link: broker URLs, topics, validated payloads, a reconnecting client and the event publisher.

MotionBridge uses an existing MQTT 5 broker for two things (see docs/scaling.md):
- events: a node publishes its retained status (`<prefix>/nodes/<node>/status`, last will "offline") and
  the life of every job (`<prefix>/jobs/<job>/events`) as JSON, for dashboards and other tools;
- distribution: gateways put jobs on `<prefix>/requests`, workers take them through a shared subscription
  and answer on `<prefix>/replies/<gateway>/<job>` (MessagePack, because motions are binary).

Everything that crosses the broker is validated with the pydantic models below; a payload that does not
validate raises `BadPayload`, which every receiver logs and drops (one bad publisher never stops a node).

Long module: topic schema, payload codec and the broker link used by both the gateway and the worker; to become a
package (schema, link) next to `mqtt_gateway` and `mqtt_worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import ssl
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import aiomqtt
import msgpack
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from engine.core.motion import Motion

log = logging.getLogger("motionbridge.mqtt")

SCHEMA_VERSION = 1
"""Version of every payload below; a receiver drops payloads of another version."""

DEFAULT_PREFIX = "motionbridge"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}

NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
"""Node, gateway and job ids become topic levels, so they may not hold '/', '+', '#' or spaces."""
_NAME = re.compile(NAME_PATTERN)


class BrokerUrlError(ValueError):
    """A --mqtt/--workers URL that cannot be used; the message shows the accepted form."""


class BadPayload(ValueError):
    """A message on a MotionBridge topic that is not a valid payload (logged and dropped by receivers)."""


def check_name(kind: str, value: str) -> str:
    """Return `value` if it can be a topic level, else raise ValueError naming what is wrong."""
    if not _NAME.match(value):
        raise ValueError(f"{kind} {value!r} must be 1-64 characters of letters, digits, '_', '.', '-'")
    return value


def default_node_id(role: str) -> str:
    """A node id unique per process and readable in a broker's client list: role-host-pid."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:40] or "host"
    return f"{role}-{host}-{os.getpid()}"


# ---------------------------------------------------------------------------------------------- broker URL


@dataclass(frozen=True)
class BrokerUrl:
    """`mqtt[s]://[user:pass@]host[:port][/prefix][?ca=/path/ca.pem]`, parsed and checked.

    The path is the topic prefix (default "motionbridge"); `mqtts` turns TLS on, verifying the broker
    against the system CA store or against the `ca` file given in the query.
    """

    host: str
    port: int
    prefix: str = DEFAULT_PREFIX
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        form = "mqtt[s]://[user:pass@]host[:port][/prefix]"
        parts = urlsplit(url.strip())
        if parts.scheme not in DEFAULT_PORTS:
            raise BrokerUrlError(f"broker URL {url!r} must start with mqtt:// or mqtts:// ({form})")
        if not parts.hostname:
            raise BrokerUrlError(f"broker URL {url!r} has no host ({form})")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise BrokerUrlError(f"broker URL {url!r} has an invalid port ({form})") from None
        prefix = unquote(parts.path.strip("/")) or DEFAULT_PREFIX
        levels = prefix.split("/")
        if "#" in url or prefix.startswith("$") or any(not lv or "+" in lv or "#" in lv for lv in levels):
            raise BrokerUrlError(
                f"topic prefix {prefix!r} must be non-empty topic levels without '+', '#' or a leading '$'"
            )
        query = parse_qs(parts.query)
        unknown = set(query) - {"ca"}
        if unknown:
            raise BrokerUrlError(f"broker URL {url!r} has unknown options {sorted(unknown)}: only ?ca=FILE")
        ca_file = query["ca"][-1] if "ca" in query else None
        if ca_file and parts.scheme != "mqtts":
            raise BrokerUrlError("?ca= only applies to mqtts:// URLs")
        return cls(
            host=parts.hostname,
            port=port,
            prefix=prefix,
            tls=parts.scheme == "mqtts",
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            ca_file=ca_file,
        )

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.ca_file)

    def redacted(self) -> str:
        """The URL for logs: never the password."""
        auth = f"{self.username}:***@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{auth}{self.host}:{self.port}/{self.prefix}"


# ---------------------------------------------------------------------------------------------- topics


@dataclass(frozen=True)
class Topics:
    """Every topic MotionBridge uses, under one prefix."""

    prefix: str = DEFAULT_PREFIX

    def status(self, node: str) -> str:
        return f"{self.prefix}/nodes/{node}/status"

    @property
    def all_status(self) -> str:
        return f"{self.prefix}/nodes/+/status"

    def events(self, job: str) -> str:
        return f"{self.prefix}/jobs/{job}/events"

    @property
    def requests(self) -> str:
        return f"{self.prefix}/requests"

    def shared_requests(self, group: str) -> str:
        return f"$share/{group}/{self.prefix}/requests"

    def replies(self, gateway: str, job: str = "+") -> str:
        return f"{self.prefix}/replies/{gateway}/{job}"

    def cancel(self, job: str = "+") -> str:
        return f"{self.prefix}/cancel/{job}"

    def node_of_status(self, topic: str) -> str | None:
        """The node id of a status topic, or None if `topic` is not one."""
        head, tail = f"{self.prefix}/nodes/", "/status"
        if topic.startswith(head) and topic.endswith(tail):
            node = topic[len(head) : -len(tail)]
            return node if _NAME.match(node) else None
        return None


# ---------------------------------------------------------------------------------------------- payloads

Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class Payload(BaseModel):
    """Base of every payload: version checked, unknown fields ignored (newer senders may add some)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    v: Literal[1] = SCHEMA_VERSION


class NodeStatus(Payload):
    """Retained on `<prefix>/nodes/<node>/status`; republished every heartbeat; the last will says offline."""

    node: Name
    state: Literal["online", "offline"]
    role: Literal["daemon", "worker", "gateway"] | None = None
    model: str | None = None
    device: str | None = None
    queue: int = Field(0, ge=0)
    running: int = Field(0, ge=0)
    load: float = Field(0.0, ge=0.0, le=1.0)
    jobs: list[Name] = Field(default_factory=list, max_length=10000)
    heartbeat_s: float | None = Field(None, gt=0)
    model_info: dict[str, Any] | None = None
    limits: dict[str, float] | None = None
    ts: float = 0.0


class JobEvent(Payload):
    """Published on `<prefix>/jobs/<job>/events`: accepted, progress, done or error of one job."""

    event: Literal["accepted", "progress", "done", "error"]
    job: Name
    node: Name
    ts: float
    queue_position: int | None = None
    step: int | None = None
    steps: int | None = None
    eta_ms: int | None = None
    samples: int | None = None
    frames: int | None = None
    seconds: float | None = None
    cached: bool | None = None
    timings: dict[str, float] | None = None
    code: str | None = None
    message: str | None = None


class JobRequest(Payload):
    """A job a gateway puts on `<prefix>/requests`; `attempt` grows by one on every re-dispatch.

    The ranges here only keep a payload sane; a worker checks each job against its own limits
    (`bridge.protocol.validate_generate`, as the daemon checks a `generate`) before accepting it.
    """

    job: Name
    gateway: Name
    attempt: int = Field(ge=0)
    prompt: str = Field(min_length=1, max_length=100_000)
    seconds: float = Field(5.0, gt=0, le=3600)
    frames: int | None = Field(None, ge=1, le=1_000_000)
    seed: int = Field(0, ge=0)
    samples: int = Field(1, ge=1, le=64)
    steps: int | None = Field(None, ge=1, le=10_000)
    cfg: float | None = Field(None, ge=0)
    preview_every: int = Field(0, ge=0)
    loop: bool = False
    in_place: bool = False
    sent: float = 0.0


class CancelRequest(Payload):
    """On `<prefix>/cancel/<job>`: stop the job.

    `worker` set: only that worker (a duplicate copy); `attempt` set: only if the worker holds that attempt
    or an older one (a newer attempt it accepted meanwhile is the one the gateway wants).
    """

    job: Name
    worker: Name | None = None
    attempt: int | None = Field(None, ge=0)


class MotionPayload(BaseModel):
    """A `Motion` in the source convention: float32 little-endian arrays as bytes."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    frames: int = Field(ge=1, le=1_000_000)
    fps: float = Field(gt=0)
    joints: list[str] = Field(min_length=1, max_length=256)
    root: bytes
    rotations: bytes
    seed: int = 0
    text: str = ""
    model: str = ""

    @classmethod
    def from_motion(cls, motion: Motion) -> MotionPayload:
        return cls(
            frames=motion.frames,
            fps=float(motion.fps),
            joints=list(motion.joints),
            root=np.ascontiguousarray(motion.root, dtype="<f4").tobytes(),
            rotations=np.ascontiguousarray(motion.rotations, dtype="<f4").tobytes(),
            seed=motion.seed,
            text=motion.text,
            model=motion.model,
        )

    def to_motion(self) -> Motion:
        n, j = self.frames, len(self.joints)
        if len(self.root) != n * 3 * 4 or len(self.rotations) != n * j * 4 * 4:
            raise BadPayload(f"motion arrays do not match {n} frames × {j} joints")
        return Motion(
            root=np.frombuffer(self.root, dtype="<f4").reshape(n, 3).astype(np.float32),
            rotations=np.frombuffer(self.rotations, dtype="<f4").reshape(n, j, 4).astype(np.float32),
            fps=self.fps,
            joints=tuple(self.joints),
            text=self.text,
            seed=self.seed,
            model=self.model,
        )


class _Reply(Payload):
    job: Name
    attempt: int = Field(ge=0)
    worker: Name


class AcceptedReply(_Reply):
    kind: Literal["accepted"] = "accepted"
    queue_position: int = Field(0, ge=0)
    model: str | None = None


class RejectedReply(_Reply):
    """The worker cannot take the job now (its queue is full); the gateway dispatches it again."""

    kind: Literal["rejected"] = "rejected"
    reason: str = ""


class ProgressReply(_Reply):
    kind: Literal["progress"] = "progress"
    step: int = Field(ge=0)
    steps: int = Field(ge=1)
    eta_ms: int | None = None


class PreviewReply(_Reply):
    kind: Literal["preview"] = "preview"
    step: int = Field(ge=0)
    motions: list[MotionPayload] = Field(min_length=1)


class ResultReply(_Reply):
    kind: Literal["result"] = "result"
    motions: list[MotionPayload] = Field(min_length=1)
    timings: dict[str, float] = Field(default_factory=dict)
    cached: bool = False


class ErrorReply(_Reply):
    kind: Literal["error"] = "error"
    code: Literal["bad_request", "too_long", "busy", "cancelled", "not_found", "model_error", "internal"]
    message: str = ""


AnyReply = AcceptedReply | RejectedReply | ProgressReply | PreviewReply | ResultReply | ErrorReply
WorkerReply = Annotated[AnyReply, Field(discriminator="kind")]
_WORKER_REPLY: TypeAdapter[Any] = TypeAdapter(WorkerReply)

P = TypeVar("P", bound=BaseModel)


def pack(payload: BaseModel) -> bytes:
    """MessagePack encoding used on the request, reply and cancel topics."""
    return msgpack.packb(payload.model_dump(mode="python", exclude_none=True), use_bin_type=True)


def to_json(payload: BaseModel) -> bytes:
    """JSON encoding used on the status and event topics (read by dashboards and `mosquitto_sub`)."""
    return payload.model_dump_json(exclude_none=True).encode()


def _decode_map(data: bytes | bytearray, codec: Literal["msgpack", "json"]) -> dict:
    try:
        if codec == "msgpack":
            obj = msgpack.unpackb(bytes(data), raw=False, strict_map_key=True)
        else:
            obj = json.loads(bytes(data).decode("utf-8"))
    except Exception as exc:  # any decoder failure means the same thing: not our payload
        raise BadPayload(f"not {codec}: {exc}") from None
    if not isinstance(obj, dict):
        raise BadPayload(f"payload must be a map, got {type(obj).__name__}")
    return obj


def unpack(data: bytes | bytearray, model: type[P], codec: Literal["msgpack", "json"] = "msgpack") -> P:
    """Decode and validate one payload; raises BadPayload with a short reason."""
    try:
        return model.model_validate(_decode_map(data, codec))
    except ValidationError as exc:
        raise BadPayload(_short(exc)) from None


def unpack_reply(data: bytes | bytearray) -> AnyReply:
    try:
        return _WORKER_REPLY.validate_python(_decode_map(data, "msgpack"))
    except ValidationError as exc:
        raise BadPayload(_short(exc)) from None


def _short(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    return f"{where}: {first['msg']} ({exc.error_count()} error(s))"


def payload_bytes(message: aiomqtt.Message) -> bytes:
    p = message.payload
    if isinstance(p, (bytes, bytearray)):
        return bytes(p)
    if isinstance(p, str):
        return p.encode()
    return b"" if p is None else str(p).encode()


# ---------------------------------------------------------------------------------------------- the link

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


# ---------------------------------------------------------------------------------------------- node status


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
