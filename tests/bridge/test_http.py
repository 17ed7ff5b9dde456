"""The plain-HTTP side of the daemon's port, spoken to by a raw HTTP client over loopback: which methods and
Host headers are answered, and the headers every answer carries."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

import engine.io.exporters
from bridge.bench import ZeroCostModel

RunningDaemon = Any  # tests/bridge/conftest.py's RunningDaemon (conftest modules are not importable by name)


def request(
    daemon: RunningDaemon, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, bytes, http.client.HTTPMessage]:
    """One HTTP request on a fresh connection; `Host` is the daemon's own unless `headers` sets it."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), response.headers
    finally:
        conn.close()


def finished_job(daemon: RunningDaemon, raw: Any, **fields: Any) -> str:
    """Generate one clip over the wire (`raw`: the RawClient fixture), wait until it is on disk; its job id."""

    async def scenario() -> str:
        client = await raw.ready(daemon.url)
        await client.send({"op": "generate", "id": "g", "prompt": "a person waves", "seconds": 1.0, **fields})
        done = (await client.until("g"))[-1]
        await client.close()
        return done["job"]

    job = asyncio.run(scenario())
    daemon.server.store.flush()
    return job


@pytest.fixture
def zero_daemon(daemon_factory: Callable[..., RunningDaemon]) -> RunningDaemon:
    return daemon_factory(ZeroCostModel())


def test_only_get_and_head_are_answered_and_other_methods_get_405_with_allow(zero_daemon, raw) -> None:
    job = finished_job(zero_daemon, raw)
    download = f"/v1/jobs/{job}/0.npz"
    assert request(zero_daemon, "GET", download)[0] == 200
    for method, body in (("DELETE", None), ("POST", b"{}"), ("PUT", b"x" * 5000), ("OPTIONS", None)):
        status, text, headers = request(zero_daemon, method, download, body=body)
        assert (method, status) == (method, 405)
        assert headers["Allow"] == "GET, HEAD"
        assert method.encode() in text
    assert request(zero_daemon, "POST", "/health", body=b"{}")[0] == 405
    assert (zero_daemon.server.store.directory / job / "0.npz").is_file()


def test_a_get_with_a_body_is_refused_with_400(zero_daemon) -> None:
    status, text, _ = request(zero_daemon, "GET", "/health", body=b"unexpected")
    assert status == 400 and b"body" in text


def raw_exchange(daemon: RunningDaemon, head: bytes) -> bytes:
    """Send a request head over a bare socket and read everything until the daemon closes the connection
    (http.client would skip whatever follows the headers of a HEAD answer)."""
    with socket.create_connection(("127.0.0.1", daemon.server.port), timeout=10) as sock:
        sock.sendall(head)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_head_answers_the_headers_of_get_without_a_body(zero_daemon, raw) -> None:
    job = finished_job(zero_daemon, raw)
    # /health is left out: its uptime changes its length from one request to the next.
    for path in ("/", "/static/app.js", f"/v1/jobs/{job}/0.npz", f"/v1/jobs/{job}/0.bvh", "/nope"):
        get_status, get_body, get_headers = request(zero_daemon, "GET", path)
        host = f"127.0.0.1:{zero_daemon.server.port}"
        answer = raw_exchange(zero_daemon, f"HEAD {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head, _, rest = answer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in header_lines)
        assert (path, int(status_line.split()[1]), rest) == (path, get_status, b"")
        assert headers["Content-Length"] == get_headers["Content-Length"] == str(len(get_body))
        assert headers["Content-Type"] == get_headers["Content-Type"]


def test_a_nul_in_a_static_path_is_404_not_500(zero_daemon) -> None:
    # http.client refuses control characters in a URL, so the request line goes over a bare socket.
    host = f"127.0.0.1:{zero_daemon.server.port}".encode()
    for path in (b"/static/\x00", b"/static/app.js\x00.png"):
        answer = raw_exchange(zero_daemon, b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        assert (path, answer.split(b" ", 2)[1]) == (path, b"404")


def test_without_a_token_http_routes_answer_only_the_daemons_own_host_names(zero_daemon, raw) -> None:
    port = zero_daemon.server.port
    job = finished_job(zero_daemon, raw)
    for route in ("/health", "/", f"/v1/jobs/{job}/0.npz", "/static/app.js"):
        status, text, _ = request(zero_daemon, "GET", route, headers={"Host": f"rebound.example:{port}"})
        assert (route, status) == (route, 403)
        assert b"Host" in text
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"):
        status, body, _ = request(zero_daemon, "GET", "/health", headers={"Host": host})
        assert (host, status) == (host, 200) and json.loads(body)["status"] == "ok"
    assert request(zero_daemon, "GET", "/health", headers={"Host": f"127.0.0.1:{port + 1}"})[0] == 403
    assert request(zero_daemon, "GET", "/health", headers={"Host": "localhost"})[0] == 403


def test_with_a_token_any_host_name_reaches_the_open_routes(daemon_factory) -> None:
    daemon = daemon_factory(ZeroCostModel(), token="t0k")
    status, body, _ = request(daemon, "GET", "/health", headers={"Host": f"studio-pc.lan:{daemon.server.port}"})
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_every_http_answer_carries_nosniff_and_a_content_security_policy(zero_daemon) -> None:
    port = zero_daemon.server.port
    for path in ("/", "/health", "/static/app.js", "/nope"):
        _, _, headers = request(zero_daemon, "GET", path)
        assert headers["X-Content-Type-Options"] == "nosniff"
        policy = {d.split()[0]: d.split()[1:] for d in headers["Content-Security-Policy"].split("; ")}
        assert policy["default-src"] == ["'none'"] and policy["script-src"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert f"ws://127.0.0.1:{port}" in policy["connect-src"]


def test_repeated_downloads_of_a_sample_export_it_once(zero_daemon, raw, monkeypatch) -> None:
    if "glb" not in zero_daemon.server.formats:
        pytest.skip("this build has no glb export")
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()
    real_export = engine.io.exporters.export_bytes

    def counting_export(motion, fmt, target="smplh"):
        with lock:
            calls.append((fmt, target))
        return real_export(motion, fmt, target)

    monkeypatch.setattr(engine.io.exporters, "export_bytes", counting_export)
    job = finished_job(zero_daemon, raw, samples=2)
    first = [request(zero_daemon, "GET", f"/v1/jobs/{job}/0.glb?target=unity") for _ in range(3)]
    assert [status for status, _, _ in first] == [200, 200, 200]
    assert first[0][1] == first[1][1] == first[2][1]
    assert calls == [("glb", "unity")]
    assert request(zero_daemon, "GET", f"/v1/jobs/{job}/0.glb?target=unreal")[0] == 200
    assert request(zero_daemon, "GET", f"/v1/jobs/{job}/1.glb?target=unity")[0] == 200
    assert request(zero_daemon, "GET", f"/v1/jobs/{job}/0.bvh?target=unity")[0] == 200
    assert request(zero_daemon, "GET", f"/v1/jobs/{job}/0.glb?target=unity")[0] == 200
    assert calls == [("glb", "unity"), ("glb", "unreal"), ("glb", "unity"), ("bvh", "unity")]
