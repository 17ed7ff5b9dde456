"""The wire format of protocol v1, sans I/O: its names and numbers, close and error codes, the frame codec
(MessagePack or JSON) and the motion bytes of a `motion` message as arrays.

What a client needs and no more: no validation models, no engine (the Python client imports only this and
`engine.core.motion`). `bridge.protocol` builds the messages, validation and handshake state on top of it;
`docs/protocol.md` is the authoritative text.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from typing import Any

import msgpack
import numpy as np

PROTOCOL_VERSION = 1
SERVER_VERSION = "0.1.0"
SUBPROTOCOL_MSGPACK = "motionbridge.v1.msgpack"
SUBPROTOCOL_JSON = "motionbridge.v1.json"
SUBPROTOCOLS: tuple[str, ...] = (SUBPROTOCOL_MSGPACK, SUBPROTOCOL_JSON)
BYTE_FIELDS = frozenset({"root", "rotations"})
"""Fields carried as bytes: `bin` in MessagePack, base64 strings in JSON."""


class CloseCode(enum.IntEnum):
    """WebSocket close codes the daemon uses."""

    NORMAL = 1000
    GOING_AWAY = 1001
    TRY_AGAIN_LATER = 1013
    UNAUTHORIZED = 4001
    WRONG_SUBPROTOCOL = 4002
    NOT_IDENTIFIED = 4003
    UNSUPPORTED_PROTOCOL = 4006
    TOO_LARGE = 4008
    SLOW_READER = 4009
    IDLE = 4010


class ErrorCode(str, enum.Enum):
    """`code` of an `error` message."""

    BAD_REQUEST = "bad_request"
    TOO_LONG = "too_long"
    BUSY = "busy"
    CANCELLED = "cancelled"
    NOT_FOUND = "not_found"
    MODEL_ERROR = "model_error"
    INTERNAL = "internal"


class RequestError(Exception):
    """A request the daemon refuses; becomes an `error` message, the connection stays open."""

    def __init__(self, code: ErrorCode, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id

    def to_wire(self) -> dict[str, Any]:
        return error_message(self.code, self.message, self.request_id)


class CloseConnection(Exception):
    """The connection must be closed with `code` (handshake failure, wrong frame kind, size/rate limit)."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(f"{int(code)}: {reason}")
        self.code = code
        # RFC 6455 limits a close reason to 123 bytes of UTF-8.
        self.reason = reason.encode()[:123].decode(errors="ignore")


def error_message(code: ErrorCode, message: str, request_id: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"op": "error", "code": code.value, "message": message}
    if request_id is not None:
        msg["id"] = request_id
    return msg


# ---------------------------------------------------------------------------------------------- codecs


class FrameKindError(Exception):
    """A text frame on the MessagePack subprotocol or a binary frame on the JSON one."""


def _to_json_safe(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {k: _to_json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json_safe(v) for v in value]
    return value


def encode_message(message: dict[str, Any], subprotocol: str) -> bytes | str:
    """One message → one frame: bytes (MessagePack, binary frame) or str (JSON, text frame)."""
    if subprotocol == SUBPROTOCOL_MSGPACK:
        return msgpack.packb(message, use_bin_type=True)
    if subprotocol == SUBPROTOCOL_JSON:
        return json.dumps(_to_json_safe(message), separators=(",", ":"), allow_nan=False)
    raise ValueError(f"unknown subprotocol {subprotocol!r}: use one of {', '.join(SUBPROTOCOLS)}")


def decode_message(frame: bytes | str, subprotocol: str) -> dict[str, Any]:
    """One frame → one message map.

    Raises FrameKindError for a frame of the wrong kind, RequestError(bad_request) for undecodable data
    or a top-level value that is not a map. JSON byte fields (`BYTE_FIELDS`) are base64-decoded.
    """
    if subprotocol == SUBPROTOCOL_MSGPACK:
        if not isinstance(frame, (bytes, bytearray, memoryview)):
            raise FrameKindError("text frame on motionbridge.v1.msgpack: send binary frames")
        try:
            # strict_map_key=False: the check below reports non-string keys as a clear error instead.
            value = msgpack.unpackb(bytes(frame), raw=False, strict_map_key=False)
        except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError) as exc:
            raise RequestError(ErrorCode.BAD_REQUEST, f"malformed MessagePack: {exc}") from None
    elif subprotocol == SUBPROTOCOL_JSON:
        if not isinstance(frame, str):
            raise FrameKindError("binary frame on motionbridge.v1.json: send text frames")
        try:
            value = json.loads(frame)
        except (ValueError, RecursionError) as exc:
            # ValueError also covers JSONDecodeError and integers beyond Python's 4,300-digit conversion limit.
            raise RequestError(ErrorCode.BAD_REQUEST, f"malformed JSON: {str(exc)[:200]}") from None
        if isinstance(value, dict):
            for key in BYTE_FIELDS & value.keys():
                if isinstance(value[key], str):
                    try:
                        value[key] = base64.b64decode(value[key], validate=True)
                    except (binascii.Error, ValueError):
                        raise RequestError(ErrorCode.BAD_REQUEST, f"field {key!r} is not valid base64") from None
    else:
        raise ValueError(f"unknown subprotocol {subprotocol!r}: use one of {', '.join(SUBPROTOCOLS)}")
    if not isinstance(value, dict):
        raise RequestError(
            ErrorCode.BAD_REQUEST, f"a message must be a map with an 'op' field, got {type(value).__name__}"
        )
    if not all(isinstance(k, str) for k in value):
        raise RequestError(ErrorCode.BAD_REQUEST, "message keys must be strings")
    return value


def frame_size(frame: bytes | str) -> int:
    return len(frame.encode()) if isinstance(frame, str) else len(frame)


def decode_motion_arrays(message: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Client side: a `motion` message → (root (count, 3), rotations (count, J, 4)) float32 arrays."""
    count = int(message["count"])
    joints = len(message["joints"])
    root = np.frombuffer(message["root"], dtype="<f4")
    rotations = np.frombuffer(message["rotations"], dtype="<f4")
    if root.size != count * 3 or rotations.size != count * joints * 4:
        raise ValueError(
            f"motion byte lengths do not match count={count}, joints={joints}: "
            f"root {root.size * 4} bytes, rotations {rotations.size * 4} bytes"
        )
    return root.reshape(count, 3), rotations.reshape(count, joints, 4)
