"""The plugin's core client speaking protocol v1.1 to the real daemon on loopback (tiny random-weight model):
continuing a job or sent frames, a timeline, and a live session from live_start to done."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from motionbridge_unreal import protocol
from motionbridge_unreal.client import BridgeClient
from motionbridge_unreal.clips import DONE, GenerationTracker
from motionbridge_unreal.live import STOPPED, STREAMING, LiveSession

from engine.core.targets import UNREAL_BONES

STEPS = 6


@pytest.fixture()
def client(live_daemon: Any) -> BridgeClient:
    c = BridgeClient("127.0.0.1", live_daemon.port, reconnect=False)
    c.connect()
    yield c
    c.close()


def _run(client: BridgeClient, request_id: str, timeout: float = 60.0) -> GenerationTracker:
    tracker = GenerationTracker()
    tracker.start(request_id)
    deadline = time.monotonic() + timeout
    while tracker.busy and time.monotonic() < deadline:
        event = client.next_event(0.5)
        if isinstance(event, dict):
            tracker.handle(event)
    assert tracker.state == DONE, tracker.describe()
    return tracker


def _same_frame(clip_a: Any, frame_a: int, clip_b: Any, frame_b: int) -> None:
    assert np.allclose(clip_a.root[frame_a], clip_b.root[frame_b], atol=1e-3), "root, centimetres"
    dots = np.abs(np.sum(np.array(clip_a.rotations[frame_a]) * np.array(clip_b.rotations[frame_b]), axis=1))
    assert np.all(dots > 1.0 - 1e-5), dots


def test_hello_lists_the_v11_capabilities_the_plugin_uses(client: BridgeClient) -> None:
    assert {"constraints", "timeline", "live"} <= set(client.hello.capabilities)
    assert client.hello.wire_joints == list(UNREAL_BONES)


def test_continuing_a_job_starts_on_its_last_frame(client: BridgeClient) -> None:
    first = _run(client, client.generate("a person walks forward", 1.0, 3, steps=STEPS))
    request_id = client.generate("a person turns around", 1.0, 4, steps=STEPS,
                                 start=protocol.start_from_job(first.job, 0))
    second = _run(client, request_id)
    _same_frame(second.final, 0, first.final, first.final.frames - 1)


def test_continuing_sent_frames_starts_on_the_last_one(client: BridgeClient) -> None:
    first = _run(client, client.generate("a person jumps", 1.0, 5, steps=STEPS))
    clip = first.final
    start = protocol.start_from_motion(clip.root[-6:-2], clip.rotations[-6:-2], len(clip.joints))
    second = _run(client, client.generate("a person bows", 1.0, 6, steps=STEPS, start=start))
    _same_frame(second.final, 0, clip, clip.frames - 3)


def test_a_timeline_is_one_clip_and_done_says_where_each_segment_starts(client: BridgeClient) -> None:
    segments = protocol.segments([("a person walks forward", 1.0), ("a person sits down", 0.7)])
    tracker = _run(client, client.generate(None, 0, 2, steps=STEPS, segments=segments))
    assert tracker.final.frames == 51
    assert tracker.done["segments"] == [{"start": 0, "count": 30}, {"start": 30, "count": 21}]
    assert tracker.segments == [(0, 30), (30, 21)]


def test_a_start_the_daemon_cannot_follow_is_a_bad_request_naming_the_field(client: BridgeClient) -> None:
    start = protocol.start_from_motion([(0.0, 0.0, 90.0)], [[(0.0, 0.0, 0.0, 1.0)] * 21], 21)
    request_id = client.generate("a person walks", 1.0, 0, steps=STEPS, start=start)
    event = client.next_event(10)
    assert (event["op"], event["code"], event["id"]) == ("error", "bad_request", request_id)
    assert "start.motion.rotations: wrong byte length" in event["message"]


def _stream(client: BridgeClient, session: LiveSession, until: Any, timeout: float = 30.0) -> list[dict]:
    """Feed the session the daemon's events until `until(session, event)`; returns every event it took."""
    taken = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = client.next_event(0.5)
        if not isinstance(event, dict):
            continue
        if session.handle(event):
            taken.append(event)
            if until(session, event):
                return taken
    raise AssertionError(f"live session did not get there in {timeout} s: {session.describe()}")


def _next_for(client: BridgeClient, request_id: str, session: LiveSession) -> dict:
    """The next event for `request_id`; the session keeps taking its own meanwhile (its stream must not gap)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        event = client.next_event(0.5)
        if isinstance(event, dict) and not session.handle(event) and event.get("id") == request_id:
            return event
    raise AssertionError(f"no reply for {request_id}")


def test_a_live_session_streams_contiguous_frames_follows_prompts_and_stops_with_done(client: BridgeClient) -> None:
    live_id = client.live_start("a person walks around", seed=2, buffer_ms=300, area=200.0)
    session = LiveSession(live_id, "a person walks around", buffer_ms=300)
    events = _stream(client, session, lambda s, e: s.ring.end >= 20)
    assert events[0]["op"] == "accepted" and session.state == STREAMING
    motions = [e for e in events if e["op"] == "motion"]
    assert all(m["live"] is True and m["preview"] is False and m["final"] is False for m in motions)
    assert all(m["target"] == "unreal" and m["joints"] == list(UNREAL_BONES) for m in motions)
    starts = [m["start"] for m in motions]
    assert starts[0] == 0 and starts == list(np.cumsum([0] + [m["count"] for m in motions[:-1]]))

    received = session.ring.end
    client.live_prompt(live_id, "a person jumps up and down")
    _stream(client, session, lambda s, e: e["op"] == "live_state")
    assert session.prompt == "a person jumps up and down"
    assert session.prompt_frame >= received, "the new prompt takes over after what was already sent"

    second = client.live_start("a person dances", seed=1)
    busy = _next_for(client, second, session)
    assert (busy["op"], busy["code"]) == ("error", "busy")

    session.state = "stopping"
    client.live_stop(live_id)
    _stream(client, session, lambda s, e: e["op"] == "done")
    assert session.state == STOPPED and session.frames_sent == session.ring.end
    assert client.connected


def test_the_daemon_keeps_a_live_stream_about_buffer_ms_ahead_of_real_time(client: BridgeClient) -> None:
    live_id = client.live_start("a person walks", seed=3, buffer_ms=300)
    session = LiveSession(live_id, "a person walks", buffer_ms=300)
    _stream(client, session, lambda s, e: e["op"] == "motion")
    started = time.monotonic()
    _stream(client, session, lambda s, e: time.monotonic() - started > 2.0)
    client.live_stop(live_id)
    # Paced: over 2 s about 60 frames more arrive, not as many as the model can make (a burst would be hundreds).
    assert 45 <= session.ring.end <= 9 + 60 + 20, session.ring.end
    _stream(client, session, lambda s, e: e["op"] == "done")
