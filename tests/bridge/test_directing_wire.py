"""Protocol v1.1 on a live loopback daemon with the real tiny model: `start`, `keys`, `path`, `end`, `segments` in
the request's target convention, their errors (bad_request naming the field, before acceptance) on both
subprotocols, and v1 requests unchanged."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from bridge.protocol import CAPABILITIES
from engine.core.motion import MAX_KEYS, Motion
from engine.core.targets import TARGETS, from_target, get_target, to_target
from engine.model.directing import ConstraintError
from engine.model.generation import CancelCheck, GenerationRequest, MotionModel, StepCallback

STEPS = 4
ENCODINGS = ("msgpack", "json")


def run(coro):
    return asyncio.run(coro)


def f32(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def angle_deg(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    q1 = q1 / np.linalg.norm(q1, axis=-1, keepdims=True)
    q2 = q2 / np.linalg.norm(q2, axis=-1, keepdims=True)
    dot = np.clip(np.abs((q1 * q2).sum(-1)), 0.0, 1.0)
    return np.degrees(2 * np.arccos(dot))


async def clip(client, rid: str, **fields: Any) -> tuple[np.ndarray, np.ndarray, dict[str, Any], dict[str, Any]]:
    """Send a generate and return (root, rotations) of sample 0 in the target convention, its done and accepted."""
    await client.send({"op": "generate", "id": rid, "steps": STEPS, **fields})
    msgs = await client.until(rid, timeout=120)
    assert msgs[-1]["op"] == "done", msgs[-1]
    accepted = msgs[0]
    parts = [m for m in msgs if m["op"] == "motion" and not m["preview"] and m["sample"] == 0]
    root = np.concatenate([np.frombuffer(m["root"], "<f4").reshape(m["count"], 3) for m in parts])
    rot = np.concatenate(
        [np.frombuffer(m["rotations"], "<f4").reshape(m["count"], len(m["joints"]), 4) for m in parts]
    )
    return root, rot, msgs[-1], accepted


# ------------------------------------------------------------------------------------------ conversion


@pytest.mark.parametrize("target", list(TARGETS))
def test_from_target_is_the_exact_inverse_of_to_target(target: str) -> None:
    rng = np.random.default_rng(0)
    root = rng.normal(size=(7, 3)).astype(np.float32) * 3
    q = rng.normal(size=(7, 22, 4)).astype(np.float32)
    wire_root, wire_rot = to_target(root, q, target)
    back_root, back_rot = from_target(wire_root, wire_rot, target)
    again_root, again_rot = to_target(back_root, back_rot, target)
    np.testing.assert_array_equal(again_root, wire_root)  # wire → source → wire: bit for bit
    np.testing.assert_array_equal(again_rot, wire_rot)
    np.testing.assert_allclose(back_root, root, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(back_rot.astype(np.float32), q)


@pytest.mark.parametrize("target", list(TARGETS))
def test_heading_to_source_turns_the_targets_forward_into_the_sources(target: str) -> None:
    t = get_target(target)
    for facing in (0.0, 0.7, -1.2):
        source = t.heading_to_source(facing)
        # The heading as a rotation about the source's +Y, sent to the target: about the target's up by `facing`.
        q = np.array([0.0, math.sin(source / 2), 0.0, math.cos(source / 2)])
        up = {"+Y": [0.0, 1.0, 0.0], "+Z": [0.0, 0.0, 1.0]}[t.up]
        expected = np.array([*(math.sin(facing / 2) * np.array(up)), math.cos(facing / 2)])
        np.testing.assert_allclose(t.convert_rotations(q), expected, atol=1e-6)


# ------------------------------------------------------------------------------------------ hello


def test_hello_lists_capabilities_and_max_keys(daemon, raw) -> None:
    async def scenario():
        client = await raw.ready(daemon.url)
        assert client.hello["capabilities"] == ["constraints", "timeline", "live"] == list(CAPABILITIES)
        assert client.hello["limits"]["max_keys"] == MAX_KEYS == 64
        await client.close()

    run(scenario())


# ------------------------------------------------------------------------------------------ end to end


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("target", ["smplh", "unity", "unreal"])
def test_start_keys_path_end_in_the_targets_convention(daemon, raw, target: str, encoding: str) -> None:
    t = get_target(target)
    unit = t.scale  # metres → target units

    async def scenario():
        client = await raw.ready(daemon.url, encoding)
        before_root, before_rot, _, accepted = await clip(client, "a", prompt="a person walks forward", seconds=2.0,
                                                          target=target)
        n = 5
        key_rot = before_rot[10]
        up = 1 if t.up == "+Y" else 2
        waypoint = before_root[-1].astype(np.float64).copy()
        ground = [i for i in range(3) if i != up]
        waypoint[ground[0]] += 0.4 * unit
        waypoint[ground[1]] += 0.3 * unit
        request = {
            "prompt": "a person walks forward",
            "seconds": 2.0,
            "target": target,
            "start": {"motion": {"root": f32(before_root[-n:]), "rotations": f32(before_rot[-n:]), "frames": n}},
            "keys": [
                {"time": 1.0, "pose": {"rotations": f32(key_rot)}, "weight": 1.0},
                {"time": 0.5, "effector": t.joints[21], "position": (before_root[-1] + 0.0).tolist(), "weight": 0.5},
            ],
            "path": [{"time": 1.5, "position": waypoint.tolist(), "facing": 0.3}],
            "end": {"pose": {"rotations": f32(before_rot[0])}},
        }
        root, rot, done, _ = await clip(client, "b", **request)
        assert "segments" not in done
        np.testing.assert_allclose(root[0], before_root[-1], atol=1e-3 * unit)  # frame 0 = the start's last
        assert angle_deg(rot[0], before_rot[-1]).max() < 0.5
        assert angle_deg(rot[30], key_rot).max() < 2.0  # the pose key at 1.0 s (frame 30)
        assert angle_deg(rot[-1], before_rot[0]).max() < 2.0  # the end pose
        miss = np.linalg.norm((root[45] - waypoint)[ground])
        assert miss < 0.05 * unit, miss  # the waypoint at 1.5 s, in the target's units and axes

        # start: {job, sample}: continue the first clip of this daemon
        root2, rot2, _, _ = await clip(client, "c", prompt="a person waves", seconds=1.0, target=target,
                                       start={"job": accepted["job"], "sample": 0})
        np.testing.assert_allclose(root2[0], before_root[-1], atol=1e-3 * unit)
        assert angle_deg(rot2[0], before_rot[-1]).max() < 0.5
        await client.close()

    run(scenario())


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("target", ["smplh", "unity"])
def test_timeline_reports_segments_in_done(daemon, raw, target: str, encoding: str) -> None:
    async def scenario():
        client = await raw.ready(daemon.url, encoding)
        segments = [{"prompt": "walk forward", "seconds": 1.0}, {"prompt": "sit down", "seconds": 0.7}]
        root, _, done, _ = await clip(client, "t", segments=segments, target=target)
        assert done["frames"] == root.shape[0] == 51
        assert done["seconds"] == pytest.approx(1.7)
        assert done["segments"] == [{"start": 0, "count": 30}, {"start": 30, "count": 21}]
        await client.send({"op": "generate", "id": "long", "segments": [{"prompt": "walk", "seconds": 100.0}]})
        (msg,) = await client.until("long")
        assert msg["code"] == "too_long" and msg["message"].startswith("segments")
        await client.close()

    run(scenario())


# ------------------------------------------------------------------------------------------ errors

REST = np.tile(np.array([0.0, 0.0, 0.0, 1.0], np.float32), (22, 1))
NAN_POSE = REST.copy()
NAN_POSE[3, 0] = np.nan

BAD_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("start.motion.root", {"start": {"motion": {"root": f32(np.zeros(5)), "rotations": f32(REST), "frames": 1}}}),
    ("start.motion.rotations", {"start": {"motion": {"root": f32(np.zeros(3)), "rotations": f32(REST[:21]),
                                                     "frames": 1}}}),
    ("start.job", {"start": {"job": "jnosuchjob", "sample": 0}}),
    ("start", {"start": {}}),
    ("keys[0].pose.rotations", {"keys": [{"time": 1.0, "pose": {"rotations": f32(NAN_POSE)}}]}),
    ("keys[0].pose.rotations", {"keys": [{"time": 1.0, "pose": {"rotations": f32(np.zeros((22, 4)))}}]}),
    ("keys[0].joints", {"keys": [{"time": 1.0, "pose": {"rotations": f32(REST)}, "joints": ["tail"]}]}),
    ("keys[0].effector", {"keys": [{"time": 1.0, "effector": "tail", "position": [0.0, 1.0, 0.0]}]}),
    ("keys[0].position", {"keys": [{"time": 1.0, "effector": "pelvis", "position": [0.0, 1.0]}]}),
    ("keys[0].time", {"keys": [{"time": 9.0, "pose": {"rotations": f32(REST)}}]}),
    ("keys[0].time", {"keys": [{"time": -1.0, "effector": "pelvis", "position": [0.0, 1.0, 0.0]}]}),
    ("keys[0].weight", {"keys": [{"time": 1.0, "pose": {"rotations": f32(REST)}, "weight": 0.0}]}),
    ("keys", {"keys": [{"time": 1.0, "effector": "pelvis", "position": [0.0, 1.0, 0.0]}] * (MAX_KEYS + 1)}),
    ("path[0].position", {"path": [{"time": 1.0, "position": [0.0, float("nan"), 0.0]}]}),
    ("path[0].time", {"path": [{"time": 3.0, "position": [0.0, 0.0, 0.0]}]}),
    ("path", {"path": [{"time": 1.0, "position": [0.0, 0.0, 0.0]}], "in_place": True}),
    ("end.pose.rotations", {"end": {"pose": {"rotations": b"\x00\x01"}}}),
    ("end", {"end": {"pose": {"rotations": f32(REST)}}, "loop": True}),
    ("segments[1].seconds", {"segments": [{"prompt": "walk", "seconds": 1.0}, {"prompt": "sit", "seconds": -1.0}]}),
    ("segments[0].prompt", {"segments": [{"prompt": " ", "seconds": 1.0}]}),
]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_malformed_constraints_get_bad_request_naming_the_field(daemon, raw, encoding: str) -> None:
    async def scenario():
        client = await raw.ready(daemon.url, encoding)
        for i, (field, fields) in enumerate(BAD_REQUESTS):
            request = {"op": "generate", "id": f"r{i}", "prompt": "a person walks", "seconds": 2.0, "steps": STEPS}
            if encoding == "json":
                # NaN is not JSON: the JSON case sends an out-of-range number where msgpack sends NaN.
                fields = {k: v for k, v in fields.items()}
                if "path" in fields and any(isinstance(x, float) and math.isnan(x)
                                            for x in fields["path"][0]["position"]):
                    fields["path"] = [{"time": 1.0, "position": [0.0, 1.0]}]
            await client.send({**request, **fields})
            msgs = await client.until(f"r{i}")
            assert [m["op"] for m in msgs] == ["error"], (field, msgs)  # refused before acceptance
            assert msgs[0]["code"] == "bad_request", (field, msgs[0])
            assert field in msgs[0]["message"], (field, msgs[0]["message"])
        await client.close()

    run(scenario())


def test_json_constraint_bytes_must_be_base64(daemon, raw) -> None:
    async def scenario():
        client = await raw.ready(daemon.url, "json")
        await client.send({"op": "generate", "id": "x", "prompt": "walk", "steps": STEPS,
                           "keys": [{"time": 1.0, "pose": {"rotations": "not base64!"}}]})
        (msg,) = await client.until("x")
        assert msg["code"] == "bad_request" and "keys[0].pose.rotations" in msg["message"]
        await client.close()

    run(scenario())


class RefusingModel(MotionModel):
    """The real model, except that a batch holding a request with a key at 0.77 s raises ConstraintError inside
    the model (as a constraint the server's checks let through would)."""

    def __init__(self, inner: MotionModel) -> None:
        self.inner = inner
        self.name, self.fps, self.max_seconds = inner.name, inner.fps, inner.max_seconds
        self.default_steps, self.default_cfg = inner.default_steps, inner.default_cfg
        self.batches: list[int] = []

    def generate_batch(
        self, requests: Sequence[GenerationRequest], on_step: StepCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[list[Motion] | None]:
        self.batches.append(len(requests))
        for r in requests:
            if r.constraints is not None and any(k.time == 0.77 for k in r.constraints.keys):
                raise ConstraintError("keys[0].time", "refused by the model")
        return self.inner.generate_batch(requests, on_step, cancelled)


def test_a_failing_constrained_request_never_fails_its_batch_neighbours(daemon_factory, tiny_model, raw) -> None:
    model = RefusingModel(tiny_model)
    daemon = daemon_factory(model, max_batch=4)

    async def scenario():
        client = await raw.ready(daemon.url)
        # a first job keeps the model busy while the next three queue up and are batched together
        await client.send({"op": "generate", "id": "busy", "prompt": "a person runs", "seconds": 2.0, "steps": 20})
        await client.send({"op": "generate", "id": "ok1", "prompt": "a person walks", "seconds": 2.0, "steps": STEPS})
        await client.send({"op": "generate", "id": "bad", "prompt": "a person walks", "seconds": 2.0, "steps": STEPS,
                           "keys": [{"time": 0.77, "effector": "pelvis", "position": [0.0, 0.9, 0.5]}]})
        await client.send({"op": "generate", "id": "ok2", "prompt": "a person sits", "seconds": 2.0, "steps": STEPS})
        out = await client.until_all(["busy", "ok1", "bad", "ok2"], timeout=120)
        assert out["ok1"][-1]["op"] == "done" and out["ok2"][-1]["op"] == "done"
        assert out["bad"][-1]["op"] == "error" and out["bad"][-1]["code"] == "bad_request"
        assert "keys[0].time" in out["bad"][-1]["message"]
        await client.close()

    run(scenario())
    assert 3 in model.batches  # the three really shared a batch before the retry one by one


def test_v1_requests_get_the_v1_replies_unchanged(daemon, raw, tiny_model) -> None:
    async def scenario():
        client = await raw.ready(daemon.url)
        await client.send({"op": "generate", "id": "v1", "prompt": "a person walks", "seconds": 1.0, "steps": STEPS,
                           "target": "unity", "chunk_frames": 16})
        msgs = await client.until("v1", timeout=60)
        await client.close()
        return msgs

    msgs = run(scenario())
    assert [m["op"] for m in msgs if m["op"] != "progress"] == ["accepted", "motion", "motion", "done"]
    motion_keys = {"op", "id", "job", "sample", "seed", "preview", "final", "start", "count", "total", "fps", "target",
                   "joints", "root", "rotations"}
    for m in msgs:
        if m["op"] == "motion":
            assert set(m) == motion_keys
    assert set(msgs[0]) == {"op", "id", "job", "queue_position"}
    assert set(msgs[-1]) == {"op", "id", "job", "samples", "frames", "seconds", "cached", "timings", "files"}
    # the motion bytes are the model's own result converted as v1 always did
    (expected,) = tiny_model.generate("a person walks", seconds=1.0, seed=0, steps=STEPS)
    want_root, want_rot = to_target(expected.root, expected.rotations, "unity")
    parts = [m for m in msgs if m["op"] == "motion"]
    assert b"".join(m["root"] for m in parts) == f32(want_root)
    assert b"".join(m["rotations"] for m in parts) == f32(want_rot)


def test_fetch_of_a_timeline_job_replays_its_segments(daemon, raw) -> None:
    async def scenario():
        client = await raw.ready(daemon.url)
        segments = [{"prompt": "walk forward", "seconds": 1.0}, {"prompt": "sit down", "seconds": 1.0}]
        _, _, done, accepted = await clip(client, "t", segments=segments)
        await client.send({"op": "fetch", "id": "f", "job": accepted["job"], "target": "unreal"})
        msgs = await client.until("f")
        assert msgs[-1]["op"] == "done" and msgs[-1]["segments"] == done["segments"]
        await client.close()

    run(scenario())


def test_decode_directions_converts_unity_fields_to_the_source_convention() -> None:
    from bridge.protocol import Generate, Limits, decode_directions

    rest = f32(REST)
    request = Generate.model_validate({
        "op": "generate", "id": "x", "prompt": "walk", "target": "unity",
        "keys": [{"time": 1.0, "effector": "RightHand", "position": [0.5, 1.0, 2.0]},
                 {"time": 1.0, "pose": {"rotations": rest, "root": [0.1, 0.9, 0.0]}, "joints": ["LeftUpperLeg"]}],
        "path": [{"time": 1.5, "position": [1.0, 0.0, 3.0], "facing": 0.5}],
    })
    directions = decode_directions(request, Limits())
    assert directions is not None and directions.start_job is None
    d = directions.constraints  # the engine's own constraint values: one form from the wire to the sampler
    assert d.keys[0].effector == "right_wrist"
    np.testing.assert_allclose(d.keys[0].position, [-0.5, 1.0, 2.0])  # unity is left-handed: x flips
    assert d.keys[1].joints == ("left_hip",)
    np.testing.assert_allclose(d.keys[1].pose.root, [-0.1, 0.9, 0.0])
    np.testing.assert_allclose(d.path[0].position, [-1.0, 0.0, 3.0])
    assert d.path[0].facing == pytest.approx(-0.5)
    assert decode_directions(Generate.model_validate({"op": "generate", "id": "y", "prompt": "walk"}), Limits()) is None
