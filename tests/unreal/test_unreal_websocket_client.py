"""The plugin's RFC 6455 client: pure frame codec, and the socket shell against the `websockets` library's
server (an independent implementation) on loopback."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from motionbridge_unreal.websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    ConnectionClosed,
    FrameParser,
    HandshakeError,
    WebSocketConnection,
    WebSocketError,
    accept_key,
    encode_frame,
)
from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.sync.server import ServerConnection, serve


def test_accept_key_matches_the_rfc_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_masked_frames_round_trip_through_the_parser_byte_by_byte_or_whole(length: int) -> None:
    payload = random.Random(length).randbytes(length)
    data = encode_frame(OP_BINARY, payload, mask_key=b"\x01\x02\x03\x04")
    assert data[1] & 0x80, "client frames carry the mask bit"
    # Every mask byte is non-zero, so no payload byte survives unmasked (a search for the payload in the
    # whole frame could match header bytes by chance).
    on_wire = data[len(data) - length:] if length else b""
    assert all(a != b for a, b in zip(on_wire, payload, strict=True)), "the payload is masked on the wire"
    whole = FrameParser(expect_masked=True)
    whole.feed(data)
    frame = whole.next_frame()
    assert frame is not None and frame.payload == payload and frame.fin and frame.opcode == OP_BINARY
    assert whole.next_frame() is None
    if length <= 65536:
        trickle = FrameParser(expect_masked=True)
        frames = []
        step = max(1, len(data) // 300)
        for i in range(0, len(data), step):
            trickle.feed(data[i:i + step])
            got = trickle.next_frame()
            if got is not None:
                frames.append(got)
        assert [f.payload for f in frames] == [payload]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes([0x80 | 0x40 | OP_TEXT, 0]), "reserved bits"),
        (bytes([0x80 | 0x3, 0]), "unknown WebSocket opcode"),
        (bytes([0x80 | OP_TEXT, 0x80, 0, 0, 0, 0]), "masking"),
        (bytes([0x80 | OP_PING, 126, 0, 200]) + b"x" * 200, "control frames"),
        (bytes([OP_CLOSE, 0]), "control frames"),
        (bytes([0x80 | OP_BINARY, 127]) + (10**9).to_bytes(8, "big"), "exceeds the limit"),
    ],
)
def test_the_parser_rejects_protocol_violations(data: bytes, message: str) -> None:
    parser = FrameParser(max_frame_bytes=1 << 20)
    parser.feed(data)
    with pytest.raises(WebSocketError, match=message):
        parser.next_frame()


def test_unfinished_fragments_are_kept_apart() -> None:
    parser = FrameParser()
    parser.feed(encode_frame(OP_TEXT, b"he", fin=False) + encode_frame(OP_CONTINUATION, b"llo"))
    first, second = parser.next_frame(), parser.next_frame()
    assert (first.fin, first.opcode, first.payload) == (False, OP_TEXT, b"he")
    assert (second.fin, second.opcode, second.payload) == (True, OP_CONTINUATION, b"llo")


# ---------------------------------------------------------------- against the websockets server


class EchoServer:
    """websockets' sync server: echoes messages; 'close:<code>' closes with that code; 'ping' pings us."""

    def __init__(self) -> None:
        self.pongs: list[float] = []

        def handler(ws: ServerConnection) -> None:
            for message in ws:
                if message == "ping":
                    waiter = ws.ping(b"are you there")
                    if waiter.wait(5):
                        self.pongs.append(time.monotonic())
                    ws.send("pinged")
                elif isinstance(message, str) and message.startswith("close:"):
                    ws.close(int(message[6:]), "asked to")
                    return
                elif message == "big":
                    ws.send(b"\x07" * 3_000_000)
                elif message == "fragments":
                    ws.send(["frag", "ment", "ed"])
                else:
                    ws.send(message)

        def process_request(ws: ServerConnection, request: Any) -> Response | None:
            if request.path == "/refuse":
                return Response(400, "Bad Request", Headers(), b"no")
            return None

        self.server = serve(handler, "127.0.0.1", 0, subprotocols=["motionbridge.v1.msgpack"],
                            process_request=process_request, compression=None, max_size=None)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture()
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.stop()


def _connect(server: EchoServer, path: str = "/v1") -> WebSocketConnection:
    return WebSocketConnection.connect("127.0.0.1", server.port, path, ["motionbridge.v1.msgpack"], timeout=5)


def test_handshake_negotiates_the_subprotocol_and_messages_echo(echo_server: EchoServer) -> None:
    ws = _connect(echo_server)
    try:
        assert ws.subprotocol == "motionbridge.v1.msgpack"
        ws.send_binary(b"\x00\xff" * 40000)
        assert ws.recv(timeout=5) == b"\x00\xff" * 40000
        ws.send_text("grüße")
        assert ws.recv(timeout=5) == "grüße"
    finally:
        ws.close()


def test_large_and_fragmented_server_messages_are_reassembled(echo_server: EchoServer) -> None:
    ws = _connect(echo_server)
    try:
        ws.send_text("big")
        assert ws.recv(timeout=10) == b"\x07" * 3_000_000
        ws.send_text("fragments")
        assert ws.recv(timeout=5) == "fragmented"
    finally:
        ws.close()


def test_server_pings_are_answered_while_receiving(echo_server: EchoServer) -> None:
    ws = _connect(echo_server)
    try:
        ws.send_text("ping")
        assert ws.recv(timeout=5) == "pinged"
        assert len(echo_server.pongs) == 1
    finally:
        ws.close()


def test_recv_times_out_with_none_and_keeps_the_connection_usable(echo_server: EchoServer) -> None:
    ws = _connect(echo_server)
    try:
        started = time.monotonic()
        assert ws.recv(timeout=0.2) is None
        assert time.monotonic() - started >= 0.15
        ws.send_text("still here")
        assert ws.recv(timeout=5) == "still here"
    finally:
        ws.close()


def test_a_close_from_the_server_raises_with_its_code_and_reason(echo_server: EchoServer) -> None:
    ws = _connect(echo_server)
    ws.send_text("close:4001")
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=5)
    assert (info.value.code, info.value.reason) == (4001, "asked to")
    with pytest.raises(ConnectionClosed):
        ws.send_text("after close")


def test_a_refused_upgrade_raises_handshake_error_with_the_status(echo_server: EchoServer) -> None:
    with pytest.raises(HandshakeError) as info:
        _connect(echo_server, "/refuse")
    assert info.value.status == 400


def test_nothing_listening_raises_oserror() -> None:
    server = EchoServer()
    port = server.port
    server.stop()
    with pytest.raises(OSError):
        WebSocketConnection.connect("127.0.0.1", port, "/v1", timeout=2)
