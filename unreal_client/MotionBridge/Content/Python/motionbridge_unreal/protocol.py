"""MotionBridge wire protocol v1 as the Unreal plugin speaks it: constants, request builders, event parsing.

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


def identify(client: str = CLIENT_NAME, token: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"op": "identify", "protocol": PROTOCOL_VERSION, "client": client}
    if token:
        message["token"] = token
    return message


# ---------------------------------------------------------------- requests


def generate(request_id: str, prompt: str, seconds: float = 5.0, seed: int = 0, samples: int = 1,
             steps: int | None = None, cfg: float | None = None, target: str = WIRE_TARGET,
             preview_every: int = 0, chunk_frames: int = 0, loop: bool = False,
             in_place: bool = False) -> dict[str, Any]:
    """A `generate` request; obviously bad values are refused here so the user sees why at once."""
    if not prompt or not prompt.strip():
        raise ProtocolError("the prompt is empty: describe the motion, e.g. 'a person walks forward'")
    seconds = float(seconds)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ProtocolError(f"seconds must be a positive number, got {seconds!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 31:
        raise ProtocolError(f"seed must be an integer in [0, 2^31), got {seed!r}")
    message: dict[str, Any] = {
        "op": "generate", "id": request_id, "prompt": prompt, "seconds": seconds, "seed": seed,
        "samples": int(samples), "target": target, "preview_every": int(preview_every),
        "chunk_frames": int(chunk_frames), "loop": bool(loop), "in_place": bool(in_place),
    }
    if steps is not None:
        message["steps"] = int(steps)
    if cfg is not None:
        message["cfg"] = float(cfg)
    return message


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
