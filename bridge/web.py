"""The plain-HTTP side of the daemon's port, sans I/O: which requests are answered and how answers look.

`bridge.server` hands every HTTP request (a WebSocket upgrade or not) to its routes; the rules shared by all
routes live here, pure and testable without a socket:
- methods: GET and HEAD only (HEAD: the headers of the GET answer, no body); anything else is 405 with
  `Allow`; a request with a body is refused before websockets would drop it silently (`refuse_request_head`);
- Host: without a token, only the daemon's own names (loopback names or the bound host, with its port) are
  answered, so a DNS-rebinding page cannot read `/health` or downloads (`host_allowed`);
- every answer carries `X-Content-Type-Options: nosniff`, `Cache-Control: no-store` and a
  Content-Security-Policy that lets the preview page load its own scripts and open its WebSocket only.
"""

from __future__ import annotations

import email.utils
import http
import json
import re
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response

ALLOWED_METHODS: tuple[str, ...] = ("GET", "HEAD")
LOOPBACK_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
MAX_REQUEST_HEAD_BYTES = 16 * 1024
"""How much of a request head is inspected for a body before websockets' own parser takes over."""

_HOST_HEADER = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_BODY_HEADER = re.compile(rb"^(content-length|transfer-encoding)[ \t]*:[ \t]*(.*?)[ \t]*$", re.IGNORECASE)


def content_security_policy(host: str | None) -> str:
    """The page may run its own scripts and styles and talk to this daemon only (`ws://<host>` spelled out
    for browsers whose 'self' does not cover WebSocket URLs)."""
    connect = "'self'"
    if host is not None and _HOST_HEADER.match(host):
        connect += f" ws://{host.lower()} wss://{host.lower()}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def response(
    status: int,
    body: bytes,
    content_type: str,
    *,
    filename: str | None = None,
    host: str | None = None,
    extra: dict[str, str] | None = None,
) -> Response:
    """An answer with the daemon's standard headers; `host` is the request's Host header (for the CSP)."""
    st = http.HTTPStatus(status)
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", content_security_policy(host)),
        ]
    )
    if filename is not None:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    for name, value in (extra or {}).items():
        headers[name] = value
    return Response(st.value, st.phrase, headers, body)


def text(status: int, message: str, **kwargs: Any) -> Response:
    return response(status, (message + "\n").encode(), "text/plain; charset=utf-8", **kwargs)


def json_response(status: int, value: Any, **kwargs: Any) -> Response:
    return response(status, json.dumps(value).encode(), "application/json", **kwargs)


def method_not_allowed(method: str, **kwargs: Any) -> Response:
    allowed = ", ".join(ALLOWED_METHODS)
    return text(
        405, f"method {method[:20]} is not allowed: the daemon answers {allowed}", extra={"Allow": allowed}, **kwargs
    )


def finish(answer: Response, method: str, host: str | None) -> Response:
    """The answer as sent: its policy names the request's Host; for HEAD, the GET answer's status and headers
    (Content-Length included) without the body."""
    del answer.headers["Content-Security-Policy"]
    answer.headers["Content-Security-Policy"] = content_security_policy(host)
    if method == "HEAD":
        return Response(answer.status_code, answer.reason_phrase, answer.headers, b"")
    return answer


def host_allowed(host: str | None, port: int, bound_host: str) -> bool:
    """Whether a Host header names this daemon: a loopback name or the bound host, with the daemon's port.

    Only browsers are fooled by DNS rebinding, and browsers always send Host, so a request without one passes.
    """
    if host is None:
        return True
    names = {*LOOPBACK_NAMES, bound_host.lower(), f"[{bound_host.lower()}]"}
    allowed = {f"{name}:{port}" for name in names}
    if port == 80:
        allowed |= names
    return host.lower() in allowed


def refuse_request_head(head: bytes) -> Response | None:
    """An answer for a request head (request line and headers, without the blank line) that websockets
    would drop without a word because it announces a body: 405 for another method, 400 for GET/HEAD.
    None lets websockets parse the request as usual."""
    lines = head.split(b"\r\n")
    method = lines[0].split(b" ", 1)[0].decode("ascii", "replace")
    for line in lines[1:]:
        match = _BODY_HEADER.match(line)
        if match is None or (match.group(1).lower() == b"content-length" and match.group(2) == b"0"):
            continue
        if method not in ALLOWED_METHODS:
            return method_not_allowed(method)
        return text(400, "a request body is not supported: send GET or HEAD without a body")
    return None
