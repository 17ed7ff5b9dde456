"""A small blocking RFC 6455 WebSocket client: handshake, masked frames, fragments, ping/pong, close.

Why our own: the editor's Python must not need pip (see msgpack_codec). The frame codec (`encode_frame`,
`FrameParser`) is pure and tested without sockets; `WebSocketConnection` is the thin socket shell. One
thread may call `recv` while another calls `send_*`: sends are serialised by a lock.
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Sequence

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_CONTROL_OPS = (OP_CLOSE, OP_PING, OP_PONG)
_DATA_OPS = (OP_CONTINUATION, OP_TEXT, OP_BINARY)

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class WebSocketError(Exception):
    """The peer broke the WebSocket protocol, or the connection failed."""


class HandshakeError(WebSocketError):
    """The HTTP upgrade was refused or answered wrongly; `status` is the HTTP status (0 if none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class ConnectionClosed(WebSocketError):
    """The connection is closed; `code` and `reason` come from the close frame (1006 if there was none)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


# ---------------------------------------------------------------- frames (pure)


class Frame:
    """One WebSocket frame as read from the wire (already unmasked)."""

    __slots__ = ("fin", "opcode", "payload")

    def __init__(self, fin: bool, opcode: int, payload: bytes) -> None:
        self.fin = fin
        self.opcode = opcode
        self.payload = payload

    def __repr__(self) -> str:
        return f"Frame(fin={self.fin!r}, opcode={self.opcode}, {len(self.payload)} bytes)"


def _apply_mask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return b""
    # XOR with the key repeated over the payload, done on big integers: fast in pure Python.
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")
    return masked.to_bytes(len(payload), "little")


def encode_frame(opcode: int, payload: bytes, fin: bool = True, mask_key: bytes | None = None) -> bytes:
    """Serialise one frame; clients must pass a 4-byte `mask_key` (RFC 6455 §5.3)."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask_key is not None else 0
    length = len(payload)
    if length < 126:
        head.append(mask_bit | length)
    elif length <= 0xFFFF:
        head.append(mask_bit | 126)
        head += struct.pack(">H", length)
    else:
        head.append(mask_bit | 127)
        head += struct.pack(">Q", length)
    if mask_key is None:
        return bytes(head) + payload
    if len(mask_key) != 4:
        raise ValueError("a WebSocket mask key has 4 bytes")
    return bytes(head) + mask_key + _apply_mask(payload, mask_key)


class FrameParser:
    """Incremental frame parser: `feed` bytes, then take complete frames with `next_frame`."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, expect_masked: bool = False) -> None:
        self._buffer = bytearray()
        self._max = max_frame_bytes
        self._expect_masked = expect_masked

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_frame(self) -> Frame | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        if first & 0x70:
            raise WebSocketError("frame uses reserved bits but no extension was negotiated")
        opcode = first & 0x0F
        if opcode not in _CONTROL_OPS and opcode not in _DATA_OPS:
            raise WebSocketError(f"unknown WebSocket opcode 0x{opcode:x}")
        fin = bool(first & 0x80)
        masked = bool(second & 0x80)
        if masked != self._expect_masked:
            raise WebSocketError("frame masking is wrong for this side of the connection")
        length = second & 0x7F
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length = struct.unpack_from(">H", buf, 2)[0]
            pos = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length = struct.unpack_from(">Q", buf, 2)[0]
            pos = 10
        if opcode in _CONTROL_OPS and (length > 125 or not fin):
            raise WebSocketError("control frames must be unfragmented and at most 125 bytes")
        if length > self._max:
            raise WebSocketError(f"frame of {length} bytes exceeds the limit of {self._max}")
        key = b""
        if masked:
            if len(buf) < pos + 4:
                return None
            key = bytes(buf[pos:pos + 4])
            pos += 4
        if len(buf) < pos + length:
            return None
        payload = bytes(buf[pos:pos + length])
        del buf[:pos + length]
        if masked:
            payload = _apply_mask(payload, key)
        return Frame(fin, opcode, payload)


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack(">H", code) + reason.encode("utf-8")[:123]


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        return 1005, ""
    return struct.unpack(">H", payload[:2])[0], payload[2:].decode("utf-8", "replace")


def accept_key(client_key: str) -> str:
    """The Sec-WebSocket-Accept value a server must answer for `client_key`."""
    return base64.b64encode(hashlib.sha1((client_key + GUID).encode("ascii")).digest()).decode("ascii")


# ---------------------------------------------------------------- connection (socket shell)


class WebSocketConnection:
    """A client connection. Create it with `WebSocketConnection.connect(...)`."""

    def __init__(self, sock: socket.socket, subprotocol: str | None, leftover: bytes,
                 max_message_bytes: int) -> None:
        self._sock = sock
        self.subprotocol = subprotocol
        self._parser = FrameParser(max_message_bytes, expect_masked=False)
        self._parser.feed(leftover)
        self._max_message = max_message_bytes
        self._send_lock = threading.Lock()
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0
        self._close_sent = False
        self.closed: ConnectionClosed | None = None

    @classmethod
    def connect(cls, host: str, port: int, path: str = "/", subprotocols: Sequence[str] = (),
                timeout: float = 10.0, headers: Sequence[tuple[str, str]] = (),
                max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> WebSocketConnection:
        """Open a TCP connection and perform the HTTP upgrade; raises HandshakeError or OSError."""
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            key = base64.b64encode(os.urandom(16)).decode("ascii")
            host_header = host if port == 80 else f"{host if ':' not in host else '[' + host + ']'}:{port}"
            lines = [
                f"GET {path} HTTP/1.1",
                f"Host: {host_header}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13",
            ]
            if subprotocols:
                lines.append("Sec-WebSocket-Protocol: {}".format(", ".join(subprotocols)))
            lines += [f"{name}: {value}" for name, value in headers]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            status, response_headers, leftover = _read_http_response(sock, deadline=time.monotonic() + timeout)
            if status != 101:
                raise HandshakeError(f"the server refused the WebSocket upgrade with HTTP {status}", status)
            if response_headers.get("upgrade", "").lower() != "websocket":
                raise HandshakeError("the server's upgrade response lacks 'Upgrade: websocket'", status)
            if response_headers.get("sec-websocket-accept") != accept_key(key):
                raise HandshakeError("the server answered a wrong Sec-WebSocket-Accept", status)
            chosen = response_headers.get("sec-websocket-protocol")
            if chosen is not None and chosen not in subprotocols:
                raise HandshakeError(f"the server chose subprotocol {chosen!r} that was not offered", status)
            sock.settimeout(None)
            return cls(sock, chosen, leftover, max_message_bytes)
        except BaseException:
            sock.close()
            raise

    # -- sending

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        frame = encode_frame(opcode, payload, mask_key=os.urandom(4))
        with self._send_lock:
            if self.closed is not None and opcode != OP_CLOSE:
                raise self.closed
            try:
                self._sock.sendall(frame)
            except OSError as exc:
                self._mark_closed(1006, f"send failed: {exc}")
                raise self.closed from None  # type: ignore[misc]

    def send_binary(self, data: bytes) -> None:
        self._send_frame(OP_BINARY, bytes(data))

    def send_text(self, text: str) -> None:
        self._send_frame(OP_TEXT, text.encode("utf-8"))

    def ping(self, payload: bytes = b"") -> None:
        self._send_frame(OP_PING, payload)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame (once) and shut the socket; safe to call repeatedly and from any thread."""
        if not self._close_sent and self.closed is None:
            self._close_sent = True
            try:
                self._send_frame(OP_CLOSE, close_payload(code, reason))
            except (OSError, WebSocketError):
                pass
        self._mark_closed(code, reason)

    def _mark_closed(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = ConnectionClosed(code, reason)
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    # -- receiving

    def recv(self, timeout: float | None = None) -> bytes | str | None:
        """The next whole message (bytes for binary, str for text), or None if `timeout` passed first.

        Pings are answered here; a close frame is answered and raised as ConnectionClosed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.closed is not None:
                raise self.closed
            try:
                frame = self._parser.next_frame()
            except WebSocketError as exc:
                self.close(1002, str(exc)[:100])
                raise
            if frame is None:
                if not self._fill(deadline):
                    return None
                continue
            message = self._handle_frame(frame)
            if message is not None:
                return message

    def _fill(self, deadline: float | None) -> bool:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if remaining == 0.0:
            return False
        try:
            # select() waits instead of a socket timeout, so a concurrent send never inherits a short timeout.
            readable, _, _ = select.select([self._sock], [], [], remaining)
            if not readable:
                return False
            data = self._sock.recv(65536)
        except (OSError, ValueError) as exc:
            if self.closed is not None:
                raise self.closed from None
            self._mark_closed(1006, f"connection lost: {exc}")
            raise self.closed from None  # type: ignore[misc]
        if not data:
            self._mark_closed(1006, "connection lost without a close frame")
            raise self.closed  # type: ignore[misc]
        self._parser.feed(data)
        return True

    def _handle_frame(self, frame: Frame) -> bytes | str | None:
        if frame.opcode == OP_PING:
            self._send_frame(OP_PONG, frame.payload)
            return None
        if frame.opcode == OP_PONG:
            return None
        if frame.opcode == OP_CLOSE:
            code, reason = parse_close_payload(frame.payload)
            if not self._close_sent:
                self._close_sent = True
                try:
                    self._send_frame(OP_CLOSE, frame.payload[:2])
                except (OSError, WebSocketError):
                    pass
            self._mark_closed(code, reason)
            raise self.closed  # type: ignore[misc]
        if frame.opcode == OP_CONTINUATION:
            if not self._fragments:
                self.close(1002, "continuation without a first fragment")
                raise WebSocketError("continuation frame without a first fragment")
        elif self._fragments:
            self.close(1002, "new message inside a fragmented one")
            raise WebSocketError("data frame started inside a fragmented message")
        else:
            self._fragment_opcode = frame.opcode
        self._fragments.append(frame.payload)
        if sum(len(part) for part in self._fragments) > self._max_message:
            self.close(1009, "message too big")
            raise WebSocketError(f"message exceeds the limit of {self._max_message} bytes")
        if not frame.fin:
            return None
        payload = b"".join(self._fragments)
        self._fragments = []
        if self._fragment_opcode == OP_TEXT:
            try:
                return payload.decode("utf-8")
            except UnicodeDecodeError:
                self.close(1007, "invalid UTF-8")
                raise WebSocketError("text message is not valid UTF-8") from None
        return payload


def _read_http_response(sock: socket.socket, deadline: float) -> tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > 65536:
            raise HandshakeError("the server's HTTP response header is too long")
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except socket.timeout:  # noqa: UP041 - only an alias of TimeoutError from Python 3.10; UE 5.3 has 3.9
            raise HandshakeError("no HTTP response to the WebSocket upgrade in time") from None
        if not chunk:
            raise HandshakeError("the server closed the connection during the WebSocket upgrade")
        data += chunk
    head, leftover = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise HandshakeError(f"malformed HTTP status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, leftover
