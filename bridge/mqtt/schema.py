"""MQTT schema: broker URLs, topics and the validated payloads every node exchanges (see docs/scaling.md).

MotionBridge uses an existing MQTT 5 broker for two things:
- events: a node publishes its retained status (`<prefix>/nodes/<node>/status`, last will "offline") and
  the life of every job (`<prefix>/jobs/<job>/events`) as JSON, for dashboards and other tools;
- distribution: gateways put jobs on `<prefix>/requests`, workers take them through a shared subscription
  and answer on `<prefix>/replies/<gateway>/<job>` (MessagePack, because motions are binary).

Everything that crosses the broker is validated with the pydantic models below; a payload that does not
validate raises `BadPayload`, which every receiver logs and drops (one bad publisher never stops a node).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import msgpack
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from engine.core.motion import Motion

log = logging.getLogger("motionbridge.mqtt")

SCHEMA_VERSION: Final = 1
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
