"""The v1.1 messages the plugin builds (directing and live), with the field names of protocol-v1.1 exactly; the
timeline rows of the panel; capabilities; and the inverse retarget that turns an editor pose into a wire frame."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from motionbridge_unreal import directing, protocol
from motionbridge_unreal.clips import GenerationTracker
from motionbridge_unreal.retarget import TargetSkeleton, WorldDeltaRetargeter, quat_about_z, quat_mul, quat_rotate

from bridge import protocol as daemon_protocol
from engine.core.skeleton import SMPLH_BODY
from engine.core.targets import UNREAL_BONES
from engine.retarget.rigs import manny


def test_live_messages_carry_exactly_the_v11_fields() -> None:
    assert protocol.live_start("L1", "a person walks around", seed=7, buffer_ms=400, area=150.0) == {
        "op": "live_start", "id": "L1", "prompt": "a person walks around", "target": "unreal", "seed": 7,
        "buffer_ms": 400, "area": 150.0}
    assert protocol.live_prompt("L1", "a person jumps") == {"op": "live_prompt", "id": "L1", "prompt": "a person jumps"}
    assert protocol.live_stop("L1") == {"op": "live_stop", "id": "L1"}
    defaults = protocol.live_start("L2", "a person dances")
    assert (defaults["seed"], defaults["buffer_ms"], defaults["area"]) == (0, 500, 0.0)


@pytest.mark.parametrize(("kwargs", "match"), [({"prompt": " "}, "prompt is empty"), ({"seed": -1}, "seed"),
                                               ({"area": -5.0}, "area"), ({"area": math.nan}, "area"),
                                               ({"buffer_ms": 0}, "buffer_ms")])
def test_live_start_refuses_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=match):
        protocol.live_start("L1", **{"prompt": "a person walks", **kwargs})


def test_every_field_the_plugin_sends_is_one_the_daemon_declares() -> None:
    """The daemon ignores unknown fields, so a misspelt one would silently do nothing."""
    start = protocol.start_from_motion([(0.0, 0.0, 95.0)], [[(0.0, 0.0, 0.0, 1.0)] * 22], 22)
    sent = {
        "generate": protocol.generate("g1", None, 0, 3, start=start,
                                      segments=protocol.segments([("walk", 2.0), ("sit", 1.0)])),
        "live_start": protocol.live_start("L1", "walk", seed=1, area=100.0),
        "live_prompt": protocol.live_prompt("L1", "run"),
        "live_stop": protocol.live_stop("L1"),
    }
    for op, message in sent.items():
        declared = daemon_protocol.REQUEST_MODELS[op].model_fields
        assert set(message) <= set(declared), (op, set(message) - set(declared))
        daemon_protocol.parse_request(message)
    assert set(start["motion"]) == set(daemon_protocol.WireStartMotion.model_fields)
    assert set(protocol.start_from_job("j1", 0)) <= set(daemon_protocol.WireStart.model_fields)
    assert set(sent["generate"]["segments"][0]) == set(daemon_protocol.WireSegment.model_fields)


def test_continue_from_a_job_and_a_timeline_generate() -> None:
    message = protocol.generate("g1", "a person sits down", 2.0, 4, start=protocol.start_from_job("j42", 0))
    assert message["start"] == {"job": "j42", "sample": 0}
    assert message["prompt"] == "a person sits down" and message["seconds"] == 2.0
    timeline = protocol.generate("g2", None, 0, 1, segments=protocol.segments([("walk forward", 3), ("sit", 1.5)]))
    assert timeline["segments"] == [{"prompt": "walk forward", "seconds": 3.0}, {"prompt": "sit", "seconds": 1.5}]
    assert "prompt" not in timeline and timeline["seconds"] == 4.5
    assert protocol.capabilities_used(message) == ["constraints"]
    assert protocol.capabilities_used(timeline) == ["timeline"]
    assert protocol.capabilities_used(protocol.live_stop("L")) == ["live"]
    assert protocol.capabilities_used(protocol.generate("g3", "walk")) == []
    with pytest.raises(protocol.ProtocolError, match="Generate one first"):
        protocol.start_from_job("", 0)


def test_a_start_motion_is_float32_little_endian_oldest_frame_first() -> None:
    rng = np.random.default_rng(3)
    root = rng.normal(size=(3, 3))
    rotations = rng.normal(size=(3, 22, 4))
    start = protocol.start_from_motion(root.tolist(), rotations.tolist(), 22)
    motion = start["motion"]
    assert set(start) == {"motion"} and set(motion) == {"root", "rotations", "frames"}
    assert motion["frames"] == 3
    assert motion["root"] == root.astype("<f4").tobytes()
    assert motion["rotations"] == rotations.astype("<f4").tobytes()
    assert struct.unpack("<3f", motion["root"][-12:]) == tuple(np.float32(v) for v in root[-1])
    with pytest.raises(protocol.ProtocolError, match="22 quaternions"):
        protocol.start_from_motion(root.tolist(), rotations[:, :21].tolist(), 22)
    with pytest.raises(protocol.ProtocolError, match="NaN"):
        protocol.start_from_motion([[math.nan, 0, 0]], rotations[:1].tolist(), 22)


def test_hello_capabilities_gate_the_panel_features_with_a_message_that_says_why() -> None:
    wire = {"op": "hello", "protocol": 1, "server": "motionbridge/0.1.0", "skeleton": SMPLH_BODY.to_wire(),
            "model": {"name": "tiny", "fps": 30}}
    old = protocol.Hello(wire)
    assert old.capabilities == [] and old.wire_joints == list(UNREAL_BONES)
    with pytest.raises(protocol.ProtocolError, match=r"Live mode needs a daemon with the 'live' capability; "
                                                     r"motionbridge/0\.1\.0 offers: none"):
        old.require("live", "Live mode")
    new = protocol.Hello({**wire, "capabilities": ["constraints", "timeline"]})
    new.require("timeline", "Timeline")
    with pytest.raises(protocol.ProtocolError, match="offers: constraints, timeline"):
        new.require("live", "Live")


def test_timeline_rows_are_seconds_then_prompt_one_per_line() -> None:
    rows = directing.parse_timeline("3 a person walks forward\n\n  1.5s a person sits down  \n")
    assert rows == [("a person walks forward", 3.0), ("a person sits down", 1.5)]
    with pytest.raises(protocol.ProtocolError, match="line 2 .* must start with its seconds"):
        directing.parse_timeline("2 walk\nwalk then run")
    with pytest.raises(protocol.ProtocolError, match="line 1 has seconds but no prompt"):
        directing.parse_timeline("4")
    with pytest.raises(protocol.ProtocolError, match="timeline is empty"):
        directing.parse_timeline(" \n ")
    with pytest.raises(protocol.ProtocolError, match="row 1: seconds must be a positive"):
        protocol.segments(directing.parse_timeline("0 walk"))


def test_done_segments_are_reported_in_the_status_line() -> None:
    tracker = GenerationTracker()
    tracker.start("g1")
    root = struct.pack("<6f", *[0.0] * 6)
    rotations = struct.pack(f"<{2 * 22 * 4}f", *([0.0, 0.0, 0.0, 1.0] * 44))
    tracker.handle({"op": "motion", "id": "g1", "sample": 0, "preview": False, "final": True, "start": 0, "count": 2,
                    "total": 2, "fps": 30, "joints": list(UNREAL_BONES), "root": root, "rotations": rotations})
    tracker.handle({"op": "done", "id": "g1", "job": "j", "frames": 2,
                    "segments": [{"start": 0, "count": 90}, {"start": 90, "count": 45}]})
    assert tracker.segments == [(0, 90), (90, 45)]
    assert tracker.describe() == "done: 2 frames (0.1 s), 2 segments starting at 0.0, 3.0 s"


def _manny_facing_y() -> TargetSkeleton:
    rig = manny()
    turn = quat_about_z(math.pi / 2)
    translations, rotations = [], []
    for b in range(len(rig.bones)):
        t = tuple(float(v) for v in rig.rest_translations[b])
        q = tuple(float(v) for v in rig.rest_rotations[b])
        if rig.parents[b] == 0:
            t, q = quat_rotate(turn, t), quat_mul(turn, q)
        translations.append(t)
        rotations.append(q)
    return TargetSkeleton(list(rig.bones), list(rig.parents), translations, rotations)


def test_the_inverse_retarget_gives_back_the_wire_frame_that_made_a_pose() -> None:
    retargeter = WorldDeltaRetargeter(_manny_facing_y(), list(UNREAL_BONES), list(SMPLH_BODY.parents),
                                      protocol.source_rest_in_unreal(SMPLH_BODY.offsets))
    rng = np.random.default_rng(11)
    for _ in range(5):
        rotations = rng.normal(size=(22, 4))
        rotations /= np.linalg.norm(rotations, axis=1, keepdims=True)
        root = (rng.normal() * 50, rng.normal() * 50, 90 + rng.normal() * 5)
        pose = retargeter.retarget(root, [tuple(q) for q in rotations])
        back_root, back_rotations = retargeter.source_frame(pose.component_rotations, pose.root_component_position)
        assert np.allclose(back_root, root, atol=1e-6)
        dots = np.abs(np.sum(np.array(back_rotations) * rotations, axis=1))
        assert np.all(dots > 1.0 - 1e-9), dots


def test_the_inverse_retarget_names_the_bones_a_pose_lacks() -> None:
    retargeter = WorldDeltaRetargeter(_manny_facing_y(), list(UNREAL_BONES), list(SMPLH_BODY.parents),
                                      protocol.source_rest_in_unreal(SMPLH_BODY.offsets))
    pose = retargeter.retarget((0.0, 0.0, 95.0), [(0.0, 0.0, 0.0, 1.0)] * 22)
    partial = {k: v for k, v in pose.component_rotations.items() if k != "hand_r"}
    with pytest.raises(Exception, match="lacks the bones hand_r"):
        retargeter.source_frame(partial, pose.root_component_position)
