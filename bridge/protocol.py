"""MotionBridge wire protocol v1, sans I/O: messages, validation, limits and the per-connection state machine.

Nothing here touches a socket, a thread or a clock it was not given: the server (`bridge.server`) feeds
received frames into a `ServerSession` and sends whatever comes back. The frame codec, the codes and the
protocol's names are `bridge.codec`, which the client uses alone. The authoritative text is
`docs/protocol.md`; names and numbers here follow it.

Long module: requests, their validation against the limits, the server's messages and the session state
machine (handshake, pacing, outbox, per-connection request rules) are read together against docs/protocol.md.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import hashlib
import hmac
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bridge.codec import (
    PROTOCOL_VERSION,
    SERVER_VERSION,
    SUBPROTOCOLS,
    CloseCode,
    CloseConnection,
    ErrorCode,
    FrameKindError,
    RequestError,
    decode_message,
    encode_message,
    frame_size,
)
from engine.core.constraints import Constraints, EffectorKey, EndPose, Pose, PoseKey, Segment, StartMotion, Waypoint
from engine.core.motion import MAX_KEYS, MAX_SEGMENTS, frames_for_seconds
from engine.core.skeleton import BODY_JOINTS, FPS, SMPLH_BODY
from engine.core.targets import TARGETS, Target, get_target

WIRE_TARGETS: tuple[str, ...] = tuple(TARGETS)
MAX_ID_CHARS = 128
MAX_CFG = 20.0
MAX_SEED = 2**31
IDENTIFY_TIMEOUT_S = 30.0
CAPABILITY_CONSTRAINTS = "constraints"
CAPABILITY_TIMELINE = "timeline"
CAPABILITY_LIVE = "live"
CAPABILITIES: tuple[str, ...] = (CAPABILITY_CONSTRAINTS, CAPABILITY_TIMELINE, CAPABILITY_LIVE)
"""The protocol v1.1 parts this daemon implements (`hello.capabilities`) where the model runs in it."""
LIVE_BUFFER_MS = (0, 5000)
"""Range of `live_start.buffer_ms`: how far ahead of real time the client wants to hold frames."""
MAX_LIVE_AREA_M = 1000.0
"""Largest `live_start.area` radius, in metres (a radius beyond this keeps nothing in view anyway)."""

RATE_LIMIT_PER_SECOND = 1000.0
"""Messages per second a connection may keep sending; faster ones are read more slowly, not refused."""
RATE_LIMIT_BURST = 1000
"""Messages a connection may send at once, at full speed, before the sustained rate applies."""
RATE_LIMIT_BACKLOG = 1000
"""Messages a client may send ahead of the rate while it is being slowed down; one more is a flood (4008).
A client that waits for each reply is never more than one message ahead, so it is slowed, never closed."""

MAX_OUTBOX_BYTES = 32 * 1024 * 1024
"""Encoded replies that may wait for one slow reader; more closes the connection with 4009."""
PREVIEW_BACKLOG_BYTES = 1024 * 1024
"""While more than this waits for a reader, due previews are skipped (progress and results never are)."""


# ---------------------------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class Limits:
    """The `limits` object of `hello`; every number a client may need to stay within."""

    max_prompt_chars: int = 2000
    max_seconds: float = 12.0  # the server sets the served model's maximum
    max_samples: int = 8
    max_steps: int = 200
    max_inflight: int = 8
    max_message_bytes: int = 2 * 1024 * 1024
    max_queue: int = 64
    max_keys: int = MAX_KEYS  # v1.1: keys (and waypoints) one generate may carry

    def to_wire(self) -> dict[str, Any]:
        return {
            "max_prompt_chars": self.max_prompt_chars,
            "max_seconds": self.max_seconds,
            "max_samples": self.max_samples,
            "max_steps": self.max_steps,
            "max_inflight": self.max_inflight,
            "max_message_bytes": self.max_message_bytes,
            "max_queue": self.max_queue,
            "max_keys": self.max_keys,
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> Limits:
        """The inverse of `to_wire` (unknown keys ignored, missing ones default); ValueError if a value is unusable."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in wire:
                value = wire[f.name]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                    raise ValueError(f"limit {f.name} must be a positive number, got {value!r}")
                values[f.name] = float(value) if f.name == "max_seconds" else int(value)
        return cls(**values)


def serving_limits(base: Limits, model_max_seconds: float, max_batch: int, max_seconds: float | None = None) -> Limits:
    """The limits a node serves with, the one rule for the daemon and MQTT workers alike: `base`, clips no
    longer than the model (and `max_seconds`, if given) allows, and no more samples than one batch holds."""
    longest = float(model_max_seconds) if max_seconds is None else min(float(model_max_seconds), max_seconds)
    return dataclasses.replace(base, max_seconds=longest, max_samples=min(base.max_samples, max_batch))


JOB_LIMITS: tuple[str, ...] = ("max_prompt_chars", "max_seconds", "max_samples", "max_steps")
"""The limits on what one job may ask of a model; the others belong to one daemon (connections, queue)."""


def narrowest(base: Limits, others: Iterable[Limits]) -> Limits:
    """`base` with each job limit lowered to the smallest of `others`: what every one of several nodes serves."""
    others = list(others)
    lowest = {name: min([getattr(base, name)] + [getattr(o, name) for o in others]) for name in JOB_LIMITS}
    return dataclasses.replace(base, **lowest)


# ---------------------------------------------------------------------------------------------- messages

RequestId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]


class WireModel(BaseModel):
    """Base of every client message: strict types (no "5" for 5, no true for 1), unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False, frozen=True)


class Identify(WireModel):
    op: Literal["identify"]
    protocol: int
    client: str = ""
    token: str | None = None


WireBytes = bytes | str
"""A binary field: bytes on MessagePack, a base64 string on JSON (decoded by `decode_constraints`)."""


class WirePose(WireModel):
    rotations: WireBytes
    root: list[float] | None = None


class WireStartMotion(WireModel):
    root: WireBytes
    rotations: WireBytes
    frames: int


class WireStart(WireModel):
    motion: WireStartMotion | None = None
    job: str | None = None
    sample: int = 0


class WireKey(WireModel):
    """A pose key (`pose`, `joints`) or an effector key (`effector`, `position`): one of the two."""

    time: float
    pose: WirePose | None = None
    joints: list[str] | None = None
    effector: str | None = None
    position: list[float] | None = None
    weight: float = 1.0


class WireWaypoint(WireModel):
    time: float
    position: list[float]
    facing: float | None = None


class WireEnd(WireModel):
    pose: WirePose


class WireSegment(WireModel):
    prompt: str
    seconds: float


class Generate(WireModel):
    op: Literal["generate"]
    id: RequestId
    prompt: str = ""
    seconds: float = 5.0
    seed: int = 0
    samples: int = 1
    steps: int | None = None
    cfg: float | None = None
    target: str = "smplh"
    preview_every: Annotated[int, Field(ge=0)] = 0
    chunk_frames: Annotated[int, Field(ge=0)] = 0
    loop: bool = False
    in_place: bool = False
    # protocol v1.1 (capabilities "constraints" and "timeline"), in the convention of `target`
    start: WireStart | None = None
    keys: list[WireKey] | None = None
    path: list[WireWaypoint] | None = None
    end: WireEnd | None = None
    segments: list[WireSegment] | None = None


class Cancel(WireModel):
    op: Literal["cancel"]
    id: RequestId


class Status(WireModel):
    op: Literal["status"]
    id: RequestId


class Fetch(WireModel):
    op: Literal["fetch"]
    id: RequestId
    job: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    target: str | None = None
    chunk_frames: Annotated[int, Field(ge=0)] | None = None


class LiveStart(WireModel):
    op: Literal["live_start"]
    id: RequestId
    prompt: str
    target: str = "smplh"
    seed: int = 0
    buffer_ms: int = 500
    area: float = 0.0
    steps: int | None = None  # ours, beyond protocol-v1.1: sampler steps per chunk (the daemon's measured default)


class LivePrompt(WireModel):
    op: Literal["live_prompt"]
    id: RequestId
    prompt: str


class LiveStop(WireModel):
    op: Literal["live_stop"]
    id: RequestId


REQUEST_MODELS: dict[str, type[WireModel]] = {
    "generate": Generate, "cancel": Cancel, "status": Status, "fetch": Fetch,
    "live_start": LiveStart, "live_prompt": LivePrompt, "live_stop": LiveStop,
}


@dataclass(frozen=True)
class ModelDefaults:
    """What validation needs to know about the served model."""

    name: str
    fps: int = FPS
    default_steps: int = 50
    default_cfg: float = 5.0
    capabilities: tuple[str, ...] = ()
    """The v1.1 parts served (`CAPABILITIES` where the model runs in this daemon, none behind a worker pool)."""


# ---------------------------------------------------------------------------------------------- v1.1 constraints


@dataclass(frozen=True)
class Directions:
    """The v1.1 fields of a `generate`, decoded and converted from the request's target to the source convention
    (metres, Y up, +Z forward, `BODY_JOINTS` names): the request's `Constraints`, except a `start.job`, which
    only the server can resolve against its finished jobs (`bridge.directing`)."""

    constraints: Constraints
    start_job: tuple[str, int] | None = None  # (job id, sample)

    @property
    def segments(self) -> tuple[Segment, ...]:
        return self.constraints.segments

    @property
    def digest(self) -> str:
        """A fingerprint of everything here, for the result cache's key (same directions, same motion)."""
        h = hashlib.sha256()

        def add(value: Any) -> None:
            if isinstance(value, np.ndarray):
                h.update(repr(value.shape).encode())
                h.update(np.ascontiguousarray(value, dtype="<f8").tobytes())
            elif dataclasses.is_dataclass(value) and not isinstance(value, type):
                h.update(type(value).__name__.encode())
                for f in dataclasses.fields(value):
                    add(getattr(value, f.name))
            elif isinstance(value, (tuple, list)):
                h.update(b"(%d" % len(value))
                for v in value:
                    add(v)
                h.update(b")")
            else:
                h.update(repr(value).encode())

        add(self)
        return h.hexdigest()


def _wire_floats(where: str, value: bytes | str, count: int, shape: str) -> np.ndarray:
    """A binary field → `count` float32 values, checked for length and NaN/inf (RequestError naming `where`)."""
    if isinstance(value, str):
        try:
            value = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}: is not valid base64") from None
    if len(value) != count * 4:
        raise ValueError(f"{where}: wrong byte length: {shape} float32 is {count * 4} bytes, got {len(value)}")
    arr = np.frombuffer(value, dtype="<f4").astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: holds NaN or infinity")
    return arr


def _wire_vector(where: str, value: list[float]) -> np.ndarray:
    if len(value) != 3:
        raise ValueError(f"{where}: must be [x, y, z], got {len(value)} numbers")
    return np.asarray(value, dtype=np.float64)


def _source_joint(where: str, name: str, target: Target) -> str:
    try:
        return BODY_JOINTS[target.joint_index(name)]
    except ValueError:
        raise ValueError(
            f"{where}: unknown joint {name[:40]!r} for target {target.name}; joints: {', '.join(target.joints)}"
        ) from None


def _pose(where: str, pose: WirePose, target: Target) -> Pose:
    joints = len(target.joints)
    rotations = _wire_floats(f"{where}.rotations", pose.rotations, joints * 4, f"{joints}×4")
    root = None if pose.root is None else target.positions_to_source(_wire_vector(f"{where}.root", pose.root))
    return Pose(target.rotations_to_source(rotations.reshape(joints, 4)), root)


def decode_directions(request: Generate, limits: Limits) -> Directions | None:
    """The v1.1 fields of a generate → `Directions` in the source convention, or None when it has none.

    Checks what can be checked here: shapes and byte lengths, NaN/inf, joint and effector names of the request's
    target, counts against `limits.max_keys`; raises ValueError("<field>: why"). Times against the clip, weights
    and quaternions are `engine.core.constraints.validate`'s, which names fields the same way.
    """
    if request.start is None and not request.keys and not request.path and request.end is None and not request.segments:
        return None
    target = get_target(request.target)
    joints = len(target.joints)
    start_motion: StartMotion | None = None
    start_job = None
    if request.start is not None:
        st = request.start
        if (st.motion is None) == (st.job is None):
            raise ValueError("start: give either motion or job")
        if st.motion is not None:
            n = st.motion.frames
            if n < 1:
                raise ValueError(f"start.motion.frames: must be ≥ 1, got {n}")
            root = _wire_floats("start.motion.root", st.motion.root, n * 3, f"{n}×3")
            rot = _wire_floats("start.motion.rotations", st.motion.rotations, n * joints * 4, f"{n}×{joints}×4")
            start_motion = StartMotion(
                target.positions_to_source(root.reshape(n, 3)),
                target.rotations_to_source(rot.reshape(n, joints, 4)),
            )
        else:
            assert st.job is not None
            if st.sample < 0:
                raise ValueError(f"start.sample: must be ≥ 0, got {st.sample}")
            start_job = (st.job, st.sample)
    keys = request.keys or []
    if len(keys) > limits.max_keys:
        raise ValueError(f"keys: at most {limits.max_keys} keys (limits.max_keys), got {len(keys)}")
    directed_keys: list[PoseKey | EffectorKey] = []
    for i, key in enumerate(keys):
        where = f"keys[{i}]"
        if (key.pose is None) == (key.effector is None):
            raise ValueError(f"{where}: give either pose (a pose key) or effector and position (an effector key)")
        if key.pose is not None:
            names = None
            if key.joints is not None:
                names = tuple(_source_joint(f"{where}.joints", j, target) for j in key.joints)
            directed_keys.append(PoseKey(key.time, _pose(f"{where}.pose", key.pose, target), names, key.weight))
        else:
            assert key.effector is not None
            if key.position is None:
                raise ValueError(f"{where}.position: an effector key needs a position [x, y, z]")
            effector = _source_joint(f"{where}.effector", key.effector, target)
            position = target.positions_to_source(_wire_vector(f"{where}.position", key.position))
            directed_keys.append(EffectorKey(key.time, effector, position, key.weight))
    path = request.path or []
    if len(path) > limits.max_keys:
        raise ValueError(f"path: at most {limits.max_keys} waypoints (limits.max_keys), got {len(path)}")
    waypoints = tuple(
        Waypoint(
            wp.time,
            target.positions_to_source(_wire_vector(f"path[{i}].position", wp.position)),
            None if wp.facing is None else target.heading_to_source(wp.facing),
        )
        for i, wp in enumerate(path)
    )
    end = None if request.end is None else EndPose(_pose("end.pose", request.end.pose, target))
    segments = request.segments or []
    if len(segments) > MAX_SEGMENTS:
        raise ValueError(f"segments: at most {MAX_SEGMENTS} segments, got {len(segments)}")
    timeline = tuple(Segment(seg.prompt.strip(), float(seg.seconds)) for seg in segments)
    return Directions(Constraints(start_motion, tuple(directed_keys), waypoints, end, timeline), start_job)


@dataclass(frozen=True)
class GenerateJob:
    """A validated `generate` with every default resolved; what the scheduler queues."""

    id: str
    prompt: str
    seconds: float
    frames: int
    seed: int
    samples: int
    steps: int
    cfg: float
    target: str
    preview_every: int
    chunk_frames: int
    loop: bool
    in_place: bool
    directions: Directions | None = None
    """The v1.1 constraints and timeline (source convention), or None for a v1 request."""

    def cache_key(self, model: str) -> tuple:
        """Identical requests give identical motions: the fields that determine the result."""
        key = (model, self.prompt, self.frames, self.seed, self.samples, self.steps, round(self.cfg, 6))
        return key if self.directions is None else (*key, self.directions.digest)


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:4]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".") or "message"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _request_id_of(message: dict[str, Any]) -> str | None:
    rid = message.get("id")
    return rid if isinstance(rid, str) and 0 < len(rid) <= MAX_ID_CHARS else None


def parse_request(message: dict[str, Any]) -> WireModel:
    """A decoded map → a typed request model. Raises RequestError(bad_request) with a clear message."""
    op = message.get("op")
    rid = _request_id_of(message)
    if not isinstance(op, str):
        raise RequestError(ErrorCode.BAD_REQUEST, "message has no string field 'op'", rid)
    if op == "identify":
        raise RequestError(ErrorCode.BAD_REQUEST, "already identified: identify is sent once per connection", rid)
    model = REQUEST_MODELS.get(op)
    # An optional field sent as null means "use the default" (JSON clients often serialise absent values).
    message = {k: v for k, v in message.items() if v is not None}
    if model is None:
        known = ", ".join(REQUEST_MODELS)
        raise RequestError(ErrorCode.BAD_REQUEST, f"unknown op {op[:40]!r}: use one of {known}", rid)
    try:
        return model.model_validate(message)
    except ValidationError as exc:
        raise RequestError(ErrorCode.BAD_REQUEST, f"invalid {op}: {_describe_validation(exc)}", rid) from None


def validate_generate(request: Generate, limits: Limits, model: ModelDefaults) -> GenerateJob:
    """A `generate` → the job to queue: the model's defaults resolved and every limit checked (`check_limits`)."""
    steps = model.default_steps if request.steps is None else request.steps
    cfg = model.default_cfg if request.cfg is None else request.cfg
    max_frames = int(round(limits.max_seconds * model.fps))
    used = [name for name, part in (("start", request.start), ("keys", request.keys), ("path", request.path),
                                    ("end", request.end)) if part is not None]
    if used and CAPABILITY_CONSTRAINTS not in model.capabilities:
        raise RequestError(ErrorCode.BAD_REQUEST, f"{used[0]}: this daemon does not serve constraints", request.id)
    if request.segments is not None and CAPABILITY_TIMELINE not in model.capabilities:
        raise RequestError(ErrorCode.BAD_REQUEST, "segments: this daemon does not serve timelines", request.id)
    try:
        directions = decode_directions(request, limits)
    except ValueError as exc:
        raise RequestError(ErrorCode.BAD_REQUEST, f"invalid generate: {exc}", request.id) from None
    seconds = float(request.seconds)
    if directions is not None and directions.segments:
        seconds = float(sum(seg.seconds for seg in directions.segments))
    job = GenerateJob(
        id=request.id,
        prompt=request.prompt.strip(),
        seconds=seconds,
        # Clamped here so an absurd length cannot overflow the frame count before check_limits refuses it.
        frames=frames_for_seconds(min(max(seconds, 0.0), limits.max_seconds), max_frames, model.fps),
        seed=request.seed,
        samples=request.samples,
        steps=steps,
        cfg=float(cfg),
        target=request.target,
        preview_every=request.preview_every,
        chunk_frames=request.chunk_frames,
        loop=request.loop,
        in_place=request.in_place,
        directions=directions,
    )
    check_limits(job, limits)
    return job


def check_limits(job: GenerateJob, limits: Limits) -> None:
    """Refuse, before acceptance, everything about a job that the model could reject once it runs in a batch
    with other clients' jobs: too long → too_long, everything else → bad_request (RequestError with job.id)."""
    rid = job.id

    def bad(msg: str) -> RequestError:
        return RequestError(ErrorCode.BAD_REQUEST, msg, rid)

    segments = job.directions.segments if job.directions is not None else ()
    if not job.prompt and not segments:
        raise bad("prompt is empty: describe the motion, e.g. 'a person walks forward'")
    prompts = [("prompt", job.prompt)] + [(f"segments[{i}].prompt", seg.prompt) for i, seg in enumerate(segments)]
    for where, prompt in prompts:
        if where != "prompt" and not prompt:
            raise bad(f"{where}: is empty: describe the motion of this segment")
        check_prompt(where, prompt, limits, rid)
    for i, seg in enumerate(segments):
        if not seg.seconds > 0:
            raise bad(f"segments[{i}].seconds: must be > 0, got {seg.seconds}")
    if not job.seconds > 0:
        raise bad(f"seconds must be > 0, got {job.seconds}")
    if job.seconds > limits.max_seconds:
        what = f"segments: their sum, {job.seconds:g} s," if segments else f"seconds={job.seconds:g}"
        raise RequestError(ErrorCode.TOO_LONG, f"{what} is above the limit of {limits.max_seconds:g} s", rid)
    if not 0 <= job.seed < MAX_SEED:
        raise bad(f"seed must be in [0, {MAX_SEED}), got {job.seed}")
    if not 1 <= job.samples <= limits.max_samples:
        raise bad(f"samples must be in [1, {limits.max_samples}], got {job.samples}")
    if job.seed + job.samples > MAX_SEED:
        raise bad("seed + samples overflows the seed range")
    if not 1 <= job.steps <= limits.max_steps:
        raise bad(f"steps must be in [1, {limits.max_steps}], got {job.steps}")
    if not 0.0 <= job.cfg <= MAX_CFG:
        raise bad(f"cfg must be in [0, {MAX_CFG:g}], got {job.cfg}")
    if job.target not in WIRE_TARGETS:
        raise bad(f"unknown target {job.target[:40]!r}: use one of {', '.join(WIRE_TARGETS)}")


def check_prompt(where: str, prompt: str, limits: Limits, rid: str | None) -> None:
    """A prompt the text encoder can take: within `max_prompt_chars` (too_long) and encodable text (bad_request)."""
    if len(prompt) > limits.max_prompt_chars:
        raise RequestError(
            ErrorCode.TOO_LONG, f"{where} has {len(prompt)} characters; the limit is {limits.max_prompt_chars}", rid
        )
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RequestError(
            ErrorCode.BAD_REQUEST,
            f"{where} is not valid text: character {exc.start} is a lone UTF-16 surrogate "
            f"({prompt[exc.start]!r}); send the text itself, not half of a character pair",
            rid,
        ) from None


@dataclass(frozen=True)
class LiveSpec:
    """A validated `live_start`: `area_m` is the radius in metres (0: anywhere), whatever the target's units."""

    id: str
    prompt: str
    target: str
    seed: int
    buffer_ms: int
    area_m: float
    steps: int | None


def validate_live_prompt(request: LiveStart | LivePrompt, limits: Limits) -> str:
    prompt = request.prompt.strip()
    if not prompt:
        raise RequestError(ErrorCode.BAD_REQUEST, "prompt is empty: describe the motion, e.g. 'a person walks'",
                           request.id)
    check_prompt("prompt", prompt, limits, request.id)
    return prompt


def validate_live_start(request: LiveStart, limits: Limits, model: ModelDefaults) -> LiveSpec:
    """A `live_start` → the session to open, or RequestError naming the field."""
    rid = request.id
    if CAPABILITY_LIVE not in model.capabilities:
        raise RequestError(ErrorCode.BAD_REQUEST, "live_start: this daemon does not serve live mode", rid)
    prompt = validate_live_prompt(request, limits)
    if request.target not in WIRE_TARGETS:
        raise RequestError(ErrorCode.BAD_REQUEST,
                           f"unknown target {request.target[:40]!r}: use one of {', '.join(WIRE_TARGETS)}", rid)
    if not 0 <= request.seed < MAX_SEED:
        raise RequestError(ErrorCode.BAD_REQUEST, f"seed must be in [0, {MAX_SEED}), got {request.seed}", rid)
    low, high = LIVE_BUFFER_MS
    if not low <= request.buffer_ms <= high:
        raise RequestError(ErrorCode.BAD_REQUEST, f"buffer_ms must be in [{low}, {high}], got {request.buffer_ms}",
                           rid)
    target = get_target(request.target)
    area_m = float(request.area) / target.scale
    if not 0.0 <= area_m <= MAX_LIVE_AREA_M:
        raise RequestError(
            ErrorCode.BAD_REQUEST,
            f"area must be in [0, {MAX_LIVE_AREA_M * target.scale:g}] {target.units} (0: anywhere), got {request.area}",
            rid,
        )
    if request.steps is not None and not 1 <= request.steps <= limits.max_steps:
        raise RequestError(ErrorCode.BAD_REQUEST, f"steps must be in [1, {limits.max_steps}], got {request.steps}", rid)
    return LiveSpec(rid, prompt, request.target, request.seed, request.buffer_ms, area_m, request.steps)


def validate_fetch(request: Fetch) -> Fetch:
    if request.target is not None and request.target not in WIRE_TARGETS:
        raise RequestError(
            ErrorCode.BAD_REQUEST,
            f"unknown target {request.target[:40]!r}: use one of {', '.join(WIRE_TARGETS)}",
            request.id,
        )
    return request


# ---------------------------------------------------------------------------------------------- server messages


def hello_message(
    session: str,
    auth: bool,
    model_info: dict[str, Any],
    limits: Limits,
    formats: list[str],
    capabilities: Iterable[str] = (),
) -> dict:
    return {
        "op": "hello",
        "protocol": PROTOCOL_VERSION,
        "server": f"motionbridge/{SERVER_VERSION}",
        "session": session,
        "auth": "token" if auth else "none",
        "model": model_info,
        "skeleton": SMPLH_BODY.to_wire(),
        "limits": limits.to_wire(),
        "targets": {name: target.describe() for name, target in TARGETS.items()},
        "formats": formats,
        "capabilities": list(capabilities),
    }


def accepted_message(request_id: str, job: str, queue_position: int) -> dict[str, Any]:
    return {"op": "accepted", "id": request_id, "job": job, "queue_position": queue_position}


def progress_message(request_id: str, job: str, step: int, steps: int, eta_ms: float | None) -> dict[str, Any]:
    msg: dict[str, Any] = {"op": "progress", "id": request_id, "job": job, "step": step, "steps": steps}
    if eta_ms is not None:
        msg["eta_ms"] = round(eta_ms, 1)
    return msg


@dataclass(frozen=True)
class MotionPayload:
    """One sample of motion in the source convention, ready to be converted and sliced for the wire."""

    root: np.ndarray  # (L, 3) metres, source convention
    rotations: np.ndarray  # (L, 22, 4) x, y, z, w
    seed: int
    fps: float = FPS


def motion_messages(
    request_id: str,
    job: str,
    sample: int,
    payload: MotionPayload,
    target: str,
    chunk_frames: int = 0,
    preview_step: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The `motion` messages of one sample: converted to `target`, split in chunks of ≤ chunk_frames.

    A preview (preview_step given) is always one message with final false.
    """
    t = get_target(target)
    root = t.convert_positions(payload.root)
    rotations = t.convert_rotations(payload.rotations)
    total = int(root.shape[0])
    size = total if (chunk_frames <= 0 or preview_step is not None) else chunk_frames
    for start in range(0, total, max(size, 1)):
        count = min(size, total - start)
        msg: dict[str, Any] = {
            "op": "motion",
            "id": request_id,
            "job": job,
            "sample": sample,
            "seed": payload.seed,
            "preview": preview_step is not None,
            "final": preview_step is None and start + count == total,
            "start": start,
            "count": count,
            "total": total,
            "fps": int(payload.fps) if float(payload.fps).is_integer() else float(payload.fps),
            "target": target,
            "joints": list(t.joints),
            "root": np.ascontiguousarray(root[start : start + count], dtype="<f4").tobytes(),
            "rotations": np.ascontiguousarray(rotations[start : start + count], dtype="<f4").tobytes(),
        }
        if preview_step is not None:
            msg["step"] = preview_step
        yield msg


def live_motion_message(request_id: str, job: str, payload: MotionPayload, target: str, start: int) -> dict[str, Any]:
    """One `motion` message of a live session: frames `start`… of the endless stream, converted to `target`;
    `total` is the frames sent so far including these (a live stream has no end to announce)."""
    msg = next(motion_messages(request_id, job, 0, payload, target))
    count = int(msg["count"])
    msg.update(start=start, total=start + count, final=False, live=True)
    return msg


def live_state_message(request_id: str, prompt: str, frame: int) -> dict[str, Any]:
    """`live_state`: the prompt now followed and the first frame that follows it."""
    return {"op": "live_state", "id": request_id, "prompt": prompt, "frame": frame}


def done_message(
    request_id: str,
    job: str,
    samples: int,
    frames: int,
    fps: float,
    cached: bool,
    timings: dict[str, float],
    files: dict[str, list[str]] | None = None,
    segments: list[dict[str, int]] | None = None,
) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "op": "done",
        "id": request_id,
        "job": job,
        "samples": samples,
        "frames": frames,
        "seconds": round(frames / float(fps), 6),
        "cached": cached,
        "timings": {k: round(float(v), 3) for k, v in timings.items()},
    }
    if files:
        msg["files"] = files
    if segments is not None:
        msg["segments"] = segments
    return msg


# ---------------------------------------------------------------------------------------------- session state


class SessionState(enum.Enum):
    AWAITING_IDENTIFY = "awaiting_identify"
    READY = "ready"
    CLOSED = "closed"


@dataclass(frozen=True)
class Identified:
    """The handshake completed; the server sends `reply` (the `ready` message)."""

    client: str  # the client's name, cut to 200 characters (it goes into logs)
    reply: dict[str, Any]


@dataclass
class RateLimiter:
    """Token bucket over a connection's messages: `burst` at once, then `rate` per second; the clock is injected.

    A message beyond the bucket is not refused but held: `reserve()` says how many seconds to wait before
    handling it. A client that waits for each reply is never more than one message ahead of the bucket, so
    it is only slowed down; one that keeps sending while held runs `backlog` messages ahead and is a flood
    (`reserve()` returns None).
    """

    rate: float
    burst: float
    backlog: float
    clock: Callable[[], float]
    _tokens: float = field(init=False)
    _last: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = self.burst
        self._last = self.clock()

    def reserve(self) -> float | None:
        """Take a token for one more message: seconds until it may be handled, or None for a flood."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens - 1.0 < -self.backlog:
            return None
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0.0 else -self._tokens / self.rate


class Enqueued(enum.Enum):
    """What `Outbox.push` did with a frame."""

    QUEUED = "queued"
    SKIPPED = "skipped"  # a preview while the backlog is above the preview budget
    OVERFLOW = "overflow"  # the reader is too slow: close the connection (4009)


@dataclass(frozen=True)
class OutgoingFrame:
    """One encoded message waiting to be sent; `on_send` runs when it leaves the outbox for the socket."""

    frame: bytes | str
    size: int
    preview: bool = False
    on_send: Callable[[], None] | None = None


class Outbox:
    """One connection's encoded replies waiting for the client to read them, bounded in bytes.

    Previews are best-effort: one is skipped while more than `preview_bytes` wait. Anything else that would
    take the total over `max_bytes` first evicts the previews still waiting; if it still does not fit, the
    client is reading too slowly for the replies it asks for and `push` answers OVERFLOW.
    """

    def __init__(self, max_bytes: int = MAX_OUTBOX_BYTES, preview_bytes: int = PREVIEW_BACKLOG_BYTES) -> None:
        self.max_bytes = max_bytes
        self.preview_bytes = min(preview_bytes, max_bytes)
        self.queued_bytes = 0
        self._frames: deque[OutgoingFrame] = deque()

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def takes_previews(self) -> bool:
        return self.queued_bytes <= self.preview_bytes

    def push(self, frame: bytes | str, *, preview: bool = False, on_send: Callable[[], None] | None = None) -> Enqueued:
        size = len(frame)  # encode_message's JSON is ASCII (json.dumps escapes the rest): characters are bytes
        if preview and (not self.takes_previews or self.queued_bytes + size > self.max_bytes):
            return Enqueued.SKIPPED
        if self.queued_bytes + size > self.max_bytes:
            self._evict_previews()
            if self.queued_bytes + size > self.max_bytes:
                return Enqueued.OVERFLOW
        self._frames.append(OutgoingFrame(frame, size, preview, on_send))
        self.queued_bytes += size
        return Enqueued.QUEUED

    def pop(self) -> OutgoingFrame | None:
        """The next frame to send (its `on_send` is the caller's to run), or None when empty."""
        if not self._frames:
            return None
        item = self._frames.popleft()
        self.queued_bytes -= item.size
        return item

    def clear(self) -> None:
        self._frames.clear()
        self.queued_bytes = 0

    def _evict_previews(self) -> None:
        kept = deque(item for item in self._frames if not item.preview)
        self.queued_bytes = sum(item.size for item in kept)
        self._frames = kept


class ServerSession:
    """The server side of one connection as a pure state machine: frames in, typed results out.

    `admit(frame)` paces frames as they are read (size and rate limits). `receive(frame)` returns `Identified`
    (send its reply) or a typed request model (Generate, Cancel, Status, Fetch — `Generate` already validated
    into a `GenerateJob`); it raises RequestError (send an error, keep going) or CloseConnection (close with
    that code). The per-connection request rules live here too: unique ids among the requests in flight, at
    most `max_inflight` of them, and which job a `cancel` names (`check_new_request`, `started`, `finished`,
    `job_to_cancel`); the server only stores what a job is.
    """

    def __init__(
        self,
        session_id: str,
        subprotocol: str | None,
        token: str | None,
        limits: Limits,
        model: ModelDefaults,
        clock: Callable[[], float],
    ) -> None:
        self.session_id = session_id
        self.subprotocol = subprotocol
        self.token = token
        self.limits = limits
        self.model = model
        self.state = SessionState.AWAITING_IDENTIFY
        self.client = ""
        self._rate = RateLimiter(RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST, RATE_LIMIT_BACKLOG, clock)
        self.inflight: dict[str, object] = {}
        """Request id → the job serving it, for every generate whose `done` or `error` has not left yet."""

    # ------------------------------------------------------------------ per-connection request rules

    def check_new_request(self, request_id: str) -> None:
        """A generate may start: its id is not in flight (`bad_request`) and fewer than `max_inflight` are
        (`busy`). Raises RequestError otherwise."""
        if request_id in self.inflight:
            message = f"id {request_id!r} is already in flight: use a new id"
            raise RequestError(ErrorCode.BAD_REQUEST, message, request_id)
        if len(self.inflight) >= self.limits.max_inflight:
            raise RequestError(
                ErrorCode.BUSY,
                f"{self.limits.max_inflight} requests already in flight on this connection: wait for one to finish",
                request_id,
            )

    def started(self, request_id: str, job: object) -> None:
        """The request's job was accepted: it holds an in-flight slot until `finished`."""
        self.inflight[request_id] = job

    def finished(self, request_id: str, job: object) -> None:
        """The request's last reply left: free its slot (only if it still belongs to this job)."""
        if self.inflight.get(request_id) is job:
            del self.inflight[request_id]

    def job_to_cancel(self, request_id: str) -> object:
        """The job a `cancel` names; `not_found` (a reply to the cancel) when no such request is in flight."""
        job = self.inflight.get(request_id)
        if job is None:
            raise RequestError(ErrorCode.NOT_FOUND, f"no request {request_id!r} in flight to cancel", request_id)
        return job

    def check_subprotocol(self) -> None:
        if self.subprotocol not in SUBPROTOCOLS:
            self.state = SessionState.CLOSED
            raise CloseConnection(CloseCode.WRONG_SUBPROTOCOL, f"offer a subprotocol: {' or '.join(SUBPROTOCOLS)}")

    def encode(self, message: dict[str, Any]) -> bytes | str:
        assert self.subprotocol is not None
        return encode_message(message, self.subprotocol)

    def _close(self, code: CloseCode, reason: str) -> CloseConnection:
        self.state = SessionState.CLOSED
        return CloseConnection(code, reason)

    def admit(self, frame: bytes | str) -> float:
        """A frame was read: seconds to hold it before `receive` (0: at once), by the rate limit.

        Raises CloseConnection(4008) for a message over the size limit or a flood (`RateLimiter`).
        """
        if frame_size(frame) > self.limits.max_message_bytes:
            raise self._close(CloseCode.TOO_LARGE, f"message larger than {self.limits.max_message_bytes} bytes")
        delay = self._rate.reserve()
        if delay is None:
            raise self._close(
                CloseCode.TOO_LARGE,
                f"rate limit: more than {RATE_LIMIT_BURST} messages at once or {RATE_LIMIT_PER_SECOND:g}/s "
                "sustained, and still sending",
            )
        return delay

    def receive(self, frame: bytes | str) -> Identified | WireModel | GenerateJob | LiveSpec:
        if self.state is SessionState.CLOSED:
            raise CloseConnection(CloseCode.NORMAL, "connection already closed")
        self.check_subprotocol()
        if frame_size(frame) > self.limits.max_message_bytes:
            raise self._close(CloseCode.TOO_LARGE, f"message larger than {self.limits.max_message_bytes} bytes")
        try:
            message = decode_message(frame, self.subprotocol)  # type: ignore[arg-type]
        except FrameKindError as exc:
            raise self._close(CloseCode.WRONG_SUBPROTOCOL, str(exc)) from None
        except RequestError as exc:
            if self.state is SessionState.AWAITING_IDENTIFY:
                raise self._close(CloseCode.NOT_IDENTIFIED, f"send identify first ({exc.message})") from None
            raise
        if self.state is SessionState.AWAITING_IDENTIFY:
            return self._identify(message)
        request = parse_request(message)
        if isinstance(request, Generate):
            return validate_generate(request, self.limits, self.model)
        if isinstance(request, Fetch):
            return validate_fetch(request)
        if isinstance(request, LiveStart):
            return validate_live_start(request, self.limits, self.model)
        return request

    def _identify(self, message: dict[str, Any]) -> Identified:
        if message.get("op") != "identify":
            raise self._close(CloseCode.NOT_IDENTIFIED, "the first message must be identify")
        protocol = message.get("protocol")
        if isinstance(protocol, bool) or not isinstance(protocol, int) or protocol != PROTOCOL_VERSION:
            raise self._close(
                CloseCode.UNSUPPORTED_PROTOCOL,
                f"unsupported protocol {protocol!r}: this daemon speaks {PROTOCOL_VERSION}",
            )
        try:
            identify = Identify.model_validate(message)
        except ValidationError as exc:
            raise self._close(CloseCode.NOT_IDENTIFIED, f"invalid identify: {_describe_validation(exc)}") from None
        if self.token is not None and not _same_secret(identify.token, self.token):
            raise self._close(CloseCode.UNAUTHORIZED, "wrong or missing token")
        self.state = SessionState.READY
        self.client = identify.client[:200]
        return Identified(self.client, {"op": "ready", "protocol": PROTOCOL_VERSION, "session": self.session_id})


def _same_secret(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
