"""The editor side of live mode without sockets or editor: ring buffer, real-time playhead, prompt debouncing,
the session's state machine and Record's slice of what was shown."""

from __future__ import annotations

import struct

import pytest
from motionbridge_unreal.live import (
    FAILED,
    STARTING,
    STOPPED,
    STOPPING,
    STREAMING,
    FrameRing,
    LivePlayhead,
    LiveSession,
    PromptDebouncer,
)
from motionbridge_unreal.protocol import ProtocolError

from engine.core.targets import UNREAL_BONES


def _frames(start: int, count: int) -> tuple[list, list]:
    """Frames whose root x is their index, so any slice says which frames it holds."""
    root = [(float(start + f), 0.0, 90.0) for f in range(count)]
    rotations = [[(0.0, 0.0, 0.0, 1.0)] * 22 for _ in range(count)]
    return root, rotations


def _motion(request_id: str, start: int, count: int, live: bool = True) -> dict:
    root, rotations = _frames(start, count)
    return {"op": "motion", "id": request_id, "job": "l1", "sample": 0, "preview": False, "final": False,
            "live": live, "start": start, "count": count, "total": start + count, "fps": 30, "target": "unreal",
            "joints": list(UNREAL_BONES), "root": struct.pack(f"<{count * 3}f", *[v for r in root for v in r]),
            "rotations": struct.pack(f"<{count * 88}f", *[v for fr in rotations for q in fr for v in q])}


def test_the_ring_keeps_the_newest_frames_by_their_stream_index() -> None:
    ring = FrameRing(5)
    ring.push(0, *_frames(0, 3))
    ring.push(3, *_frames(3, 4))
    assert (ring.first, ring.end, len(ring)) == (2, 7, 5)
    assert ring.frame(6)[0][0] == 6.0 and ring.frame(2)[0][0] == 2.0
    with pytest.raises(IndexError, match="frames 2 to 6"):
        ring.frame(1)
    root, _ = ring.span(0, 5)
    assert [r[0] for r in root] == [2.0, 3.0, 4.0], "clamped to what is held"
    with pytest.raises(ProtocolError, match="starts at frame 8, expected 7"):
        ring.push(8, *_frames(8, 1))


def test_the_playhead_runs_in_real_time_holds_when_dry_and_catches_up_after_a_hitch() -> None:
    playhead = LivePlayhead(fps=30, max_lag=20)
    assert playhead.advance(0.1, 0, 0) is None, "nothing to show before the first frame"
    assert playhead.advance(0.1, 0, 15) == 0, "starts at the first frame, not where the clock says"
    assert playhead.advance(0.1, 0, 15) == 3
    assert playhead.advance(1.0, 0, 15) == 14 and playhead.stalls == 1, "holds on the newest frame"
    assert playhead.advance(1 / 30, 0, 16) == 15
    assert playhead.advance(0.0, 0, 100) == 89, "an editor hitch left it 84 frames behind: to half the lag"
    assert playhead.advance(0.0, 95, 100) == 95, "never shows a frame the ring dropped"


def test_prompt_edits_are_sent_once_typing_pauses_for_400_ms() -> None:
    debounce = PromptDebouncer(0.4)
    debounce.reset("a person walks")
    debounce.edit("a person r", 10.0)
    debounce.edit("a person ru", 10.1)
    debounce.edit("a person runs", 10.2)
    assert debounce.due(10.5) is None, "300 ms after the last key"
    assert debounce.due(10.6) == "a person runs"
    assert debounce.due(11.5) is None, "sent once"
    debounce.edit("a person runs ", 12.0)
    assert debounce.due(13.0) is None, "the same prompt again is not re-sent"
    debounce.edit("", 14.0)
    assert debounce.due(15.0) is None, "a blank prompt is never sent"


def test_a_session_goes_from_starting_to_streaming_to_stopped() -> None:
    session = LiveSession("L1", "a person walks", buffer_ms=500)
    assert session.state == STARTING and session.active
    assert session.handle({"op": "accepted", "id": "other"}) is False
    session.handle({"op": "accepted", "id": "L1", "job": "l1", "queue_position": 0})
    assert session.state == STREAMING and session.job == "l1"
    session.handle(_motion("L1", 0, 15))
    session.handle(_motion("L1", 15, 2))
    assert session.advance(0.03) == 0 and session.shown()[0][0] == 0.0
    session.handle({"op": "live_state", "id": "L1", "prompt": "a person runs", "frame": 20})
    assert (session.prompt, session.prompt_frame) == ("a person runs", 20)
    assert session.describe() == "live: 'a person runs', frame 0 (16 buffered)"
    session.state = STOPPING
    session.handle({"op": "done", "id": "L1", "job": "l1", "frames": 17})
    assert session.state == STOPPED and not session.active and session.frames_sent == 17
    assert session.describe() == "live stopped after 17 frames"


def test_a_session_refuses_gaps_and_motion_not_marked_live() -> None:
    session = LiveSession("L1", "walk")
    session.handle(_motion("L1", 0, 4))
    with pytest.raises(ProtocolError, match="contiguous"):
        session.handle(_motion("L1", 5, 1))
    with pytest.raises(ProtocolError, match="live"):
        session.handle(_motion("L1", 4, 1, live=False))


def test_errors_end_a_session_and_a_cancel_while_stopping_is_a_stop() -> None:
    busy = LiveSession("L2", "walk")
    busy.handle({"op": "error", "id": "L2", "code": "busy", "message": "a live session is already running"})
    assert busy.state == FAILED and busy.describe() == "live failed: busy: a live session is already running"
    stopping = LiveSession("L3", "walk")
    stopping.state = STOPPING
    stopping.handle({"op": "error", "id": "L3", "code": "cancelled", "message": "cancelled"})
    assert stopping.state == STOPPED


def test_record_takes_the_last_seconds_up_to_the_frame_shown_not_the_buffer_ahead() -> None:
    session = LiveSession("L1", "walk", fps=30)
    session.handle(_motion("L1", 0, 15))
    session.advance(0.0)
    for tick in range(30):  # the daemon keeps 15 frames ahead; each 0.1 s tick shows 3 more and 3 arrive
        session.handle(_motion("L1", 15 + 3 * tick, 3))
        session.advance(0.1)
    assert session.playhead.frame == 90 and session.ring.end == 105
    clip = session.record(2.0)
    assert clip.frames == 60 and clip.fps == 30 and clip.joints == list(UNREAL_BONES)
    assert [clip.root[0][0], clip.root[-1][0]] == [31.0, 90.0]
    assert session.record(10.0).frames == 91, "a younger session records what it has"
    with pytest.raises(ProtocolError, match="positive"):
        session.record(0.0)
    with pytest.raises(ProtocolError, match="nothing has streamed yet"):
        LiveSession("L9", "walk").record(1.0)
