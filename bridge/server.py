"""The daemon's network shell: a `websockets` asyncio server around the sans-I/O protocol and the scheduler.

One port serves
- the WebSocket protocol v1 at `/v1` (see docs/protocol.md): each connection is a `ServerSession` fed with
  frames; replies go through one ordered outgoing queue per connection;
- plain HTTP through `process_request`: `GET /health`, the browser page (`/`, `/static/<file>`) and
  downloads of stored results (`/v1/jobs/<job>/<sample>.<npz|bvh|glb>?target=...`).

Security defaults: bind 127.0.0.1; refuse a non-loopback bind without a token; browsers (requests with an
`Origin` header) only from the daemon's own page or `--allow-origin` origins.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hmac
import http
import importlib
import ipaddress
import json
import logging
import mimetypes
import re
import resource
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode as WsCloseCode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from bridge.cache import MotionCache
from bridge.protocol import (
    IDENTIFY_TIMEOUT_S,
    PROTOCOL_VERSION,
    SERVER_VERSION,
    SUBPROTOCOLS,
    Cancel,
    CloseCode,
    CloseConnection,
    ErrorCode,
    Fetch,
    GenerateJob,
    Identified,
    Limits,
    ModelDefaults,
    MotionPayload,
    RequestError,
    ServerSession,
    SessionState,
    Status,
    accepted_message,
    done_message,
    error_message,
    hello_message,
    motion_messages,
    progress_message,
)
from bridge.scheduler import Failed, Finished, Job, JobBackend, NotAccepting, Preview, Progress, QueueFull, Scheduler
from bridge.store import ResultStore, StoredJob
from engine.generation import MotionModel
from engine.motion import Motion
from engine.targets import TARGETS

log = logging.getLogger("motionbridge.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8747
WS_PATH = "/v1"
STATIC_DIR = Path(__file__).with_name("static")
DOWNLOAD_PATH = re.compile(r"^/v1/jobs/([A-Za-z0-9_-]{1,64})/(\d{1,3})\.(npz|bvh|glb)$")
DOWNLOAD_TARGETS: tuple[str, ...] = (*TARGETS, "mixamo")
MAX_BACKLOG_FOR_PREVIEWS = 64
"""Messages waiting for a slow client above which previews are skipped (final motion is never dropped)."""
CONTENT_TYPES = {"npz": "application/octet-stream", "bvh": "text/plain; charset=utf-8", "glb": "model/gltf-binary"}

JobListener = Callable[..., None]
"""Called as listener(event, job, **fields) for accepted/progress/done/error (the MQTT event publisher)."""


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


def _export_bytes() -> Callable[[Motion, str, str], bytes] | None:
    """engine.exporters.export_bytes(motion, fmt, target) if this build has it."""
    try:
        exporters = importlib.import_module("engine.exporters")
    except ImportError:
        return None
    return getattr(exporters, "export_bytes", None)


def export_formats() -> list[str]:
    """Download formats this build can produce: npz always, bvh and glb once engine.exporters has them."""
    if _export_bytes() is None:
        return ["npz"]
    exporters = importlib.import_module("engine.exporters")
    offered = getattr(exporters, "FORMATS", ("npz", "bvh", "glb"))
    return ["npz", *(f for f in ("bvh", "glb") if f in offered)]


class _LimitedServerProtocol(ServerProtocol):
    """websockets' protocol, but an oversized message closes with 4008 (our protocol) instead of 1009."""

    def fail(self, code: WsCloseCode | int, reason: str = "") -> None:
        if code == WsCloseCode.MESSAGE_TOO_BIG:
            code = int(CloseCode.TOO_LARGE)
        super().fail(code, reason)


def _limited_connection(protocol: ServerProtocol, *args: Any, **kwargs: Any) -> ServerConnection:
    # `serve` builds a plain ServerProtocol and offers no hook for its class; our subclass only overrides
    # the close code used by `fail`, so swapping the class of the fresh instance is safe.
    protocol.__class__ = _LimitedServerProtocol
    return ServerConnection(protocol, *args, **kwargs)


@dataclass(frozen=True)
class _CloseAfterPending:
    code: int
    reason: str


class _Client:
    """One WebSocket connection: its session state, its requests in flight and its ordered outbox."""

    def __init__(self, ws: ServerConnection, session: ServerSession) -> None:
        self.ws = ws
        self.session = session
        self.inflight: dict[str, Job] = {}
        self.outbox: asyncio.Queue[dict[str, Any] | _CloseAfterPending] = asyncio.Queue()
        # closed: nothing more is queued (the peer left or a close is queued behind the pending messages).
        self.closed = False
        self._close_queued = False

    def send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            self.outbox.put_nowait(message)

    def close_after_pending(self, code: int, reason: str) -> None:
        """Queue a close behind everything already queued (idempotent); it also ends the writer."""
        self.closed = True
        if not self._close_queued:
            self._close_queued = True
            self.outbox.put_nowait(_CloseAfterPending(code, reason))

    async def write_loop(self) -> None:
        while True:
            item = await self.outbox.get()
            try:
                if isinstance(item, _CloseAfterPending):
                    await self.ws.close(item.code, item.reason)
                    return
                await self.ws.send(self.session.encode(item))
            except ConnectionClosed:
                self.closed = True
                return


class MotionBridgeServer:
    """The daemon: model + scheduler + store + WebSocket/HTTP server on one port."""

    def __init__(
        self, model: MotionModel, config: ServerConfig | None = None, scheduler: JobBackend | None = None
    ) -> None:
        """`scheduler` replaces the local model thread with another job backend (the MQTT gateway's pool)."""
        self.config = config or ServerConfig()
        check_bind(self.config.host, self.config.token)
        self.model = model
        max_seconds = float(model.max_seconds)
        if self.config.max_seconds is not None:
            max_seconds = min(max_seconds, self.config.max_seconds)
        self.limits = Limits(**{**self.config.limits.to_wire(), "max_seconds": max_seconds})
        self.model_defaults = ModelDefaults(model.name, int(model.fps), model.default_steps, model.default_cfg)
        self.cache = MotionCache(self.config.cache_size)
        self.store = ResultStore(self.config.output_dir, self.config.retention)
        self.scheduler: JobBackend = scheduler or Scheduler(
            model, max_batch=self.config.max_batch, max_queue=self.limits.max_queue, cache=self.cache
        )
        self.formats = export_formats()
        self.job_listeners: list[JobListener] = []
        self._clients: set[_Client] = set()
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
            create_connection=_limited_connection,
            server_header=f"motionbridge/{SERVER_VERSION}",
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
        if self._ws_server is not None:
            self._ws_server.server.close()  # stop listening; open connections stay until their jobs end
        await self.scheduler.shutdown(self.config.shutdown_timeout)
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        for client in list(self._clients):
            client.close_after_pending(CloseCode.GOING_AWAY, "server shutting down; reconnect and fetch")
        if self._ws_server is not None:
            self._ws_server.close(close_connections=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ws_server.wait_closed(), timeout=5.0)
        self._closed.set()
        log.info("shut down")

    # ------------------------------------------------------------------ snapshots

    def status_snapshot(self) -> dict[str, Any]:
        """Live numbers for `status`, `/health` and the MQTT node status."""
        memory: dict[str, int] = {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            memory["gpu_allocated_bytes"] = int(torch.cuda.memory_allocated())
        running = self.scheduler.running
        return {
            "queue": self.scheduler.queued,
            "running": running,
            "busy": running > 0,
            "device": str(getattr(self.model, "device", "cpu")),
            "memory": memory,
            "uptime": round(time.monotonic() - self._started, 3),
            "model": self.model.name,
            "connections": len(self._clients),
            "jobs_done": self.scheduler.jobs_done,
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

    def _select_subprotocol(self, connection: ServerConnection, offered: Sequence[str]) -> str | None:
        # None keeps the handshake going; the handler then closes with 4002 so the client sees why.
        for subprotocol in SUBPROTOCOLS:
            if subprotocol in offered:
                return subprotocol
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

    def _authorized(self, request: Request, query: dict[str, list[str]]) -> bool:
        if not self.config.token:
            return True
        auth = request.headers.get("Authorization", "")
        given = auth[7:] if auth.startswith("Bearer ") else (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), self.config.token.encode())

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        path, query = parts.path, parse_qs(parts.query)
        if path == WS_PATH:
            if request.headers.get("Upgrade", "").lower() != "websocket":
                return _text(426, "this is the MotionBridge WebSocket endpoint: connect with a WebSocket client")
            origin = request.headers.get("Origin")
            if origin is not None and not self.origin_allowed(origin, request.headers.get("Host")):
                log.warning("refused a browser connection from origin %s", origin)
                return _text(403, f"origin {origin} is not allowed: start the daemon with --allow-origin {origin}")
            if self._shutting_down:
                return _text(503, "the daemon is shutting down")
            return None
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return _text(404, f"no WebSocket endpoint at {path}: use {WS_PATH}")
        if path == "/health":
            return _json(200, self._health())
        if path == "/" or path == "/index.html":
            return self._static_file("index.html")
        if path.startswith("/static/"):
            return self._static_file(path[len("/static/") :])
        match = DOWNLOAD_PATH.fullmatch(path)
        if match:
            if not self._authorized(request, query):
                return _text(401, "this daemon needs a token: send Authorization: Bearer <token> or ?token=")
            target = (query.get("target") or ["smplh"])[0]
            return await self._download(match.group(1), int(match.group(2)), match.group(3), target)
        return _text(404, f"not found: {path}")

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

    def _static_file(self, name: str) -> Response:
        root = self.config.static_dir.resolve()
        path = (root / name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return _text(404, f"no such page: {name}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        return _bytes(200, path.read_bytes(), content_type)

    async def _download(self, job: str, sample: int, fmt: str, target: str) -> Response:
        if target not in DOWNLOAD_TARGETS:
            return _text(400, f"unknown target {target[:40]!r}: use one of {', '.join(DOWNLOAD_TARGETS)}")
        if fmt == "npz":
            path = self.store.sample_file(job, sample)
            if path is None:
                return _text(404, f"no stored sample {sample} of job {job}")
            data = await asyncio.to_thread(path.read_bytes)
            return _bytes(200, data, CONTENT_TYPES[fmt], filename=f"{job}_{sample}.npz")
        export = _export_bytes()
        if export is None or fmt not in self.formats:
            return _text(501, f"{fmt} export is not available in this build (engine.exporters lacks it); use npz")
        stored = await asyncio.to_thread(self.store.load, job)
        if stored is None or not 0 <= sample < len(stored.motions):
            return _text(404, f"no stored sample {sample} of job {job}")
        try:
            data = await asyncio.to_thread(export, stored.motions[sample], fmt, target)
        except ValueError as exc:
            return _text(400, f"cannot export {fmt} for target {target}: {exc}")
        return _bytes(200, data, CONTENT_TYPES[fmt], filename=f"{job}_{sample}_{target}.{fmt}")

    # ------------------------------------------------------------------ WebSocket side

    async def _handle(self, ws: ServerConnection) -> None:
        session = ServerSession(
            uuid.uuid4().hex,
            ws.subprotocol,
            self.config.token,
            self.limits,
            self.model_defaults,
            clock=time.monotonic,
        )
        client = _Client(ws, session)
        self._clients.add(client)
        writer = asyncio.create_task(client.write_loop(), name=f"writer-{session.session_id[:8]}")
        try:
            try:
                session.check_subprotocol()
            except CloseConnection as exc:
                client.close_after_pending(exc.code, exc.reason)
                return
            client.send(
                hello_message(
                    session.session_id, self.config.token is not None, self.model.info(), self.limits, self.formats
                )
            )
            await self._read_loop(client)
        finally:
            cancelled = self.scheduler.cancel_owner(client)
            if cancelled:
                log.info("client %s went away: cancelled %d jobs", session.session_id[:8], cancelled)
            client.close_after_pending(CloseCode.NORMAL, "")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, timeout=5.0)
            writer.cancel()
            self._clients.discard(client)

    async def _read_loop(self, client: _Client) -> None:
        session = client.session
        while not client.closed:
            timeout = self.config.identify_timeout if session.state is SessionState.AWAITING_IDENTIFY else None
            try:
                frame = await asyncio.wait_for(client.ws.recv(), timeout=timeout)
            except TimeoutError:
                client.close_after_pending(CloseCode.NOT_IDENTIFIED, "no identify received in time")
                return
            except ConnectionClosed:
                client.closed = True
                return
            try:
                result = session.receive(frame)
            except CloseConnection as exc:
                client.close_after_pending(exc.code, exc.reason)
                return
            except RequestError as exc:
                client.send(exc.to_wire())
                continue
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
        elif isinstance(request, Cancel):
            job = client.inflight.get(request.id)
            if job is None:
                raise RequestError(ErrorCode.NOT_FOUND, f"no request {request.id!r} in flight to cancel", request.id)
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
        if spec.id in client.inflight:
            raise RequestError(ErrorCode.BAD_REQUEST, f"id {spec.id!r} is already in flight: use a new id", spec.id)
        if len(client.inflight) >= self.limits.max_inflight:
            raise RequestError(
                ErrorCode.BUSY,
                f"{self.limits.max_inflight} requests already in flight on this connection: wait for one to finish",
                spec.id,
            )
        job_id = "j" + uuid.uuid4().hex[:15]
        job = Job(job_id, spec, owner=client, emit=lambda event: self._on_job_event(client, job, event))
        try:
            position = self.scheduler.submit(job)
        except (QueueFull, NotAccepting) as exc:
            raise RequestError(ErrorCode.BUSY, str(exc), spec.id) from None
        client.inflight[spec.id] = job
        client.send(accepted_message(spec.id, job_id, position))
        self._notify("accepted", job_id, queue_position=position)

    def _on_job_event(self, client: _Client, job: Job, event: object) -> None:
        spec = job.spec
        if isinstance(event, Progress):
            client.send(progress_message(spec.id, job.job_id, event.step, event.steps, event.eta_ms))
            eta = None if event.eta_ms is None else int(event.eta_ms)
            self._notify("progress", job.job_id, step=event.step, steps=event.steps, eta_ms=eta)
        elif isinstance(event, Preview):
            if client.outbox.qsize() > MAX_BACKLOG_FOR_PREVIEWS:
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
                    client.send(msg)
        elif isinstance(event, Finished):
            self._track(self._finish(client, job, event))
        elif isinstance(event, Failed):
            client.inflight.pop(spec.id, None)
            client.send(error_message(event.code, event.message, spec.id))
            self._notify("error", job.job_id, code=event.code.value, message=event.message)

    async def _finish(self, client: _Client, job: Job, event: Finished) -> None:
        try:
            await self._send_result(client, job, event)
        except Exception as exc:
            log.exception("sending the result of job %s failed", job.job_id)
            client.inflight.pop(job.spec.id, None)
            client.send(error_message(ErrorCode.INTERNAL, f"internal error sending the result: {exc}", job.spec.id))
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
        files = None
        try:
            await asyncio.to_thread(self.store.save, job.job_id, event.motions, meta)
            if self.store.persistent:
                files = {
                    fmt: [f"/v1/jobs/{job.job_id}/{s}.{fmt}" for s in range(len(event.motions))] for fmt in self.formats
                }
        except Exception:
            log.exception("could not store job %s", job.job_id)
        timings = dict(event.timings, total_ms=(time.perf_counter() - job.accepted_at) * 1000.0)
        client.inflight.pop(spec.id, None)
        client.send(done_message(spec.id, job.job_id, len(event.motions), frames, fps, event.cached, timings, files))
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
        client.send(done_message(request.id, stored.job, len(stored.motions), frames, fps, True, timings, files))


def _payload(motion: Motion, seed: int) -> MotionPayload:
    return MotionPayload(motion.root, motion.rotations, seed, float(motion.fps))


def _bytes(status: int, body: bytes, content_type: str, filename: str | None = None) -> Response:
    st = http.HTTPStatus(status)
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            ("Cache-Control", "no-store"),
        ]
    )
    if filename is not None:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(st.value, st.phrase, headers, body)


def _text(status: int, text: str) -> Response:
    return _bytes(status, (text + "\n").encode(), "text/plain; charset=utf-8")


def _json(status: int, value: Any) -> Response:
    return _bytes(status, json.dumps(value).encode(), "application/json")


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
