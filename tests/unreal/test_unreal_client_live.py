"""The plugin's core client against the real daemon on loopback (tiny random-weight model)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from motionbridge_unreal import protocol
from motionbridge_unreal.client import BridgeClient, BridgeConnectionError, ConnectionEvent, ReconnectBackoff
from motionbridge_unreal.clips import CANCELLED, DONE, GenerationTracker
from motionbridge_unreal.websocket import WebSocketConnection

from engine.core.skeleton import BODY_JOINTS, FPS
from engine.core.targets import TARGETS, UNREAL_BONES

STEPS = 6


def _collect(client: BridgeClient, request_id: str, timeout: float = 60.0) -> list[dict]:
    """Events of one request until its done/error (connection events are kept too)."""
    events: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = client.next_event(0.5)
        if event is None:
            continue
        events.append(event)
        if isinstance(event, dict) and event.get("id") == request_id and event.get("op") in ("done", "error"):
            return events
    raise AssertionError(f"request {request_id} did not finish in {timeout} s; got {[_op(e) for e in events]}")


def _op(event: Any) -> str:
    return event.kind if isinstance(event, ConnectionEvent) else str(event.get("op"))


@pytest.fixture()
def client(live_daemon) -> BridgeClient:
    c = BridgeClient("127.0.0.1", live_daemon.port, reconnect=False)
    yield c
    c.close()


def test_handshake_reports_the_daemons_model_and_source_skeleton(client: BridgeClient) -> None:
    hello = client.connect()
    assert client.connected
    assert hello.joints == list(BODY_JOINTS)
    assert hello.fps == FPS
    assert hello.model_name == "tiny-random"
    assert len(hello.rest) == 22 and hello.rest[0][1] > 0.5, "row 0 is the pelvis rest position (Y up, metres)"


def test_generate_streams_accepted_progress_previews_and_chunked_final_motion(client: BridgeClient) -> None:
    client.connect()
    request_id = client.generate("a person waves with the right hand", 1.0, 4, steps=STEPS, preview_every=2,
                                 chunk_frames=8)
    events = _collect(client, request_id)
    ops = [_op(e) for e in events]
    assert ops[0] == "accepted" and ops[-1] == "done", ops
    assert ops.count("progress") == STEPS
    tracker = GenerationTracker()
    tracker.start(request_id)
    for event in events:
        tracker.handle(event)
    assert tracker.state == DONE
    motions = [e for e in events if _op(e) == "motion"]
    assert any(m["preview"] for m in motions) and tracker.preview is not None
    finals = [m for m in motions if not m["preview"]]
    assert [m["count"] for m in finals] == [8, 8, 8, 6]
    clip = tracker.final
    assert clip.frames == 30 and clip.fps == FPS and clip.joints == list(UNREAL_BONES)
    norms = np.linalg.norm(np.array(clip.rotations), axis=-1)
    assert np.allclose(norms, 1.0, atol=1e-4)


def test_unreal_target_equals_the_engines_conversion_of_the_smplh_result(client: BridgeClient) -> None:
    client.connect()
    request_id = client.generate("a person jumps", 1.0, 9, steps=STEPS)
    events = _collect(client, request_id)
    unreal_tracker = GenerationTracker()
    unreal_tracker.start(request_id)
    for event in events:
        unreal_tracker.handle(event)
    job = unreal_tracker.job
    fetch_id = client.next_id()
    client.send(protocol.fetch(fetch_id, job, target="smplh"))
    smplh_tracker = GenerationTracker()
    smplh_tracker.start(fetch_id)
    for event in _collect(client, fetch_id):
        smplh_tracker.handle(event)
    assert smplh_tracker.state == DONE and smplh_tracker.done.get("cached") is True
    source, wire = smplh_tracker.final, unreal_tracker.final
    target = TARGETS["unreal"]
    assert np.allclose(target.convert_rotations(np.array(source.rotations)), np.array(wire.rotations), atol=1e-6)
    assert np.allclose(target.convert_positions(np.array(source.root)), np.array(wire.root), atol=1e-4)


def test_cancel_ends_the_request_with_cancelled(client: BridgeClient) -> None:
    client.connect()
    limits = client.hello.limits
    request_id = client.generate("a person runs in a circle", min(10.0, limits.get("max_seconds", 10.0)), 1,
                                 steps=limits.get("max_steps", 200))
    client.cancel(request_id)
    events = _collect(client, request_id)
    tracker = GenerationTracker()
    tracker.start(request_id)
    for event in events:
        tracker.handle(event)
    assert tracker.state == CANCELLED, tracker.describe()


def test_status_and_request_errors_arrive_as_events(client: BridgeClient) -> None:
    client.connect()
    status_id = client.status()
    status = _collect_op(client, status_id, "status")
    assert status["busy"] in (True, False) and "queue" in status
    too_long = "x" * (client.hello.limits["max_prompt_chars"] + 1)
    request_id = client.generate(too_long, 1.0, 0)
    error = _collect(client, request_id)[-1]
    assert (error["op"], error["code"]) == ("error", "too_long")
    assert client.connected, "a request error never closes the connection"


def _collect_op(client: BridgeClient, request_id: str, op: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        event = client.next_event(0.5)
        if isinstance(event, dict) and event.get("id") == request_id and event.get("op") == op:
            return event
    raise AssertionError(f"no {op} for {request_id}")


def test_connecting_to_a_closed_port_says_how_to_start_the_daemon() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BridgeConnectionError, match="motionbridge serve"):
        BridgeClient("127.0.0.1", port, connect_timeout=2).connect()


def test_a_connection_without_our_subprotocol_is_closed_with_4002(live_daemon) -> None:
    ws = WebSocketConnection.connect("127.0.0.1", live_daemon.port, protocol.PATH, ["something.else"], timeout=5)
    from motionbridge_unreal.websocket import ConnectionClosed

    with pytest.raises(ConnectionClosed) as info:
        while True:
            ws.recv(timeout=5)
    assert info.value.code == 4002


@pytest.mark.slow
def test_reconnects_after_a_daemon_restart_and_fetches_a_finished_job(tmp_path) -> None:
    from ue_test_support import LiveDaemon

    first = LiveDaemon(tmp_path).start()
    port = first.port
    client = BridgeClient("127.0.0.1", port, backoff=ReconnectBackoff(initial=0.1, factor=2.0, maximum=0.5,
                                                                        attempts=60))
    try:
        client.connect()
        request_id = client.generate("a person bows", 1.0, 2, steps=STEPS)
        done = _collect(client, request_id)[-1]
        assert done["op"] == "done"
        first_session = client.hello.session
        first.stop()
        second = LiveDaemon(tmp_path, port=port).start()
        try:
            kinds = []
            deadline = time.monotonic() + 30
            while "reconnected" not in kinds and time.monotonic() < deadline:
                event = client.next_event(0.5)
                if isinstance(event, ConnectionEvent):
                    kinds.append(event.kind)
            assert kinds[0] == "lost" and kinds[-1] == "reconnected", kinds
            assert client.connected and client.hello.session != first_session
            fetch_id = client.fetch(done["job"])
            replay = GenerationTracker()
            replay.start(fetch_id)
            for event in _collect(client, fetch_id):
                replay.handle(event)
            assert replay.state == DONE and replay.final.frames == done["frames"]
        finally:
            client.close()
            second.stop()
    finally:
        client.close()


@pytest.mark.slow
def test_a_request_in_flight_survives_a_dropped_connection(live_daemon) -> None:
    import socket

    client = BridgeClient("127.0.0.1", live_daemon.port, backoff=ReconnectBackoff(initial=0.05, maximum=0.2,
                                                                                  attempts=50))
    try:
        client.connect()
        request_id = client.generate("a person dances", 6.0, 3, steps=60)
        first = client.next_event(10)
        assert isinstance(first, dict) and first["op"] == "accepted"
        # A network drop: the TCP connection dies under the client without a close handshake. The daemon
        # cancels the orphaned job, so recovery's fetch gets not_found and the generate is sent again.
        client._socket._sock.shutdown(socket.SHUT_RDWR)
        events = _collect(client, request_id, timeout=90)
        ops = [_op(e) for e in events]
        assert "lost" in ops and "reconnected" in ops, ops
        assert ops[-1] == "done", ops
        assert not any(_op(e) == "error" for e in events), "recovery swallowed the not_found of its fetch"
        tracker = GenerationTracker()
        tracker.start(request_id)
        for event in events[ops.index("reconnected"):]:
            if isinstance(event, dict):
                tracker.handle(event)
        assert tracker.state == DONE and tracker.final.frames == 180
    finally:
        client.close()
