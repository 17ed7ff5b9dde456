"""The daemon's plain-HTTP routes on its WebSocket port: `/health`, the browser page and its files, and the
downloads of stored results (docs/protocol.md §7).

`bridge.server` lets WebSocket upgrades of its own path through and hands every other request here; the rules
shared by every answer (methods, the Host check's helpers, security headers) are `bridge.web`'s.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib
import logging
import mimetypes
import re
from collections.abc import Callable
from typing import Any

from websockets.http11 import Request, Response

from bridge import web
from bridge.cache import ExportCache
from bridge.store import ResultStore
from engine.core.motion import Motion
from engine.core.targets import EXPORT_TARGETS
from engine.io.formats import EXPORT_FORMATS, MEDIA_TYPES

log = logging.getLogger("motionbridge.server")

WS_PATH = "/v1"
DOWNLOAD_PATH = re.compile(rf"^/v1/jobs/([A-Za-z0-9_-]{{1,64}})/(\d{{1,3}})\.({'|'.join(EXPORT_FORMATS)})$")

Exporter = Callable[[Motion, str, str], bytes]


def find_exporter() -> Exporter | None:
    """`engine.io.exporters.export_bytes(motion, fmt, target)` where this installation has it, else None (the
    daemon then answers 501 for bvh/glb downloads)."""
    try:
        exporters = importlib.import_module("engine.io.exporters")
    except ImportError:
        return None
    return getattr(exporters, "export_bytes", None)


def offered_formats() -> list[str]:
    """Download formats this installation can produce: npz always, bvh and glb with the exporters."""
    return list(EXPORT_FORMATS) if find_exporter() is not None else ["npz"]


class HttpRoutes:
    """Answers for the daemon's HTTP requests other than its WebSocket upgrade."""

    def __init__(
        self,
        config: Any,
        port: Callable[[], int],
        store: ResultStore,
        exports: ExportCache,
        formats: list[str],
        health: Callable[[], dict[str, Any]],
        exporter: Callable[[], Exporter | None],
    ) -> None:
        self.config = config
        self.port = port
        self.store = store
        self.exports = exports
        self.formats = formats
        self.health = health
        self.exporter = exporter

    async def answer(self, request: Request, path: str, query: dict[str, list[str]], upgrade: bool) -> Response:
        if upgrade:
            return _text(404, f"no WebSocket endpoint at {path}: use {WS_PATH}")
        host = request.headers.get("Host")
        if not self.config.token and not web.host_allowed(host, self.port(), self.config.host):
            log.warning("refused an HTTP request for Host %r", host)
            shown, port = (host or "")[:100], self.port()
            return _text(403, f"Host {shown!r} is not this daemon: use http://127.0.0.1:{port} (or pass --token)")
        if path == WS_PATH:
            return _text(426, "this is the MotionBridge WebSocket endpoint: connect with a WebSocket client")
        if path == "/health":
            return _json(200, self.health())
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

    def _authorized(self, request: Request, query: dict[str, list[str]]) -> bool:
        if not self.config.token:
            return True
        auth = request.headers.get("Authorization", "")
        given = auth[7:] if auth.startswith("Bearer ") else (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), self.config.token.encode())

    def _static_file(self, name: str) -> Response:
        root = self.config.static_dir.resolve()
        try:
            path = (root / name).resolve()
            found = "\x00" not in name and path.is_relative_to(root) and path.is_file()
        except (OSError, ValueError):
            found = False
        if not found:
            return _text(404, f"no such page: {name[:200]!r}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        return _bytes(200, path.read_bytes(), content_type)

    async def _download(self, job: str, sample: int, fmt: str, target: str) -> Response:
        if target not in EXPORT_TARGETS:
            return _text(400, f"unknown target {target[:40]!r}: use one of {', '.join(EXPORT_TARGETS)}")
        if fmt == "npz":
            path = await asyncio.to_thread(self.store.sample_file, job, sample)
            if path is None:
                return _text(404, f"no stored sample {sample} of job {job}")
            npz = await asyncio.to_thread(path.read_bytes)
            return _bytes(200, npz, MEDIA_TYPES[fmt], filename=f"{job}_{sample}.npz")
        export = self.exporter()
        if export is None or fmt not in self.formats:
            return _text(501, f"{fmt} export is not available in this build (engine.io.exporters lacks it); use npz")
        key = (job, sample, fmt, target)
        data: bytes | None = self.exports.get(key) if self.store.has(job) else None
        if data is None:
            stored = await asyncio.to_thread(self.store.load, job)
            if stored is None or not 0 <= sample < len(stored.motions):
                return _text(404, f"no stored sample {sample} of job {job}")
            try:
                data = await asyncio.to_thread(export, stored.motions[sample], fmt, target)
            except ValueError as exc:
                return _text(400, f"cannot export {fmt} for target {target}: {exc}")
            self.exports.put(key, data)
        return _bytes(200, data, MEDIA_TYPES[fmt], filename=f"{job}_{sample}_{target}.{fmt}")


def _bytes(status: int, body: bytes, content_type: str, filename: str | None = None) -> Response:
    return web.response(status, body, content_type, filename=filename)


def _text(status: int, text: str) -> Response:
    return web.text(status, text)


def _json(status: int, value: Any) -> Response:
    return web.json_response(status, value)
