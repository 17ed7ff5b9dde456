"""Protocol messages, motion decoding and request tracking of the plugin core (no sockets)."""

from __future__ import annotations

import numpy as np
import pytest
from motionbridge_unreal import protocol
from motionbridge_unreal.clips import CANCELLED, DONE, FAILED, GENERATING, QUEUED, GenerationTracker

from bridge import codec as daemon_protocol
from engine.core.skeleton import FPS, SMPLH_BODY
from engine.core.targets import TARGETS, UNREAL_BONES


def test_restated_constants_agree_with_the_daemon_and_engine() -> None:
    unreal = TARGETS["unreal"]
    assert np.array_equal(np.array(protocol.UNREAL_BASIS), unreal.basis)
    assert protocol.UNREAL_SCALE == unreal.scale
    assert protocol.SUBPROTOCOL == daemon_protocol.SUBPROTOCOL_MSGPACK
    assert np.allclose(protocol.source_rest_in_unreal(SMPLH_BODY.offsets), unreal.convert_positions(SMPLH_BODY.offsets),
                       atol=1e-4)


def _motion_message(frames: int, start: int = 0, total: int | None = None, final: bool = True,
                    preview: bool = False, seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    root = rng.normal(size=(frames, 3)).astype("<f4")
    rot = rng.normal(size=(frames, 22, 4)).astype("<f4")
    message = {"op": "motion", "id": "r1", "job": "j1", "sample": 0, "preview": preview, "final": final,
               "start": start, "count": frames, "total": total if total is not None else start + frames, "fps": FPS,
               "target": "unreal", "joints": list(UNREAL_BONES), "root": root.tobytes(), "rotations": rot.tobytes()}
    return message, root, rot


def test_motion_bytes_decode_to_the_same_float32_values() -> None:
    message, root, rot = _motion_message(7)
    chunk = protocol.MotionChunk(protocol.decode(protocol.encode(message)))
    assert np.array_equal(np.array(chunk.root, dtype="<f4"), root)
    assert np.array_equal(np.array(chunk.rotations, dtype="<f4"), rot)


def test_motion_with_wrong_byte_counts_is_a_protocol_error() -> None:
    message, _, _ = _motion_message(3)
    message["rotations"] = message["rotations"][:-4]
    with pytest.raises(protocol.ProtocolError, match="sizes do not match"):
        protocol.MotionChunk(message)
    with pytest.raises(protocol.ProtocolError, match="malformed motion"):
        protocol.MotionChunk({"op": "motion", "id": "r1"})


def test_decode_refuses_text_frames_and_non_maps() -> None:
    with pytest.raises(protocol.ProtocolError, match="text frame"):
        protocol.decode("{}")  # type: ignore[arg-type]
    with pytest.raises(protocol.ProtocolError, match="string 'op'"):
        protocol.decode(protocol.encode([1, 2]))  # type: ignore[arg-type]
    with pytest.raises(protocol.ProtocolError, match="undecodable"):
        protocol.decode(b"\xc1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"prompt": "  "}, "prompt is empty"), ({"seconds": 0.0}, "seconds"), ({"seconds": float("nan")}, "seconds"),
     ({"seed": -1}, "seed"), ({"seed": 2**31}, "seed"), ({"seed": True}, "seed")],
)
def test_generate_refuses_obviously_bad_requests(kwargs: dict, message: str) -> None:
    args = {"prompt": "a person walks", "seconds": 2.0, "seed": 0, **kwargs}
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.generate("r1", **args)


def test_generate_asks_for_the_unreal_target_by_default() -> None:
    message = protocol.generate("r1", "a person jumps", 3, 5, steps=10)
    assert message == {"op": "generate", "id": "r1", "prompt": "a person jumps", "seconds": 3.0, "seed": 5,
                       "samples": 1, "target": "unreal", "preview_every": 0, "chunk_frames": 0, "loop": False,
                       "in_place": False, "steps": 10}


def test_hello_needs_protocol_1_and_a_consistent_skeleton() -> None:
    good = {"op": "hello", "protocol": 1, "skeleton": SMPLH_BODY.to_wire(), "model": {"name": "tiny", "fps": 30}}
    hello = protocol.Hello(good)
    assert hello.joints == list(SMPLH_BODY.joints) and hello.fps == 30
    with pytest.raises(protocol.ProtocolError, match="protocol 2"):
        protocol.Hello({**good, "protocol": 2})
    with pytest.raises(protocol.ProtocolError, match="equal length"):
        protocol.Hello({**good, "skeleton": {**SMPLH_BODY.to_wire(), "parents": [-1]}})


def test_tracker_assembles_chunks_and_prefers_the_final_clip_over_previews() -> None:
    tracker = GenerationTracker()
    tracker.start("r1")
    assert not tracker.handle({"op": "accepted", "id": "other", "job": "x"})
    tracker.handle({"op": "accepted", "id": "r1", "job": "j1", "queue_position": 2})
    assert tracker.state == QUEUED and tracker.describe() == "queued (2 ahead)"
    tracker.handle({"op": "progress", "id": "r1", "job": "j1", "step": 3, "steps": 10})
    assert tracker.state == GENERATING and tracker.describe() == "generating: step 3/10"
    preview, _, _ = _motion_message(10, final=False, preview=True, seed=1)
    tracker.handle({**preview, "step": 3})
    assert tracker.clip is tracker.preview and tracker.clip.preview_step == 3
    first, root_a, _ = _motion_message(6, start=0, total=10, final=False, seed=2)
    second, root_b, _ = _motion_message(4, start=6, total=10, final=True, seed=3)
    tracker.handle(first)
    assert tracker.final is None
    tracker.handle(second)
    assert tracker.clip is tracker.final and tracker.final.frames == 10
    assert np.allclose(tracker.final.root, np.concatenate([root_a, root_b]))
    tracker.handle({"op": "done", "id": "r1", "job": "j1", "frames": 10, "cached": True})
    assert tracker.state == DONE and not tracker.busy
    assert tracker.describe() == "done: 10 frames (0.3 s), cached"
    assert [tracker.final.frame_at(t) for t in (0.0, 0.05, 0.34, 0.4)] == [0, 1, 0, 2]


def test_tracker_rejects_gaps_and_reports_errors() -> None:
    tracker = GenerationTracker()
    tracker.start("r1")
    gap, _, _ = _motion_message(3, start=5, total=8)
    with pytest.raises(protocol.ProtocolError, match="starts at frame 5"):
        tracker.handle(gap)
    tracker.handle({"op": "done", "id": "r1"})
    assert tracker.state == FAILED and "without sending the final motion" in tracker.describe()
    tracker.start("r2")
    tracker.handle({"op": "error", "id": "r2", "code": "cancelled", "message": "cancelled by the client"})
    assert tracker.state == CANCELLED and tracker.describe() == "cancelled: cancelled by the client"
