"""The plugin's connection to the MotionBridge daemon: handshake, a receive thread, an event queue and
reconnection with exponential backoff.

The editor's game thread must never block on the network, so a daemon thread owns the socket reads and
puts every decoded message (a dict) or connection change (`ConnectionEvent`) on a queue; the game thread
drains it with `events()` once per tick. Sends happen on the caller's thread (short, lock-protected).

After a reconnect the requests that were still in flight are recovered: a request the daemon had accepted
is re-`fetch`ed under its original id (the protocol lets a client choose ids; replies then look like the
original request's), and if the daemon no longer has it (`not_found`) or had not accepted it yet, the
original `generate` is sent again.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from typing import Any, Union

from . import protocol
from .websocket import ConnectionClosed, HandshakeError, WebSocketConnection, WebSocketError

FATAL_CLOSE_CODES = (4001, 4002, 4006)
"""Close codes after which reconnecting cannot help (wrong token, subprotocol or protocol version)."""


class BridgeConnectionError(Exception):
    """The daemon cannot be reached or refused the connection; the message says what to check."""


class ConnectionEvent:
    """A change of the connection: kind is 'lost', 'reconnected' or 'failed' (no further retries)."""

    def __init__(self, kind: str, detail: str = "", code: int = 0) -> None:
        self.kind = kind
        self.detail = detail
        self.code = code

    def __repr__(self) -> str:
        return f"ConnectionEvent({self.kind!r}, {self.detail!r}, {self.code})"


class ReconnectBackoff:
    """Delays between reconnect attempts: initial, initial·factor, … capped at `maximum`; `attempts` 0 = forever."""

    def __init__(self, initial: float = 0.5, factor: float = 2.0, maximum: float = 10.0, attempts: int = 0) -> None:
        self.initial = initial
        self.factor = factor
        self.maximum = maximum
        self.attempts = attempts

    def delays(self):  # type: ignore[no-untyped-def]
        count = itertools.count() if self.attempts <= 0 else range(self.attempts)
        for k in count:
            yield min(self.maximum, self.initial * self.factor ** k)


class _InFlight:
    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message
        self.job: str | None = None
        self.recovering = False


Event = Union[dict[str, Any], ConnectionEvent]  # noqa: UP007 - a runtime alias: `X | Y` needs Python 3.10, UE 5.3 has 3.9


class BridgeClient:
    """A connection to `ws://host:port/v1` with the MessagePack subprotocol."""

    def __init__(self, host: str = protocol.DEFAULT_HOST, port: int = protocol.DEFAULT_PORT,
                 token: str | None = None, client_name: str = protocol.CLIENT_NAME,
                 reconnect: bool = True, backoff: ReconnectBackoff | None = None,
                 connect_timeout: float = 5.0) -> None:
        self.host = host
        self.port = int(port)
        self.token = token
        self.client_name = client_name
        self.reconnect = reconnect
        self.backoff = backoff or ReconnectBackoff()
        self.connect_timeout = connect_timeout
        self.hello: protocol.Hello | None = None
        self._socket: WebSocketConnection | None = None
        self._queue: queue.Queue[Event] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._inflight: dict[str, _InFlight] = {}
        self._ids = itertools.count(1)
        self._id_prefix = f"ue{os.urandom(3).hex()}-"

    # -- lifecycle

    @property
    def connected(self) -> bool:
        sock = self._socket
        return sock is not None and sock.closed is None

    def connect(self) -> protocol.Hello:
        """Connect and identify (blocking, up to `connect_timeout`), then start the receive thread."""
        if self._thread is not None and self._thread.is_alive():
            raise BridgeConnectionError("already connected; call close() first")
        self._stop.clear()
        self._open()
        self._thread = threading.Thread(target=self._receive_loop, name="MotionBridgeReceive", daemon=True)
        self._thread.start()
        assert self.hello is not None
        return self.hello

    def close(self) -> None:
        """Stop the receive thread and close the socket (no reconnect)."""
        self._stop.set()
        sock = self._socket
        if sock is not None:
            sock.close(1000, "client closing")
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        self._thread = None

    def _open(self) -> None:
        where = f"ws://{self.host}:{self.port}{protocol.PATH}"
        try:
            sock = WebSocketConnection.connect(self.host, self.port, protocol.PATH, [protocol.SUBPROTOCOL],
                                               timeout=self.connect_timeout)
        except HandshakeError as exc:
            raise BridgeConnectionError(
                f"{where} refused the connection: {exc} (is that a MotionBridge daemon?)") from None
        except OSError as exc:
            raise BridgeConnectionError(f"cannot reach the MotionBridge daemon at {where}: {exc} (start it with "
                                        "'motionbridge serve' or check host/port)") from None
        try:
            hello = protocol.Hello(self._receive_message(sock))
            if hello.auth == "token" and not self.token:
                raise BridgeConnectionError(f"the daemon at {where} requires a token: set it in the MotionBridge panel")
            sock.send_binary(protocol.encode(protocol.identify(self.client_name, self.token)))
            ready = self._receive_message(sock)
            if ready.get("op") != "ready":
                raise protocol.ProtocolError("expected 'ready' after identify, got {!r}".format(ready.get("op")))
        except ConnectionClosed as exc:
            sock.close()
            hint = {4001: "the token is wrong", 4006: "the daemon speaks another protocol version"}.get(exc.code, "")
            suffix = ": " + hint if hint else ""
            raise BridgeConnectionError(f"the daemon closed the handshake ({exc.code} {exc.reason}){suffix}") from None
        except (protocol.ProtocolError, WebSocketError, BridgeConnectionError):
            sock.close()
            raise
        self.hello = hello
        self._socket = sock

    def _receive_message(self, sock: WebSocketConnection) -> dict[str, Any]:
        data = sock.recv(timeout=self.connect_timeout)
        if data is None:
            raise BridgeConnectionError(f"the daemon did not answer the handshake within {self.connect_timeout:.0f} s")
        return protocol.decode(data)  # type: ignore[arg-type]

    # -- sending

    def next_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids)}"

    def send(self, message: dict[str, Any]) -> None:
        sock = self._socket
        if sock is None or sock.closed is not None:
            raise BridgeConnectionError("not connected to the MotionBridge daemon (Connect first)")
        try:
            sock.send_binary(protocol.encode(message))
        except (OSError, WebSocketError) as exc:
            raise BridgeConnectionError(f"sending to the daemon failed: {exc}") from None

    def generate(self, prompt: str, seconds: float = 5.0, seed: int = 0, **options: Any) -> str:
        """Send a `generate` for the `unreal` target; returns its request id."""
        return self.submit(protocol.generate(self.next_id(), prompt, seconds, seed, **options))

    def submit(self, message: dict[str, Any]) -> str:
        """Send a `generate` made earlier with `protocol.generate` and an id from `next_id()` (e.g. one validated
        and queued while the connection was still being made); returns its request id."""
        request_id = str(message["id"])
        with self._lock:
            self._inflight[request_id] = _InFlight(message)
        try:
            self.send(message)
        except BridgeConnectionError:
            with self._lock:
                self._inflight.pop(request_id, None)
            raise
        return request_id

    def live_start(self, prompt: str, seed: int = 0, buffer_ms: int = protocol.DEFAULT_BUFFER_MS,
                   area: float = 0.0) -> str:
        """Send a `live_start` for the `unreal` target (`area` in centimetres); returns the live session's id.
        Live sessions are not recovered after a reconnect: the daemon ends them with the connection."""
        if self.hello is not None:
            self.hello.require(protocol.CAPABILITY_LIVE, "Live mode")
        request_id = self.next_id()
        self.send(protocol.live_start(request_id, prompt, seed=seed, buffer_ms=buffer_ms, area=area))
        return request_id

    def live_prompt(self, request_id: str, prompt: str) -> None:
        self.send(protocol.live_prompt(request_id, prompt))

    def live_stop(self, request_id: str) -> None:
        self.send(protocol.live_stop(request_id))

    def cancel(self, request_id: str) -> None:
        self.send(protocol.cancel(request_id))

    def status(self) -> str:
        request_id = self.next_id()
        self.send(protocol.status(request_id))
        return request_id

    def fetch(self, job: str) -> str:
        request_id = self.next_id()
        self.send(protocol.fetch(request_id, job))
        return request_id

    # -- receiving

    def events(self, limit: int = 1000) -> list[Event]:
        """Everything received since the last call (non-blocking), oldest first."""
        out: list[Event] = []
        while len(out) < limit:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return out

    def next_event(self, timeout: float) -> Event | None:
        """Wait up to `timeout` seconds for one event (for scripts and tests; the editor uses events())."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _receive_loop(self) -> None:
        while not self._stop.is_set():
            sock = self._socket
            try:
                data = sock.recv(timeout=0.25) if sock is not None else None
                if data is None:
                    continue
                message = protocol.decode(data)  # type: ignore[arg-type]
            except ConnectionClosed as exc:
                if self._stop.is_set():
                    return
                self._queue.put(ConnectionEvent("lost", exc.reason or "connection closed", exc.code))
                if not self._reconnect(exc.code):
                    return
                continue
            except (WebSocketError, protocol.ProtocolError) as exc:
                if sock is not None:
                    sock.close(1002, "protocol error")
                if self._stop.is_set():
                    return
                self._queue.put(ConnectionEvent("lost", str(exc), 1002))
                if not self._reconnect(1002):
                    return
                continue
            if self._track(message):
                self._queue.put(message)

    def _track(self, message: dict[str, Any]) -> bool:
        """Keep the in-flight table current; False swallows an event that recovery has answered itself."""
        request_id = message.get("id")
        op = message.get("op")
        with self._lock:
            entry = self._inflight.get(request_id) if isinstance(request_id, str) else None
            if entry is None:
                return True
            if op == "accepted":
                entry.job = message.get("job")
                return True
            if op == "error" and message.get("code") == "not_found" and entry.recovering:
                entry.recovering = False
                entry.job = None
                resend = entry.message
            else:
                if op in ("done", "error"):
                    del self._inflight[request_id]
                return True
        try:
            self.send(resend)
        except BridgeConnectionError:
            return True
        return False

    def _reconnect(self, code: int) -> bool:
        if not self.reconnect or code in FATAL_CLOSE_CODES:
            self._queue.put(ConnectionEvent("failed", f"not reconnecting after close code {code}", code))
            return False
        last_error = ""
        for delay in self.backoff.delays():
            if self._stop.wait(delay):
                return False
            try:
                self._open()
            except (BridgeConnectionError, protocol.ProtocolError, WebSocketError, OSError) as exc:
                last_error = str(exc)
                continue
            self._queue.put(ConnectionEvent("reconnected", self.hello.session if self.hello else ""))
            self._recover_inflight()
            return True
        self._queue.put(ConnectionEvent("failed", f"gave up reconnecting: {last_error}", code))
        return False

    def _recover_inflight(self) -> None:
        with self._lock:
            entries = list(self._inflight.items())
        for request_id, entry in entries:
            try:
                if entry.job:
                    entry.recovering = True
                    self.send(protocol.fetch(request_id, entry.job, entry.message.get("target", protocol.WIRE_TARGET)))
                else:
                    self.send(entry.message)
            except BridgeConnectionError:
                return

