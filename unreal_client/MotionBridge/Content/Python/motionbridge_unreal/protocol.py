"""MotionBridge wire protocol v1 (with the v1.1 addendum) as the Unreal plugin speaks it: constants, request
builders, event parsing.

Pure functions and value types, no sockets and no `unreal`. The authoritative text is the repository's
`docs/protocol.md`; the numbers restated here (subprotocol, port, the `unreal` target's basis) are checked
against the daemon's own definitions by the plugin's tests, because this plugin ships without the engine.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

from . import msgpack_codec

PROTOCOL_VERSION = 1
SUBPROTOCOL = "motionbridge.v1.msgpack"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8747
PATH = "/v1"
CLIENT_NAME = "motionbridge-unreal/0.1.0"

WIRE_TARGET = "unreal"
"""The plugin asks the daemon for the `unreal` target: left-handed, Z up, faces +X, centimetres."""
UNREAL_BASIS: tuple[tuple[float, float, float], ...] = ((0.0, 0.0, 1.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
"""Rows of M: Unreal vector = M · source vector (UE X = source Z, UE Y = −source X, UE Z = source Y)."""
UNREAL_SCALE = 100.0
"""Metres (source) to centimetres (Unreal)."""

UNREAL_JOINTS: tuple[str, ...] = (
    "pelvis", "thigh_l", "thigh_r", "spine_01", "calf_l", "calf_r", "spine_03", "foot_l", "foot_r", "spine_05",
    "ball_l", "ball_r", "neck_01", "clavicle_l", "clavicle_r", "head", "upperarm_l", "upperarm_r", "lowerarm_l",
    "lowerarm_r", "hand_l", "hand_r")
"""The `unreal` target's joint names in the source skeleton's order (docs/protocol.md §8), for a daemon whose
hello has no `targets` table."""

CAPABILITY_CONSTRAINTS = "constraints"
"""hello.capabilities entry (v1.1): `generate` takes `start`, `keys`, `path`, `end`."""
CAPABILITY_TIMELINE = "timeline"
"""hello.capabilities entry (v1.1): `generate` takes `segments`."""
CAPABILITY_LIVE = "live"
"""hello.capabilities entry (v1.1): `live_start`, `live_prompt`, `live_stop`."""
DEFAULT_BUFFER_MS = 500
"""live_start's default: how far ahead of real time the daemon keeps the client supplied."""

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]


class ProtocolError(ValueError):
    """A message from the daemon does not follow the protocol, or a request would be invalid."""


class ServerError(Exception):
    """An `error` event: `code` is one of the protocol's error codes, `request_id` the request it ends."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


# ---------------------------------------------------------------- codec


def encode(message: dict[str, Any]) -> bytes:
    return msgpack_codec.pack(message)


def decode(data: bytes) -> dict[str, Any]:
    """One received binary frame → message map; raises ProtocolError for anything that is not a map with `op`."""
    if not isinstance(data, (bytes, bytearray)):
        raise ProtocolError(f"expected a binary frame on {SUBPROTOCOL}, got a text frame")
    try:
        message = msgpack_codec.unpack(data)
    except msgpack_codec.MessagePackError as exc:
        raise ProtocolError(f"undecodable message from the daemon: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolError("message from the daemon is not a map with a string 'op'")
    return message


# ---------------------------------------------------------------- handshake


class Hello:
    """The daemon's `hello`: model facts, the source skeleton and the limits."""

    def __init__(self, message: dict[str, Any]) -> None:
        if message.get("op") != "hello":
            raise ProtocolError("expected 'hello' first, got {!r}".format(message.get("op")))
        if message.get("protocol") != PROTOCOL_VERSION:
            theirs = message.get("protocol")
            raise ProtocolError(f"daemon speaks protocol {theirs!r}, this plugin speaks {PROTOCOL_VERSION}: "
                                "update one of them")
        self.session = str(message.get("session", ""))
        self.server = str(message.get("server", ""))
        self.auth = message.get("auth", "none")
        model = message.get("model") or {}
        self.model_name = str(model.get("name", "?"))
        self.fps = int(model.get("fps", 30))
        self.max_seconds = float(model.get("max_seconds", 0.0) or 0.0)
        skeleton = message.get("skeleton") or {}
        self.joints: list[str] = [str(j) for j in skeleton.get("joints", [])]
        self.parents: list[int] = [int(p) for p in skeleton.get("parents", [])]
        self.rest: list[Vec3] = [tuple(float(v) for v in row) for row in skeleton.get("rest", [])]  # type: ignore
        if not self.joints or len(self.parents) != len(self.joints) or len(self.rest) != len(self.joints):
            raise ProtocolError("hello.skeleton needs joints, parents and rest of equal length")
        self.limits: dict[str, Any] = dict(message.get("limits") or {})
        targets = message.get("targets") or {}
        joints = (targets.get(WIRE_TARGET) or {}).get("joints") if isinstance(targets, dict) else None
        self.wire_joints: list[str] = [str(j) for j in joints] if joints else list(UNREAL_JOINTS)
        """Joint names of the `unreal` target in the skeleton's order: what start motions are sent with."""
        if len(self.wire_joints) != len(self.joints):
            raise ProtocolError(f"hello.targets.{WIRE_TARGET}.joints has {len(self.wire_joints)} names for "
                                f"{len(self.joints)} joints")
        # A v1.0 daemon sends no capabilities: it serves none of the v1.1 parts.
        self.capabilities: list[str] = [str(c) for c in message.get("capabilities") or []]

    def require(self, capability: str, what: str) -> None:
        """Raise ProtocolError unless the daemon lists `capability`; `what` names the panel feature that needs it."""
        if capability not in self.capabilities:
            offered = ", ".join(self.capabilities) or "none"
            server = self.server or "this daemon"
            raise ProtocolError(f"{what} needs a daemon with the '{capability}' capability; {server} offers: "
                                f"{offered} (update MotionBridge and restart 'motionbridge serve')")


def identify(client: str = CLIENT_NAME, token: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"op": "identify", "protocol": PROTOCOL_VERSION, "client": client}
    if token:
        message["token"] = token
    return message


# ---------------------------------------------------------------- requests


def generate(request_id: str, prompt: str | None, seconds: float = 5.0, seed: int = 0, samples: int = 1,
             steps: int | None = None, cfg: float | None = None, target: str = WIRE_TARGET,
             preview_every: int = 0, chunk_frames: int = 0, loop: bool = False,
             in_place: bool = False, start: dict[str, Any] | None = None,
             segments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A `generate` request; obviously bad values are refused here so the user sees why at once.

    `start` (from `start_from_job` or `start_from_motion`) and `segments` (from `segments`) are the v1.1 fields;
    with `segments` the prompt may be None and `seconds` is their sum, as the daemon counts it.
    """
    if segments is not None:
        seconds = sum(float(s["seconds"]) for s in segments)
    elif not prompt or not prompt.strip():
        raise ProtocolError("the prompt is empty: describe the motion, e.g. 'a person walks forward'")
    seconds = float(seconds)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ProtocolError(f"seconds must be a positive number, got {seconds!r}")
    _check_seed(seed)
    message: dict[str, Any] = {
        "op": "generate", "id": request_id, "seconds": seconds, "seed": seed,
        "samples": int(samples), "target": target, "preview_every": int(preview_every),
        "chunk_frames": int(chunk_frames), "loop": bool(loop), "in_place": bool(in_place),
    }
    if prompt is not None and prompt.strip():
        message["prompt"] = prompt
    if steps is not None:
        message["steps"] = int(steps)
    if cfg is not None:
        message["cfg"] = float(cfg)
    if start is not None:
        message["start"] = start
    if segments is not None:
        message["segments"] = segments
    return message


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 31:
        raise ProtocolError(f"seed must be an integer in [0, 2^31), got {seed!r}")


def capabilities_used(message: dict[str, Any]) -> list[str]:
    """The hello.capabilities a request needs the daemon to list."""
    used = []
    if any(field in message for field in ("start", "keys", "path", "end")):
        used.append(CAPABILITY_CONSTRAINTS)
    if "segments" in message:
        used.append(CAPABILITY_TIMELINE)
    if str(message.get("op", "")).startswith("live_"):
        used.append(CAPABILITY_LIVE)
    return used


def start_from_job(job: str, sample: int = 0) -> dict[str, Any]:
    """`generate.start` continuing the end of a finished job of this daemon."""
    if not job:
        raise ProtocolError("there is no finished clip to continue: Generate one first")
    return {"job": str(job), "sample": int(sample)}


def start_from_motion(root: Sequence[Sequence[float]], rotations: Sequence[Sequence[Sequence[float]]],
                      joints: int) -> dict[str, Any]:
    """`generate.start` continuing these frames (oldest first; the wire target's convention, centimetres for
    `unreal`): root n×3 and rotations n×joints×4 (x, y, z, w) as float32 little-endian bytes."""
    frames = len(root)
    if frames < 1 or len(rotations) != frames:
        raise ProtocolError("a start motion needs at least one frame, with as many rotation frames as root positions")
    flat_root = [float(v) for position in root for v in position]
    flat_rotations = [float(v) for frame in rotations for q in frame for v in q]
    if len(flat_root) != frames * 3 or len(flat_rotations) != frames * joints * 4:
        raise ProtocolError(f"a start motion frame needs a root (x, y, z) and {joints} quaternions (x, y, z, w)")
    if not all(math.isfinite(v) for v in flat_root + flat_rotations):
        raise ProtocolError("the start motion has NaN or infinite values")
    return {"motion": {"root": struct.pack(f"<{len(flat_root)}f", *flat_root),
                       "rotations": struct.pack(f"<{len(flat_rotations)}f", *flat_rotations),
                       "frames": frames}}


def segments(rows: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
    """`generate.segments` from (prompt, seconds) rows: one continuous motion, each stretch its own prompt."""
    if not rows:
        raise ProtocolError("the timeline is empty: give at least one row of seconds and prompt")
    out = []
    for i, (prompt, seconds) in enumerate(rows):
        if not prompt or not prompt.strip():
            raise ProtocolError(f"timeline row {i + 1} has no prompt")
        seconds = float(seconds)
        if not math.isfinite(seconds) or seconds <= 0:
            raise ProtocolError(f"timeline row {i + 1}: seconds must be a positive number, got {seconds!r}")
        out.append({"prompt": prompt.strip(), "seconds": seconds})
    return out


def live_start(request_id: str, prompt: str, target: str = WIRE_TARGET, seed: int = 0,
               buffer_ms: int = DEFAULT_BUFFER_MS, area: float = 0.0) -> dict[str, Any]:
    """`live_start`: stream motion that follows `prompt` until `live_stop`. `area` > 0 keeps the root within
    that radius of where it started (centimetres for the `unreal` target)."""
    if not prompt or not prompt.strip():
        raise ProtocolError("the prompt is empty: describe the motion to stream, e.g. 'a person walks around'")
    _check_seed(seed)
    area = float(area)
    if not math.isfinite(area) or area < 0:
        raise ProtocolError(f"the live area radius must be 0 (no limit) or positive, got {area!r}")
    if int(buffer_ms) <= 0:
        raise ProtocolError(f"buffer_ms must be positive, got {buffer_ms!r}")
    return {"op": "live_start", "id": request_id, "prompt": prompt, "target": target, "seed": seed,
            "buffer_ms": int(buffer_ms), "area": area}


def live_prompt(request_id: str, prompt: str) -> dict[str, Any]:
    if not prompt or not prompt.strip():
        raise ProtocolError("the live prompt is empty")
    return {"op": "live_prompt", "id": request_id, "prompt": prompt}


def live_stop(request_id: str) -> dict[str, Any]:
    return {"op": "live_stop", "id": request_id}


def cancel(request_id: str) -> dict[str, Any]:
    return {"op": "cancel", "id": request_id}


def status(request_id: str) -> dict[str, Any]:
    return {"op": "status", "id": request_id}


def fetch(request_id: str, job: str, target: str = WIRE_TARGET) -> dict[str, Any]:
    return {"op": "fetch", "id": request_id, "job": job, "target": target}


def server_error(message: dict[str, Any]) -> ServerError:
    return ServerError(str(message.get("code", "internal")), str(message.get("message", "")), message.get("id"))


# ---------------------------------------------------------------- motion


class MotionChunk:
    """A decoded `motion` message: `root[f]` is (x, y, z), `rotations[f][j]` is (x, y, z, w)."""

    def __init__(self, message: dict[str, Any]) -> None:
        try:
            self.request_id = str(message["id"])
            self.job = str(message.get("job", ""))
            self.sample = int(message.get("sample", 0))
            self.preview = bool(message.get("preview", False))
            self.live = bool(message.get("live", False))
            self.final = bool(message.get("final", False))
            self.start = int(message.get("start", 0))
            self.count = int(message["count"])
            self.total = int(message.get("total", self.start + self.count))
            self.fps = int(message.get("fps", 30))
            self.target = str(message.get("target", ""))
            self.joints: list[str] = [str(j) for j in message["joints"]]
            root_bytes = message["root"]
            rot_bytes = message["rotations"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed motion message: {exc}") from None
        self.step = message.get("step")
        joints = len(self.joints)
        if len(root_bytes) != self.count * 12 or len(rot_bytes) != self.count * joints * 16:
            raise ProtocolError(f"motion message sizes do not match count={self.count} and {joints} joints")
        root = struct.unpack(f"<{self.count * 3}f", root_bytes)
        rotations = struct.unpack(f"<{self.count * joints * 4}f", rot_bytes)
        self.root: list[Vec3] = [tuple(root[3 * f:3 * f + 3]) for f in range(self.count)]  # type: ignore
        self.rotations: list[list[Quat]] = [
            [tuple(rotations[(f * joints + j) * 4:(f * joints + j) * 4 + 4]) for j in range(joints)]  # type: ignore
            for f in range(self.count)
        ]


def source_rest_in_unreal(rest: Sequence[Sequence[float]]) -> list[Vec3]:
    """hello.skeleton.rest offsets (metres, source convention) → Unreal basis, centimetres."""
    out = []
    for v in rest:
        out.append(tuple(UNREAL_SCALE * sum(UNREAL_BASIS[r][c] * float(v[c]) for c in range(3)) for r in range(3)))
    return out  # type: ignore[return-value]
