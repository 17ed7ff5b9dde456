"""The daemon's network shell: a `websockets` asyncio server around the sans-I/O protocol and the scheduler.

One port serves
- the WebSocket protocol v1 at `/v1` (see docs/protocol.md): each connection is a `ServerSession` fed with
  frames, paced by its rate limit; replies go through one ordered outbox per connection, bounded in bytes
  (a client that does not read is closed, never buffered without end), at most `max_connections` at once;
- plain HTTP through `process_request`: the WebSocket upgrade is admitted here (origin, shutdown,
  connection limit); `GET /health`, the browser page and downloads are `bridge.routes`'.

Security defaults: bind 127.0.0.1; refuse a non-loopback bind without a token; browsers (requests with an
`Origin` header) only from the daemon's own page or `--allow-origin` origins.

Long module: the asyncio shell of one daemon — connections and their outboxes, the job events turned into
replies, fetch replays, graceful shutdown — which share the connection set and its lifecycle. The HTTP routes
are `bridge.routes`, the per-connection request rules `bridge.protocol.ServerSession`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import resource
import sys
import time
import uuid
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.frames import CloseCode as WsCloseCode
from websockets.http11 import Request, Response
from websockets.protocol import CONNECTING, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from bridge import web
from bridge.cache import ExportCache, MotionCache
from bridge.codec import (
    PROTOCOL_VERSION,
    SERVER_VERSION,
    SUBPROTOCOLS,
    CloseCode,
    CloseConnection,
    ErrorCode,
    RequestError,
    error_message,
    frame_size,
)
from bridge.directing import checked_constraints
from bridge.live import LiveSession
from bridge.protocol import (
    CAPABILITIES,
    CAPABILITY_LIVE,
    IDENTIFY_TIMEOUT_S,
    MAX_OUTBOX_BYTES,
    Cancel,
    Enqueued,
    Fetch,
    GenerateJob,
    Identified,
    Limits,
    LivePrompt,
    LiveSpec,
    LiveStop,
    ModelDefaults,
    MotionPayload,
    Outbox,
    ServerSession,
    SessionState,
    Status,
    accepted_message,
    done_message,
    hello_message,
    live_state_message,
    motion_messages,
    narrowest,
    progress_message,
    serving_limits,
    validate_live_prompt,
)
from bridge.routes import WS_PATH, HttpRoutes, find_exporter, offered_formats
from bridge.scheduler import Failed, Finished, Job, JobBackend, NotAccepting, Preview, Progress, QueueFull, Scheduler
from bridge.store import ResultStore, StoredJob
from engine.core.motion import Motion
from engine.model.generation import MotionModel
from engine.model.threads import ModelThread

log = logging.getLogger("motionbridge.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8747
STATIC_DIR = Path(__file__).with_name("static")
DEFAULT_MAX_CONNECTIONS = 256
"""WebSocket connections served at once; more are refused (HTTP 503). Well below the usual 1024 open files."""
CLOSE_TIMEOUT_S = 5.0
"""How long a peer gets to answer our close frame before its TCP connection is cut (one that stopped reading)."""
PENDING_CLOSE_LIMIT_S = 60.0
IDLE_EVICT_S = 300.0
"""At the connection limit, a new connection closes the one idle longest (nothing in flight, no live session,
no frame for this long) with 4010 instead of being refused: an editor left open keeps its connection until the
daemon is full, and idle connections can never lock new clients out."""
DEFAULT_MAX_LIVE = 4
"""Live sessions served at once. One costs ~7–12 % of a CPU thread (a 2 s chunk in 0.15–0.25 s,
`motionbridge bench live`), so four leave most of the model for batch jobs; a fifth gets `busy`."""
"""How long a closing connection may take to receive its last replies and the close before it is cut."""

SendHook = Callable[[], None]
JobListener = Callable[..., None]
"""Called as listener(event, job, **fields) for accepted/progress/done/error (the MQTT event publisher)."""


class ServedModel(Protocol):
    """What the server itself reads of its model (hello, limits, status): a local `MotionModel` has it, and so
    does the MQTT gateway's description of its worker pool, whose jobs run elsewhere."""

    name: str
    fps: int
    max_seconds: float
    default_steps: int
    default_cfg: float

    def info(self) -> dict: ...


class InsecureBind(Exception):
    """Listening on a non-loopback address without a token would expose the model to the network."""


@dataclass
class ServerConfig:
    """Everything `motionbridge serve` can set."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    allow_origins: Sequence[str] = ()
    limits: Limits = field(default_factory=Limits)
    max_seconds: float | None = None  # None: the model's own maximum
    max_batch: int = 4
    output_dir: str | Path | None = None
    retention: int = 500
    cache_size: int = 128
    shutdown_timeout: float = 10.0
    identify_timeout: float = IDENTIFY_TIMEOUT_S
    static_dir: Path = STATIC_DIR
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_outbox_bytes: int = MAX_OUTBOX_BYTES
    close_timeout: float = CLOSE_TIMEOUT_S
    max_live: int = DEFAULT_MAX_LIVE
    idle_evict_s: float = IDLE_EVICT_S


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise InsecureBind(
            f"refusing to listen on {host!r} without a token: anyone on the network could use the model. "
            "Pass --token SECRET (clients send it in identify), or bind 127.0.0.1."
        )


class _LimitedServerProtocol(ServerProtocol):
    """websockets' protocol, but an oversized message closes with 4008 (our protocol) instead of 1009, and
    a request with a body gets an HTTP answer (405/400) instead of a silently closed connection."""

    def fail(self, code: WsCloseCode | int, reason: str = "") -> None:
        if code == WsCloseCode.MESSAGE_TOO_BIG:
            code = int(CloseCode.TOO_LARGE)
        super().fail(code, reason)

    def parse(self) -> Generator[None]:
        if self.state is CONNECTING:
            while (end := self.reader.buffer.find(b"\r\n\r\n")) < 0:
                if self.reader.eof or len(self.reader.buffer) > web.MAX_REQUEST_HEAD_BYTES:
                    break  # websockets' parser reports what is wrong
                yield
            refusal = web.refuse_request_head(bytes(self.reader.buffer[:end])) if end >= 0 else None
            if refusal is not None:
                self.handshake_exc = InvalidMessage(f"refused a request with a body: {refusal.status_code}")
                self.send_response(refusal)  # also swaps self.parser for one that discards the rest
                yield
                return
        yield from super().parse()


def _limited_connection(protocol: ServerProtocol, *args: Any, **kwargs: Any) -> ServerConnection:
    # `serve` builds a plain ServerProtocol and offers no hook for its class; our subclass overrides the close
    # code used by `fail` and looks at the request head before websockets parses it. The fresh instance has
    # received nothing yet, so swapping its class and restarting its parser is safe.
    protocol.__class__ = _LimitedServerProtocol
    protocol.parser = protocol.parse()
    next(protocol.parser)
    return ServerConnection(protocol, *args, **kwargs)


class _Client:
    """One WebSocket connection: its session (state and per-connection rules) and its outbox of encoded replies."""

    def __init__(self, ws: ServerConnection, session: ServerSession, max_outbox_bytes: int, close_timeout: float):
        self.ws = ws
        self.session = session
        self.outbox = Outbox(max_outbox_bytes)
        self.close_timeout = close_timeout
        # Bytes of frames read but held back by the rate limit.
        self.held_bytes = 0
        # closed: nothing more is queued (the peer left or a close is on its way).
        self.closed = False
        self.last_active = time.monotonic()
        """When a frame last came from this client (idle connections make room at the connection limit)."""
        self._close: tuple[int, str] | None = None
        self._closing: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self.live: LiveSession | None = None

    def send(self, message: dict[str, Any], *, preview: bool = False, on_send: SendHook | None = None) -> None:
        """Queue a reply; `on_send` runs when it leaves for the socket. A reader so slow that the outbox
        overflows is closed with 4009 (its jobs are cancelled; finished ones stay fetchable)."""
        if self.closed:
            return
        outcome = self.outbox.push(self.session.encode(message), preview=preview, on_send=on_send)
        if outcome is Enqueued.QUEUED:
            self._wake.set()
        elif outcome is Enqueued.OVERFLOW:
            log.warning("session %s reads too slowly: closing it", self.session.session_id[:8])
            self.close_now(
                CloseCode.SLOW_READER,
                f"too slow: more than {self.outbox.max_bytes} bytes of replies waiting; read replies as they come",
            )

    def release_on_send(self, request_id: str, job: Job) -> SendHook:
        """An `on_send` that frees the request's in-flight slot once its last reply leaves for the socket (not
        when it is queued: a client that never reads would otherwise get new slots forever)."""

        def release() -> None:
            self.session.finished(request_id, job)

        return release

    def close_after_pending(self, code: int, reason: str) -> None:
        """Close once everything already queued is sent (idempotent); it also ends the writer."""
        self.closed = True
        if self._close is None:
            self._close = (code, reason)
        self._wake.set()

    def close_now(self, code: int, reason: str) -> None:
        """Drop what waits and close at once, even while the writer is stuck on a peer that does not read."""
        self.closed = True
        self.outbox.clear()
        if self._closing is None:
            self._close = (code, reason)
            self._closing = asyncio.create_task(self._close_ws(code, reason))
        self._wake.set()

    async def _close_ws(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code, reason), self.close_timeout)
        except TimeoutError:
            # The peer did not answer the close (it stopped reading, so it may not even have got it): cut it off.
            self.ws.transport.abort()

    async def write_loop(self) -> None:
        while True:
            item = self.outbox.pop()
            if item is None:
                if self._close is not None:
                    if self._closing is None:
                        self._closing = asyncio.create_task(self._close_ws(*self._close))
                    await self._closing
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if item.on_send is not None:
                item.on_send()
            try:
                await self.ws.send(item.frame)
            except ConnectionClosed:
                self.closed = True
                return


class MotionBridgeServer:
    """The daemon: model + scheduler + store + WebSocket/HTTP server on one port."""

    def __init__(
        self,
        model: ServedModel,
        config: ServerConfig | None = None,
        scheduler: JobBackend | None = None,
        model_thread: ModelThread | None = None,
    ) -> None:
        """`scheduler` replaces the local model thread with another job backend (the MQTT gateway's pool);
        `model_thread` is the thread `model` was loaded on, which then runs every batch (`engine.model.threads`)."""
        self.config = config or ServerConfig()
        check_bind(self.config.host, self.config.token)
        self.model = model
        self.limits = serving_limits(
            self.config.limits, model.max_seconds, self.config.max_batch, self.config.max_seconds
        )
        self.cache = MotionCache(self.config.cache_size)
        self.store = ResultStore(self.config.output_dir, self.config.retention)
        self.exports = ExportCache()
        self.scheduler: JobBackend = scheduler or Scheduler(
            cast(MotionModel, model),
            max_batch=self.config.max_batch,
            max_queue=self.limits.max_queue,
            cache=self.cache,
            model_thread=model_thread,
        )
        # Directing and live mode (v1.1) run where the model does: the local scheduler, not a worker pool.
        served = CAPABILITIES if isinstance(self.scheduler, Scheduler) else ()
        self.capabilities: tuple[str, ...] = tuple(
            c for c in served if c != CAPABILITY_LIVE or self.config.max_live > 0
        )
        self.model_defaults = ModelDefaults(
            model.name, int(model.fps), model.default_steps, model.default_cfg, self.capabilities
        )
        self.formats = offered_formats()
        self.routes = HttpRoutes(
            self.config, lambda: self.port, self.store, self.exports, self.formats, self._health, find_exporter
        )
        self.job_listeners: list[JobListener] = []
        self._clients: set[_Client] = set()
        self._refusing = False
        self._pending: set[asyncio.Task] = set()
        self._ws_server: Server | None = None
        self._started = time.monotonic()
        self._shutting_down = False
        self._closed = asyncio.Event()
        self.port = self.config.port

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.scheduler.start()
        self._ws_server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            select_subprotocol=self._select_subprotocol,
            process_request=self._process_request,
            compression=None,
            max_size=self.limits.max_message_bytes,
            create_connection=cast(type[ServerConnection], _limited_connection),  # a factory is what it calls
            server_header=f"motionbridge/{SERVER_VERSION}",
            close_timeout=self.config.close_timeout,
        )
        self.port = self._ws_server.sockets[0].getsockname()[1]
        self._started = time.monotonic()
        log.info("MotionBridge %s serving %s on %s (model %s)", SERVER_VERSION, WS_PATH, self.url, self.model.name)

    @property
    def url(self) -> str:
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"ws://{host}:{self.port}{WS_PATH}"

    @property
    def http_url(self) -> str:
        return self.url.replace("ws://", "http://", 1).removesuffix(WS_PATH)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def shutdown(self) -> None:
        """Stop accepting, finish or cancel jobs by the deadline, flush the store, close clients with 1001."""
        if self._shutting_down:
            await self._closed.wait()
            return
        self._shutting_down = True
        log.info("shutting down: %d queued, %d running", self.scheduler.queued, self.scheduler.running)
        # The listener stays open until the end, so a new upgrade gets HTTP 503 and /health says shutting_down.
        for client in list(self._clients):
            if client.live is not None:
                client.live.stop()  # each sends its done; the stream ends as a job does at shutdown
        await self.scheduler.shutdown(self.config.shutdown_timeout)
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        await asyncio.to_thread(self.store.flush)
        for client in list(self._clients):
            client.close_after_pending(CloseCode.GOING_AWAY, "server shutting down; reconnect and fetch")
        if self._ws_server is not None:
            self._ws_server.close(close_connections=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ws_server.wait_closed(), timeout=5.0)
        await asyncio.to_thread(self.store.close)
        self._closed.set()
        log.info("shut down")

    # ------------------------------------------------------------------ snapshots

    def status_snapshot(self) -> dict[str, Any]:
        """Live numbers for `status`, `/health` and the MQTT node status."""
        memory: dict[str, int] = {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            memory["gpu_allocated_bytes"] = int(torch.cuda.memory_allocated())
        memory["outbox_bytes"] = sum(client.outbox.queued_bytes for client in self._clients)
        running = self.scheduler.running
        return {
            "queue": self.scheduler.queued,
            "running": running,
            "busy": running > 0,
            "device": str(getattr(self.model, "device", "cpu")),
            "memory": memory,
            "uptime": round(time.monotonic() - self._started, 3),
            "model": self.model.name,
            "connections": self._open_connections(),
            "inflight": sum(len(client.session.inflight) for client in self._clients),
            "jobs_done": self.scheduler.jobs_done,
            "live_sessions": self._live_sessions(),
            "shutting_down": self._shutting_down,
            "load": min(1.0, (running + self.scheduler.queued) / max(1, self.config.max_batch)),
        }

    def _notify(self, event: str, job: str, **fields: Any) -> None:
        for listener in self.job_listeners:
            try:
                listener(event, job, **fields)
            except Exception:
                log.exception("job listener failed on %s of %s", event, job)

    # ------------------------------------------------------------------ HTTP side

    def _select_subprotocol(self, connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        # None keeps the handshake going; the handler then closes with 4002 so the client sees why.
        for subprotocol in SUBPROTOCOLS:
            if subprotocol in offered:
                return Subprotocol(subprotocol)
        return None

    def _same_origins(self) -> set[str]:
        hosts = {"127.0.0.1", "localhost", "[::1]", self.config.host}
        if ":" in self.config.host:
            hosts.add(f"[{self.config.host}]")
        return {f"http://{h}:{self.port}" for h in hosts}

    def origin_allowed(self, origin: str, host_header: str | None = None) -> bool:
        """Browsers may connect from the daemon's own page or a configured origin.

        The page's own origin is recognised from the loopback names; the Host header is trusted only with a
        token, because a DNS-rebinding page controls it (its Origin and Host match) but cannot know the token.
        """
        origin = origin.rstrip("/").lower()
        allowed = self._same_origins() | {o.rstrip("/").lower() for o in self.config.allow_origins}
        if self.config.token and host_header:
            allowed.add(f"http://{host_header.lower()}")
        return origin in allowed

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        host = request.headers.get("Host")
        if request.method not in web.ALLOWED_METHODS:
            answer: Response | None = web.method_not_allowed(request.method)
        else:
            answer = await self._route(request)
        return None if answer is None else web.finish(answer, request.method, host)

    async def _route(self, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        path, query = parts.path, parse_qs(parts.query)
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if path == WS_PATH and upgrade:
            if request.method != "GET":
                return web.method_not_allowed(request.method)
            origin = request.headers.get("Origin")
            if origin is not None and not self.origin_allowed(origin, request.headers.get("Host")):
                log.warning("refused a browser connection from origin %s", origin)
                return web.text(403, f"origin {origin} is not allowed: start the daemon with --allow-origin {origin}")
            if self._shutting_down:
                return web.text(503, "the daemon is shutting down")
            if self._open_connections() >= self.config.max_connections and not self._evict_idle():
                if not self._refusing:  # once per spell at the limit, not once per refused upgrade
                    self._refusing = True
                    log.warning("%d connections open, the limit: refusing new ones (503)", len(self._clients))
                limit = self.config.max_connections
                return web.text(503, f"the daemon serves {limit} connections at most: retry later")
            return None
        return await self.routes.answer(request, path, query, upgrade)

    def _live_sessions(self) -> int:
        return sum(client.live is not None for client in self._clients)

    def _open_connections(self) -> int:
        """Connections counted against the limit: those not already closing."""
        return sum(not client.closed for client in self._clients)

    def _evict_idle(self) -> bool:
        """Close the connection idle longest (4010) if one has been idle `idle_evict_s`; True if one was."""
        now = time.monotonic()
        idle = [c for c in self._clients if not c.closed and c.live is None and not c.session.inflight
                and now - c.last_active >= self.config.idle_evict_s]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.last_active)
        log.info("connection limit reached: closing session %s, idle for %.0f s", oldest.session.session_id[:8],
                 now - oldest.last_active)
        oldest.close_after_pending(CloseCode.IDLE, f"closed after {now - oldest.last_active:.0f} s idle to make "
                                   "room for a new connection; reconnect when needed")
        return True

    def _health(self) -> dict[str, Any]:
        snap = self.status_snapshot()
        return {
            "status": "shutting_down" if self._shutting_down else "ok",
            "protocol": PROTOCOL_VERSION,
            "version": SERVER_VERSION,
            "model": self.model.name,
            "device": snap["device"],
            "queue": snap["queue"],
            "running": snap["running"],
            "connections": snap["connections"],
            "uptime": snap["uptime"],
        }

    # ------------------------------------------------------------------ WebSocket side

    def session_limits(self) -> Limits:
        """The limits a new connection is told and held to: the daemon's, narrowed to its job backend's."""
        backend = self.scheduler.limits
        return self.limits if backend is None else narrowest(self.limits, [backend])

    async def _handle(self, ws: ServerConnection) -> None:
        limits = self.session_limits()
        session = ServerSession(
            uuid.uuid4().hex,
            ws.subprotocol,
            self.config.token,
            limits,
            self.model_defaults,
            clock=time.monotonic,
        )
        client = _Client(ws, session, self.config.max_outbox_bytes, self.config.close_timeout)
        # Upgrades racing past the check in _process_request are closed here instead.
        over_capacity = self._open_connections() >= self.config.max_connections
        self._clients.add(client)
        writer = asyncio.create_task(client.write_loop(), name=f"writer-{session.session_id[:8]}")
        try:
            try:
                session.check_subprotocol()
            except CloseConnection as exc:
                client.close_after_pending(exc.code, exc.reason)
            else:
                if over_capacity:
                    client.close_after_pending(
                        CloseCode.TRY_AGAIN_LATER,
                        f"the daemon serves {self.config.max_connections} connections at most: retry later",
                    )
                else:
                    auth = self.config.token is not None
                    client.send(
                        hello_message(
                            session.session_id, auth, self.model.info(), limits, self.formats, self.capabilities
                        )
                    )
                    await self._read_loop(client)
            # Nothing more reaches this client: free the model of its jobs now, not once the close is done.
            self._cancel_jobs_of(client)
            # A close is on its way: keep reading (and dropping) so that the peer's answer to it is seen at once.
            # A peer that reads neither its last replies nor the close for a minute is cut off below.
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                await asyncio.wait_for(_discard_until_closed(ws), PENDING_CLOSE_LIMIT_S)
        finally:
            self._cancel_jobs_of(client)
            client.close_after_pending(CloseCode.NORMAL, "")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, timeout=self.config.close_timeout)
            if ws.state is not State.CLOSED:
                ws.transport.abort()  # stuck sending to a peer that does not read
            self._clients.discard(client)
            self._refusing = False

    def _cancel_jobs_of(self, client: _Client) -> None:
        if client.live is not None:
            client.live.stop()
        cancelled = self.scheduler.cancel_owner(client)
        if cancelled:
            log.info("client %s went away: cancelled %d jobs", client.session.session_id[:8], cancelled)

    async def _read_loop(self, client: _Client) -> None:
        """Read frames as they come and hand them, in order, to `_handle_frames`, held back by the rate limit.

        Reading on while frames are held is what tells a flood from a fast client that waits for its replies.
        """
        session = client.session
        loop = asyncio.get_running_loop()
        held: asyncio.Queue[tuple[float, bytes | str, int]] = asyncio.Queue()
        handler = asyncio.create_task(self._handle_frames(client, held))
        try:
            while not client.closed:
                waiting = session.state is SessionState.AWAITING_IDENTIFY
                try:
                    frame = await asyncio.wait_for(client.ws.recv(), self.config.identify_timeout if waiting else None)
                    client.last_active = time.monotonic()
                except TimeoutError:
                    if session.state is SessionState.AWAITING_IDENTIFY:  # not just handled meanwhile
                        client.close_after_pending(CloseCode.NOT_IDENTIFIED, "no identify received in time")
                    continue
                except ConnectionClosed:
                    client.closed = True
                    return
                try:
                    delay = session.admit(frame)
                except CloseConnection as exc:
                    client.close_now(exc.code, exc.reason)
                    return
                size = frame_size(frame) if delay > 0 else 0
                client.held_bytes += size
                if client.held_bytes > self.limits.max_message_bytes:
                    client.close_now(CloseCode.TOO_LARGE, "rate limit: too much data sent ahead of the message rate")
                    return
                held.put_nowait((loop.time() + delay, frame, size))
        finally:
            handler.cancel()

    async def _handle_frames(self, client: _Client, held: asyncio.Queue[tuple[float, bytes | str, int]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, frame, size = await held.get()
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            client.held_bytes -= size
            if client.closed:
                return
            self._handle_frame(client, frame)

    def _handle_frame(self, client: _Client, frame: bytes | str) -> None:
        try:
            result = client.session.receive(frame)
        except CloseConnection as exc:
            client.close_after_pending(exc.code, exc.reason)
            return
        except RequestError as exc:
            client.send(exc.to_wire())
            return
        try:
            self._dispatch(client, result)
        except RequestError as exc:
            client.send(exc.to_wire())
        except Exception as exc:
            log.exception("request failed")
            rid = getattr(result, "id", None)
            client.send(error_message(ErrorCode.INTERNAL, f"internal error: {exc}", rid))

    def _dispatch(self, client: _Client, request: object) -> None:
        if isinstance(request, Identified):
            client.send(request.reply)
            log.info("client %r identified (session %s)", request.client, client.session.session_id[:8])
        elif isinstance(request, GenerateJob):
            self._generate(client, request)
        elif isinstance(request, LiveSpec):
            self._live_start(client, request)
        elif isinstance(request, LivePrompt | LiveStop):
            live = self._live_of(client, request.id)
            if isinstance(request, LiveStop):
                live.stop()
            else:
                prompt = validate_live_prompt(request, self.limits)
                client.send(live_state_message(request.id, prompt, live.change_prompt(prompt)))
        elif isinstance(request, Cancel):
            job = client.session.job_to_cancel(request.id)
            if isinstance(job, LiveSession):
                job.stop()
                return
            assert isinstance(job, Job)
            # A job that already finished sampling is being sent; its done follows and the cancel is moot.
            self.scheduler.cancel(job.job_id)
        elif isinstance(request, Status):
            client.send({"op": "status", "id": request.id, **self.status_snapshot()})
        elif isinstance(request, Fetch):
            self._track(self._fetch(client, request))
        else:
            raise RequestError(ErrorCode.BAD_REQUEST, f"unsupported request {type(request).__name__}")

    def _track(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _generate(self, client: _Client, spec: GenerateJob) -> None:
        client.session.check_new_request(spec.id)
        constraints = checked_constraints(spec, self._result_of, float(self.model.fps), self.limits.max_seconds)
        job_id = "j" + uuid.uuid4().hex[:15]
        job = Job(job_id, spec, owner=client, emit=lambda event: self._on_job_event(client, job, event))
        job.constraints = constraints
        try:
            position = self.scheduler.submit(job)
        except (QueueFull, NotAccepting) as exc:
            raise RequestError(ErrorCode.BUSY, str(exc), spec.id) from None
        client.session.started(spec.id, job)
        client.send(accepted_message(spec.id, job_id, position))
        self._notify("accepted", job_id, queue_position=position)

    def _live_start(self, client: _Client, spec: LiveSpec) -> None:
        """Open the connection's live session (one at most, `max_live` in the daemon) and start its task."""
        if client.live is not None:
            raise RequestError(ErrorCode.BUSY, f"a live session ({client.live.spec.id!r}) is already running on this "
                               "connection: live_stop it first", spec.id)
        client.session.check_new_request(spec.id)
        if self._live_sessions() >= self.config.max_live:
            raise RequestError(ErrorCode.BUSY, f"the daemon serves {self.config.max_live} live sessions at once: "
                               "retry later", spec.id)
        if not self.scheduler.accepting:
            raise RequestError(ErrorCode.BUSY, "the daemon is shutting down: reconnect later", spec.id)
        assert isinstance(self.scheduler, Scheduler)  # "live" is advertised only with the local scheduler
        job_id = "l" + uuid.uuid4().hex[:15]
        live = LiveSession(spec, job_id, self.scheduler, float(self.model.fps), client.send,
                           lambda: client.outbox.queued_bytes)
        client.live = live
        client.session.started(spec.id, live)
        client.send(accepted_message(spec.id, job_id, 0))
        self._notify("accepted", job_id, queue_position=0)

        async def run() -> None:
            try:
                await live.run()
            finally:
                client.live = None
                client.session.finished(spec.id, live)
                self._notify("done", job_id, samples=1, frames=live.sent, seconds=live.sent / live.fps,
                             cached=False, timings={})

        self._track(run())

    @staticmethod
    def _live_of(client: _Client, request_id: str) -> LiveSession:
        live = client.live
        if live is None or live.spec.id != request_id or live.stopped:
            raise RequestError(ErrorCode.NOT_FOUND, f"no live session {request_id!r} on this connection", request_id)
        return live

    def _result_of(self, job: str) -> list[Motion] | None:
        """A finished job's motions (a `start.job` of a directed request); a small read where not in memory."""
        stored = self.store.load(job)
        return None if stored is None else stored.motions

    def _on_job_event(self, client: _Client, job: Job, event: object) -> None:
        spec = job.spec
        if isinstance(event, Progress):
            client.send(progress_message(spec.id, job.job_id, event.step, event.steps, event.eta_ms))
            eta = None if event.eta_ms is None else int(event.eta_ms)
            self._notify("progress", job.job_id, step=event.step, steps=event.steps, eta_ms=eta)
        elif isinstance(event, Preview):
            if not client.outbox.takes_previews:
                return  # the client reads slowly (an unfocused editor): skip this coarse preview, not data
            for sample, motion in enumerate(event.motions):
                for msg in motion_messages(
                    spec.id,
                    job.job_id,
                    sample,
                    _payload(motion, spec.seed + sample),
                    spec.target,
                    preview_step=event.step,
                ):
                    client.send(msg, preview=True)
        elif isinstance(event, Finished):
            self._track(self._finish(client, job, event))
        elif isinstance(event, Failed):
            client.send(error_message(event.code, event.message, spec.id), on_send=client.release_on_send(spec.id, job))
            self._notify("error", job.job_id, code=event.code.value, message=event.message)

    async def _finish(self, client: _Client, job: Job, event: Finished) -> None:
        try:
            await self._send_result(client, job, event)
        except Exception as exc:
            log.exception("sending the result of job %s failed", job.job_id)
            client.send(
                error_message(ErrorCode.INTERNAL, f"internal error sending the result: {exc}", job.spec.id),
                on_send=client.release_on_send(job.spec.id, job),
            )
            self._notify("error", job.job_id, code=ErrorCode.INTERNAL.value, message=str(exc))

    async def _send_result(self, client: _Client, job: Job, event: Finished) -> None:
        spec = job.spec
        for sample, motion in enumerate(event.motions):
            for msg in motion_messages(
                spec.id, job.job_id, sample, _payload(motion, spec.seed + sample), spec.target, spec.chunk_frames
            ):
                client.send(msg)
        frames = event.motions[0].frames
        fps = float(event.motions[0].fps)
        meta = {
            "prompt": spec.prompt,
            "seconds": spec.seconds,
            "seed": spec.seed,
            "steps": spec.steps,
            "cfg": spec.cfg,
            "target": spec.target,
            "chunk_frames": spec.chunk_frames,
            "loop": spec.loop,
            "in_place": spec.in_place,
            "frames": frames,
            "fps": fps,
            "model": self.model.name,
            "timings": event.timings,
            "cached": event.cached,
        }
        segments = _segments_of(event.motions[0]) if spec.directions is not None and spec.directions.segments else None
        if segments is not None:
            meta["segments"] = segments
        files = None
        try:
            # `done` does not wait for the disk: the store serves the job from memory until it is written.
            result_key = (spec.cache_key(self.model.name), spec.in_place, spec.loop)
            self.store.put(job.job_id, event.motions, meta, key=result_key)
            if self.store.persistent:
                files = {
                    fmt: [f"/v1/jobs/{job.job_id}/{s}.{fmt}" for s in range(len(event.motions))] for fmt in self.formats
                }
        except Exception:
            log.exception("could not store job %s", job.job_id)
        timings = dict(event.timings, total_ms=(time.perf_counter() - job.accepted_at) * 1000.0)
        client.send(
            done_message(spec.id, job.job_id, len(event.motions), frames, fps, event.cached, timings, files, segments),
            on_send=client.release_on_send(spec.id, job),
        )
        self._notify(
            "done",
            job.job_id,
            samples=len(event.motions),
            frames=frames,
            seconds=frames / fps,
            cached=event.cached,
            timings=timings,
        )

    async def _fetch(self, client: _Client, request: Fetch) -> None:
        try:
            await self._replay(client, request)
        except Exception as exc:
            log.exception("fetch of job %s failed", request.job)
            client.send(
                error_message(ErrorCode.INTERNAL, f"internal error replaying job {request.job}: {exc}", request.id)
            )

    async def _replay(self, client: _Client, request: Fetch) -> None:
        stored: StoredJob | None = await asyncio.to_thread(self.store.load, request.job)
        if stored is None:
            client.send(
                error_message(
                    ErrorCode.NOT_FOUND,
                    f"no finished job {request.job!r} (unknown, still running or expired)",
                    request.id,
                )
            )
            return
        meta = stored.meta
        target = request.target or meta.get("target", "smplh")
        chunk_frames = request.chunk_frames if request.chunk_frames is not None else int(meta.get("chunk_frames", 0))
        seed = int(meta.get("seed", 0))
        for sample, motion in enumerate(stored.motions):
            for msg in motion_messages(
                request.id, stored.job, sample, _payload(motion, seed + sample), target, chunk_frames
            ):
                client.send(msg)
        frames = stored.motions[0].frames
        fps = float(stored.motions[0].fps)
        files = None
        if self.store.persistent:
            files = {
                fmt: [f"/v1/jobs/{stored.job}/{s}.{fmt}" for s in range(len(stored.motions))] for fmt in self.formats
            }
        timings = {"queue_ms": 0.0, "text_ms": 0.0, "sample_ms": 0.0, "decode_ms": 0.0, "total_ms": 0.0}
        segments = meta.get("segments")
        client.send(
            done_message(request.id, stored.job, len(stored.motions), frames, fps, True, timings, files, segments)
        )


async def _discard_until_closed(ws: ServerConnection) -> None:
    while True:
        await ws.recv()


def _segments_of(motion: Motion) -> list[dict[str, int]]:
    """`done.segments` of a timeline: each segment's first frame and frame count (`motion.meta["segments"]`)."""
    return [{"start": int(s["start"]), "count": int(s["count"])} for s in motion.meta.get("segments", [])]


def _payload(motion: Motion, seed: int) -> MotionPayload:
    return MotionPayload(motion.root, motion.rotations, seed, float(motion.fps))


async def run_server(
    model: MotionModel,
    config: ServerConfig,
    stop: asyncio.Event,
    on_started: Callable[[MotionBridgeServer], None] | None = None,
) -> MotionBridgeServer:
    """Start the daemon, run until `stop` is set, then shut down gracefully; returns the stopped server."""
    server = MotionBridgeServer(model, config)
    await server.start()
    if on_started is not None:
        on_started(server)
    await stop.wait()
    await server.shutdown()
    return server
