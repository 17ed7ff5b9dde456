"""The live daemon over real WebSockets on loopback, with the real tiny random-weight DiT unless the model is
irrelevant to the behaviour under test."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import msgpack
import numpy as np
import pytest
from websockets.exceptions import InvalidStatus

from bridge.bench import ZeroCostModel
from bridge.codec import SUBPROTOCOL_JSON, decode_message
from bridge.protocol import Limits
from bridge.server import InsecureBind, MotionBridgeServer, ServerConfig
from bridge.store import decode_job
from engine.core.motion import Motion
from engine.core.skeleton import BODY_JOINTS, BODY_PARENTS, SMPLH_BODY
from engine.core.targets import to_target


def run(coro):
    return asyncio.run(coro)


def http_get(url: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


# ------------------------------------------------------------------------------------------ handshake


def test_hello_describes_model_skeleton_and_limits_then_ready(daemon, raw) -> None:
    async def scenario():
        client = await raw.ready(daemon.url)
        hello = client.hello
        assert hello["protocol"] == 1 and hello["auth"] == "none"
        assert hello["server"].startswith("motionbridge/")
        assert hello["model"]["fps"] == 30 and hello["model"]["name"] == "tiny-random"
        assert hello["skeleton"]["name"] == "smplh22"
        assert hello["skeleton"]["joints"] == list(BODY_JOINTS)
        assert hello["skeleton"]["parents"] == list(BODY_PARENTS)
        np.testing.assert_allclose(hello["skeleton"]["rest"], SMPLH_BODY.offsets, atol=1e-6)
        assert set(hello["limits"]) >= {"max_prompt_chars", "max_seconds", "max_samples", "max_steps", "max_inflight"}
        assert isinstance(hello["session"], str) and hello["session"]
        await client.close()

    run(scenario())


def test_request_before_identify_closes_4003(daemon, raw) -> None:
    async def scenario():
        client = await raw.open(daemon.url)
        await client.recv()
        await client.send({"op": "generate", "id": "x", "prompt": "walk"})
        assert await client.close_code() == 4003

    run(scenario())


def test_no_identify_in_time_closes_4003(daemon_factory, tiny_model, raw) -> None:
    daemon = daemon_factory(tiny_model, identify_timeout=0.3)

    async def scenario():
        client = await raw.open(daemon.url)
        assert (await client.recv())["op"] == "hello"
        return await client.close_code()

    assert run(scenario()) == 4003


def test_unsupported_protocol_closes_4006(daemon, raw) -> None:
    async def scenario():
        client = await raw.open(daemon.url)
        await client.recv()
        await client.send({"op": "identify", "protocol": 2, "client": "future"})
        assert await client.close_code() == 4006

    run(scenario())


def test_missing_subprotocol_closes_4002(daemon, raw) -> None:
    async def scenario():
        client = await raw.open(daemon.url, subprotocols=[])
        assert await client.close_code() == 4002
        client = await raw.open(daemon.url, subprotocols=["chat"])
        assert await client.close_code() == 4002

    run(scenario())


@pytest.mark.parametrize(
    ("encoding", "wrong_frame"), [("msgpack", '{"op":"status","id":"s"}'), ("json", b'{"op":"status","id":"s"}')]
)
def test_wrong_frame_kind_closes_4002(daemon, raw, encoding, wrong_frame) -> None:
    async def scenario():
        client = await raw.ready(daemon.url, encoding)
        await client.send_raw(wrong_frame)
        assert await client.close_code() == 4002

    run(scenario())


def test_token_required_closes_4001_for_missing_or_wrong_token(daemon_factory, tiny_model, raw) -> None:
    daemon = daemon_factory(tiny_model, token="s3cret")

    async def scenario():
        for token in (None, "guess"):
            client = await raw.open(daemon.url)
            hello = await client.recv()
            assert hello["auth"] == "token"
            identify = {"op": "identify", "protocol": 1, **({"token": token} if token else {})}
            await client.send(identify)
            assert await client.close_code() == 4001
        client = await raw.ready(daemon.url, token="s3cret")
        await client.send({"op": "status", "id": "s"})
        assert (await client.recv())["op"] == "status"
        await client.close()

    run(scenario())


def test_oversized_frame_closes_4008(daemon_factory, tiny_model, raw) -> None:
    daemon = daemon_factory(tiny_model, limits=Limits(max_message_bytes=64 * 1024))

    async def scenario():
        client = await raw.ready(daemon.url)
        assert client.hello["limits"]["max_message_bytes"] == 64 * 1024
        await client.send({"op": "generate", "id": "big", "prompt": "x" * (65 * 1024)})
        assert await client.close_code() == 4008

    run(scenario())


def test_non_loopback_bind_needs_a_token(tiny_model) -> None:
    with pytest.raises(InsecureBind, match="--token"):
        MotionBridgeServer(tiny_model, ServerConfig(host="0.0.0.0", port=0))
    MotionBridgeServer(tiny_model, ServerConfig(host="0.0.0.0", port=0, token="t", output_dir=None))


def test_browser_origins_are_checked_but_plain_clients_allowed(daemon_factory, tiny_model, raw) -> None:
    daemon = daemon_factory(tiny_model, allow_origins=("https://tools.studio.example",))

    async def scenario():
        with pytest.raises(InvalidStatus) as info:
            await raw.open(daemon.url, origin="http://evil.example")
        assert info.value.response.status_code == 403
        for origin in (
            f"http://127.0.0.1:{daemon.server.port}",
            f"http://localhost:{daemon.server.port}",
            "https://tools.studio.example",
            None,
        ):
            client = await raw.open(daemon.url, origin=origin)
            assert (await client.recv())["op"] == "hello"
            await client.close()

    run(scenario())


# ------------------------------------------------------------------------------------------ generate


def test_generate_streams_progress_previews_chunks_and_done(daemon, raw, arrays) -> None:
    async def scenario():
        client = await raw.ready(daemon.url)
        await client.send(
            {
                "op": "generate",
                "id": "g1",
                "prompt": "a person walks forward",
                "seconds": 2.0,
                "seed": 7,
                "samples": 2,
                "steps": 12,
                "preview_every": 4,
                "chunk_frames": 25,
            }
        )
        messages = await client.until("g1")
        await client.close()
        return messages

    messages = run(scenario())
    ops = [m["op"] for m in messages]
    assert ops[0] == "accepted" and ops[-1] == "done"
    progress = [m for m in messages if m["op"] == "progress"]
    assert [p["step"] for p in progress] == list(range(1, 13))
    assert all(p["steps"] == 12 for p in progress)
    previews = [m for m in messages if m["op"] == "motion" and m["preview"]]
    assert sorted({(p["step"], p["sample"]) for p in previews}) == [(4, 0), (4, 1), (8, 0), (8, 1)]
    assert all(p["count"] == 60 and not p["final"] for p in previews)
    for sample in (0, 1):
        chunks = [m for m in messages if m["op"] == "motion" and not m["preview"] and m["sample"] == sample]
        assert [c["count"] for c in chunks] == [25, 25, 10]
        assert sum(c["count"] for c in chunks) == 60
        assert [c["final"] for c in chunks] == [False, False, True]
        assert chunks[0]["seed"] == 7 + sample
        for c in chunks:
            assert len(c["root"]) == c["count"] * 3 * 4
            assert len(c["rotations"]) == c["count"] * 22 * 4 * 4
            _, rot = arrays(c)
            np.testing.assert_allclose(np.linalg.norm(rot, axis=-1), 1.0, atol=1e-4)
    done = messages[-1]
    assert (done["samples"], done["frames"], done["seconds"], done["cached"]) == (2, 60, 2.0, False)
    assert set(done["timings"]) == {"queue_ms", "text_ms", "sample_ms", "decode_ms", "total_ms"}
    assert done["timings"]["total_ms"] >= done["timings"]["sample_ms"] > 0
    assert done["files"]["npz"] == [f"/v1/jobs/{done['job']}/0.npz", f"/v1/jobs/{done['job']}/1.npz"]


def test_json_subprotocol_carries_the_same_motion_in_base64(daemon, raw, arrays) -> None:
    async def scenario():
        binary = await raw.ready(daemon.url, "msgpack")
        text = await raw.ready(daemon.url, "json")
        request = {"op": "generate", "id": "j", "prompt": "a person waves", "seconds": 1.0, "seed": 3, "steps": 5}
        await binary.send(request)
        from_binary = await binary.until("j")
        await text.send({**request, "target": "unity"})
        frames = []
        while not frames or json.loads(frames[-1]).get("op") not in ("done", "error"):
            frames.append(await asyncio.wait_for(text.ws.recv(), 10.0))
        await binary.close()
        await text.close()
        return from_binary, frames

    from_binary, frames = run(scenario())
    # On the wire: text frames only, and the motion's byte fields as base64 strings.
    assert frames and all(isinstance(frame, str) for frame in frames)
    (wire_motion,) = [m for m in map(json.loads, frames) if m["op"] == "motion"]
    assert isinstance(wire_motion["root"], str) and isinstance(wire_motion["rotations"], str)
    from_text = [decode_message(frame, SUBPROTOCOL_JSON) for frame in frames]
    (b_motion,) = [m for m in from_binary if m["op"] == "motion"]
    (t_motion,) = [m for m in from_text if m["op"] == "motion"]
    assert t_motion["target"] == "unity" and t_motion["joints"][0] == "Hips"
    root, rot = arrays(b_motion)
    want_root, want_rot = to_target(root, rot, "unity")
    got_root, got_rot = arrays(t_motion)
    np.testing.assert_allclose(got_root, want_root, atol=1e-6)
    np.testing.assert_allclose(got_rot, want_rot, atol=1e-6)


def test_cancel_mid_sampling_stops_the_model_and_keeps_the_connection(daemon_factory, recording_model, raw) -> None:
    daemon = daemon_factory(recording_model)

    async def scenario():
        client = await raw.ready(daemon.url)
        await client.send(
            {"op": "generate", "id": "long", "prompt": "a long dance", "seconds": 5.0, "steps": 200, "seed": 11}
        )
        seen = []
        while True:
            msg = await client.recv()
            seen.append(msg)
            if msg["op"] == "progress" and msg["step"] >= 2:
                break
        await client.send({"op": "cancel", "id": "long"})
        rest = await client.until("long")
        await client.send({"op": "cancel", "id": "long"})
        not_found = await client.until("long")
        await client.send({"op": "status", "id": "st"})
        status = (await client.until("st", ("status",)))[-1]
        await client.close()
        return seen + rest, not_found, status

    messages, not_found, status = run(scenario())
    assert messages[-1] == {"op": "error", "id": "long", "code": "cancelled", "message": messages[-1]["message"]}
    assert not any(m["op"] == "done" for m in messages)
    # The cancel arrived around step 2; the sampler must stop at one of the next steps, not run all 200.
    assert recording_model.total_steps["a long dance"] == 200
    assert recording_model.last_step["a long dance"] < 100, "the sampler kept running after cancel"
    assert not_found[-1]["code"] == "not_found"
    assert status["running"] == 0 and status["queue"] == 0


def test_disconnect_mid_job_frees_the_slot_for_others(daemon_factory, recording_model, raw) -> None:
    daemon = daemon_factory(recording_model, max_batch=1)

    async def scenario():
        leaver = await raw.ready(daemon.url)
        await leaver.send({"op": "generate", "id": "x", "prompt": "a long walk", "seconds": 5.0, "steps": 200})
        while (await leaver.recv())["op"] != "progress":
            pass
        stayer = await raw.ready(daemon.url)
        await stayer.send({"op": "generate", "id": "y", "prompt": "a jump", "seconds": 1.0, "steps": 4})
        await leaver.close()
        messages = await stayer.until("y", timeout=60)
        await stayer.close()
        return messages

    messages = run(scenario())
    assert messages[-1]["op"] == "done"
    assert recording_model.last_step["a long walk"] < 50, "the abandoned 200-step job kept the model busy"
    assert daemon.call(lambda: (daemon.server.scheduler.running, daemon.server.scheduler.queued)) == (0, 0)


def test_full_queue_answers_busy_and_the_connection_stays_usable(daemon_factory, tiny_model, raw) -> None:
    daemon = daemon_factory(tiny_model, max_batch=1, limits=Limits(max_queue=2))

    async def scenario():
        client = await raw.ready(daemon.url)
        await client.send({"op": "generate", "id": "run", "prompt": "p", "seconds": 5.0, "steps": 200})
        while (await client.recv())["op"] != "progress":
            pass
        for rid in ("q1", "q2"):
            await client.send({"op": "generate", "id": rid, "prompt": "p", "seconds": 1.0, "steps": 3, "seed": 9})
            assert (await client.until(rid, ("accepted",)))[-1]["queue_position"] in (0, 1)
        await client.send({"op": "generate", "id": "q3", "prompt": "p", "seconds": 1.0, "steps": 3})
        busy = (await client.until("q3"))[-1]
        for rid in ("run", "q1", "q2"):
            await client.send({"op": "cancel", "id": rid})
        replies = await client.until_all(["run", "q1", "q2"])
        outcomes = {rid: messages[-1]["code"] for rid, messages in replies.items()}
        await client.close()
        return busy, outcomes

    busy, outcomes = run(scenario())
    assert busy["op"] == "error" and busy["code"] == "busy" and "retry" in busy["message"]
    assert outcomes == {"run": "cancelled", "q1": "cancelled", "q2": "cancelled"}


def test_per_connection_inflight_limit_answers_busy(daemon_factory, raw) -> None:
    daemon = daemon_factory(ZeroCostModel(step_seconds=0.2), limits=Limits(max_inflight=2))

    async def scenario():
        client = await raw.ready(daemon.url)
        for rid in ("a", "b", "c"):
            await client.send({"op": "generate", "id": rid, "prompt": "p", "seconds": 1.0, "seed": ord(rid)})
        replies = {rid: (await client.until(rid, ("accepted", "error")))[-1] for rid in ("a", "b", "c")}
        await client.close()
        return replies

    replies = run(scenario())
    assert replies["a"]["op"] == replies["b"]["op"] == "accepted"
    assert replies["c"]["code"] == "busy"


def test_32_clients_times_4_requests_each_get_exactly_one_outcome(daemon_factory, raw) -> None:
    daemon = daemon_factory(ZeroCostModel(), max_batch=8, limits=Limits(max_queue=64))

    async def one_client(c: int):
        client = await raw.ready(daemon.url)
        ids = [f"c{c}r{r}" for r in range(4)]
        for r, rid in enumerate(ids):
            await client.send(
                {"op": "generate", "id": rid, "prompt": f"p{c}", "seconds": 1.0, "seed": c * 10 + r, "steps": 3}
            )
        terminal: dict[str, list[str]] = {rid: [] for rid in ids}
        after_terminal = 0
        while any(not v for v in terminal.values()):
            msg = await client.recv(timeout=30)
            rid = msg.get("id")
            if terminal[rid]:
                after_terminal += 1
            if msg["op"] in ("done", "error"):
                terminal[rid].append(msg["op"] if msg["op"] == "done" else msg["code"])
        await client.send({"op": "status", "id": "st"})
        extra = await client.until("st", ("status",))
        after_terminal += len(extra) - 1
        await client.close()
        return terminal, after_terminal

    async def scenario():
        return await asyncio.gather(*(one_client(c) for c in range(32)))

    results = run(scenario())
    outcomes = [o for terminal, _ in results for o in terminal.values()]
    assert len(outcomes) == 128
    assert all(len(o) == 1 for o in outcomes), "a request got more than one done/error"
    assert all(o[0] in ("done", "busy") for o in outcomes)
    assert sum(after for _, after in results) == 0
    assert sum(o == ["done"] for o in outcomes) >= 64


def test_bad_input_gets_typed_errors_and_the_connection_stays_usable(daemon, raw) -> None:
    async def scenario():
        client = await raw.ready(daemon.url)
        errors = []
        await client.send_raw(b"\xc1\xff\x00")
        errors.append(await client.recv())
        await client.send_raw(msgpack.packb([1, 2]))
        errors.append(await client.recv())
        await client.send({"op": "generate", "id": "t", "prompt": "walk", "seconds": "five"})
        errors.append(await client.recv())
        await client.send({"op": "teleport", "id": "u"})
        errors.append(await client.recv())
        await client.send({"op": "generate", "id": "big", "prompt": "a" * 1_000_000})
        errors.append(await client.recv())
        await client.send({"op": "generate", "id": "forever", "prompt": "walk", "seconds": 1e9})
        errors.append(await client.recv())
        await client.send({"op": "fetch", "id": "f", "job": "jnothere"})
        errors.append(await client.recv())
        await client.send({"op": "generate", "id": "ok", "prompt": "walk", "seconds": 1.0, "steps": 3})
        final = (await client.until("ok"))[-1]
        json_client = await raw.ready(daemon.url, "json")
        await json_client.send_raw("{oops")
        errors.append(await json_client.recv())
        await json_client.send({"op": "status", "id": "s"})
        json_status = await json_client.recv()
        await client.close()
        await json_client.close()
        return errors, final, json_status

    errors, final, json_status = run(scenario())
    codes = [(e["op"], e.get("id"), e["code"]) for e in errors]
    assert codes == [
        ("error", None, "bad_request"),
        ("error", None, "bad_request"),
        ("error", "t", "bad_request"),
        ("error", "u", "bad_request"),
        ("error", "big", "too_long"),
        ("error", "forever", "too_long"),
        ("error", "f", "not_found"),
        ("error", None, "bad_request"),
    ]
    assert all(e["message"] for e in errors)
    assert final["op"] == "done"
    assert json_status["op"] == "status"


def test_model_error_fails_the_job_and_the_daemon_keeps_serving(daemon_factory, exploding_model, raw) -> None:
    daemon = daemon_factory(exploding_model)

    async def scenario():
        client = await raw.ready(daemon.url)
        await client.send({"op": "generate", "id": "boom", "prompt": "explode", "seconds": 1.0, "steps": 3})
        failed = (await client.until("boom"))[-1]
        await client.send({"op": "generate", "id": "fine", "prompt": "walk", "seconds": 1.0, "steps": 3})
        ok = (await client.until("fine"))[-1]
        await client.close()
        return failed, ok

    failed, ok = run(scenario())
    assert failed["code"] == "model_error" and "out of memory" in failed["message"]
    assert ok["op"] == "done"


def test_identical_request_is_answered_from_the_cache(daemon, raw, arrays) -> None:
    async def scenario():
        client = await raw.ready(daemon.url)
        request = {"op": "generate", "prompt": "a person bows", "seconds": 2.0, "seed": 21, "steps": 20}
        await client.send({**request, "id": "first"})
        first = await client.until("first")
        await client.send({**request, "id": "second"})
        second = await client.until("second")
        await client.send({**request, "id": "other-seed", "seed": 22})
        third = await client.until("other-seed")
        await client.close()
        return first, second, third

    first, second, third = run(scenario())
    assert first[-1]["cached"] is False and second[-1]["cached"] is True and third[-1]["cached"] is False
    assert not any(m["op"] == "progress" for m in second)
    assert second[-1]["job"] != first[-1]["job"]
    m1 = next(m for m in first if m["op"] == "motion")
    m2 = next(m for m in second if m["op"] == "motion")
    assert m1["rotations"] == m2["rotations"] and m1["root"] == m2["root"]
    assert second[-1]["timings"]["sample_ms"] == 0.0


def test_batching_packs_compatible_requests_from_several_clients(daemon_factory, tiny_model, raw, arrays) -> None:
    daemon = daemon_factory(tiny_model, max_batch=4, cache_size=0)

    async def scenario():
        blocker = await raw.ready(daemon.url)
        await blocker.send({"op": "generate", "id": "b", "prompt": "p", "seconds": 1.0, "steps": 200})
        while (await blocker.recv())["op"] != "progress":
            pass
        clients = [await raw.ready(daemon.url) for _ in range(3)]
        for i, c in enumerate(clients):
            await c.send(
                {
                    "op": "generate",
                    "id": f"x{i}",
                    "prompt": f"prompt {i}",
                    "seconds": 2.0 + 0.1 * i,
                    "steps": 5,
                    "seed": i,
                }
            )
            await c.until(f"x{i}", ("accepted",))
        await blocker.send({"op": "cancel", "id": "b"})
        await blocker.until("b")
        replies = [await c.until(f"x{i}", timeout=60) for i, c in enumerate(clients)]
        batches = daemon.call(lambda: daemon.server.scheduler.batches_run)
        # The same request alone in its batch gives the same motion (the cache is off).
        await clients[2].send(
            {"op": "generate", "id": "alone", "prompt": "prompt 2", "seconds": 2.2, "steps": 5, "seed": 2}
        )
        alone = await clients[2].until("alone", timeout=60)
        for c in [blocker, *clients]:
            await c.close()
        return replies, batches, alone

    batches_before = daemon.call(lambda: daemon.server.scheduler.batches_run)
    replies, batches, alone = run(scenario())
    assert all(r[-1]["op"] == "done" for r in replies)
    assert daemon.call(lambda: daemon.server.scheduler.largest_batch) == 3
    assert batches - batches_before == 2
    batched_root, batched_rot = arrays(next(m for m in replies[2] if m["op"] == "motion" and m["final"]))
    alone_root, alone_rot = arrays(next(m for m in alone if m["op"] == "motion" and m["final"]))
    np.testing.assert_allclose(batched_rot, alone_rot, atol=1e-5)
    np.testing.assert_allclose(batched_root, alone_root, atol=1e-5)


class GatedModel(ZeroCostModel):
    """The zero-cost model, holding its first batch until the test opens the gate, and recording the order
    in which prompts reach the model."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.order: list[str] = []

    def generate_batch(self, requests, on_step=None, cancelled=None):
        self.order += [r.prompt for r in requests]
        if len(self.order) == 1:
            self.gate.wait(timeout=30)
        return super().generate_batch(requests, on_step, cancelled)


def test_round_robin_keeps_a_second_client_from_waiting_behind_a_long_queue(daemon_factory, raw) -> None:
    model = GatedModel()
    daemon = daemon_factory(model, max_batch=1, cache_size=0)

    async def scenario():
        greedy = await raw.ready(daemon.url)
        for r in range(6):
            await greedy.send({"op": "generate", "id": f"g{r}", "prompt": f"greedy {r}", "seconds": 1.0, "seed": r})
        await greedy.until("g5", ("accepted",))
        polite = await raw.ready(daemon.url)
        await polite.send({"op": "generate", "id": "p0", "prompt": "polite", "seconds": 1.0})
        accepted = (await polite.until("p0", ("accepted",)))[-1]
        model.gate.set()
        await polite.until("p0")
        await greedy.until_all([f"g{r}" for r in range(6)])
        await greedy.close()
        await polite.close()
        return accepted

    accepted = run(scenario())
    # greedy 0 was running when the polite client arrived; greedy 1 had its turn in the rotation already.
    assert model.order[:4] == ["greedy 0", "greedy 1", "polite", "greedy 2"]
    assert accepted["queue_position"] == 1


# ------------------------------------------------------------------------------------------ fetch, store, HTTP


def test_fetch_after_reconnect_returns_the_finished_job(daemon, raw, arrays) -> None:
    async def scenario():
        client = await raw.ready(daemon.url)
        await client.send(
            {
                "op": "generate",
                "id": "g",
                "prompt": "a person sits",
                "seconds": 1.5,
                "steps": 6,
                "target": "unreal",
                "chunk_frames": 20,
            }
        )
        original = await client.until("g")
        await client.close()
        again = await raw.ready(daemon.url)
        job = original[-1]["job"]
        await again.send({"op": "fetch", "id": "f", "job": job})
        fetched = await again.until("f")
        await again.send({"op": "fetch", "id": "f2", "job": job, "target": "smplh", "chunk_frames": 0})
        as_smplh = await again.until("f2")
        await again.close()
        return original, fetched, as_smplh

    original, fetched, as_smplh = run(scenario())
    orig_motion = [m for m in original if m["op"] == "motion"]
    got_motion = [m for m in fetched if m["op"] == "motion"]
    assert [(m["start"], m["count"], m["target"]) for m in got_motion] == [
        (m["start"], m["count"], m["target"]) for m in orig_motion
    ]
    assert all(m["id"] == "f" and m["job"] == original[-1]["job"] for m in got_motion)
    for a, b in zip(orig_motion, got_motion, strict=True):
        np.testing.assert_array_equal(arrays(a)[1], arrays(b)[1])
    assert fetched[-1]["op"] == "done" and fetched[-1]["cached"] is True and fetched[-1]["frames"] == 45
    (smplh,) = [m for m in as_smplh if m["op"] == "motion"]
    assert smplh["joints"][0] == "pelvis" and smplh["count"] == 45


def test_store_survives_a_restart_and_serves_downloads(daemon_factory, tiny_model, raw, tmp_path) -> None:
    out = tmp_path / "persist"
    first = daemon_factory(tiny_model, output_dir=out, token="tok")

    async def generate():
        client = await raw.ready(first.url, token="tok")
        await client.send({"op": "generate", "id": "g", "prompt": "a person kicks", "seconds": 1.0, "steps": 4})
        messages = await client.until("g")
        await client.close()
        return messages

    messages = run(generate())
    done = messages[-1]
    job = done["job"]
    first.stop()
    assert not list(out.glob(".tmp-*"))
    meta, _ = decode_job((out / f"{job}.mbjob").read_bytes())
    assert (meta["prompt"], meta["frames"], meta["samples"]) == ("a person kicks", 30, 1)

    second = daemon_factory(tiny_model, output_dir=out, token="tok")

    async def fetch():
        client = await raw.ready(second.url, token="tok")
        await client.send({"op": "fetch", "id": "f", "job": job})
        fetched = await client.until("f")
        await client.close()
        return fetched

    fetched = run(fetch())
    root0, rot0 = (
        np.frombuffer(next(m for m in messages if m["op"] == "motion")[k], "<f4") for k in ("root", "rotations")
    )
    motion = next(m for m in fetched if m["op"] == "motion")
    np.testing.assert_allclose(np.frombuffer(motion["root"], "<f4"), root0, atol=1e-6)
    assert np.frombuffer(motion["rotations"], "<f4").tobytes() == rot0.tobytes()  # stored exactly

    url = f"{second.http_url}{done['files']['npz'][0]}"
    status, _, _ = http_get(url)
    assert status == 401
    status, body, headers = http_get(url, {"Authorization": "Bearer tok"})
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    downloaded = tmp_path / "dl.npz"
    downloaded.write_bytes(body)
    assert Motion.load_npz(downloaded).frames == 30
    assert http_get(f"{second.http_url}/v1/jobs/{job}/3.npz?token=tok")[0] == 404
    assert http_get(f"{second.http_url}/v1/jobs/{job}/0.npz?token=tok&target=blender")[0] == 400
    # This build ships the exporters: BVH and glTF downloads must work, not fall back to "not implemented".
    assert {"npz", "bvh", "glb"} <= set(second.server.formats)
    bvh_status, bvh_body, _ = http_get(f"{second.http_url}/v1/jobs/{job}/0.bvh?token=tok&target=unity")
    assert bvh_status == 200 and bvh_body.startswith(b"HIERARCHY")
    glb_status, glb_body, _ = http_get(f"{second.http_url}/v1/jobs/{job}/0.glb?token=tok&target=unity")
    assert glb_status == 200 and glb_body[:4] == b"glTF"


def test_health_and_static_routes(daemon) -> None:
    status, body, headers = http_get(f"{daemon.http_url}/health")
    health = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert health["status"] == "ok" and health["protocol"] == 1 and health["model"] == "tiny-random"
    assert {"queue", "uptime", "running", "connections"} <= set(health)
    assert http_get(f"{daemon.http_url}/nope")[0] == 404
    assert http_get(f"{daemon.http_url}/static/../server.py")[0] == 404
    assert http_get(f"{daemon.http_url}/v1")[0] == 426
    # The preview page ships with the daemon: `/` must serve it.
    index = Path(daemon.server.config.static_dir) / "index.html"
    assert index.is_file()
    page_status, page, page_headers = http_get(f"{daemon.http_url}/")
    assert page_status == 200 and page == index.read_bytes() and page_headers["Content-Type"].startswith("text/html")


# ------------------------------------------------------------------------------------------ shutdown


def test_graceful_shutdown_finishes_the_running_job_then_closes_1001(daemon_factory, tiny_model, raw, tmp_path) -> None:
    out = tmp_path / "shutdown"
    daemon = daemon_factory(tiny_model, output_dir=out, shutdown_timeout=60.0)

    async def scenario():
        client = await raw.ready(daemon.url)
        await client.send({"op": "generate", "id": "g", "prompt": "p", "seconds": 2.0, "steps": 30})
        while (await client.recv())["op"] != "progress":
            pass
        shutdown = daemon.shutdown_async()
        messages = await client.until("g", timeout=60)
        code = await client.close_code(timeout=60)
        await asyncio.wrap_future(shutdown)
        return messages, code

    messages, code = run(scenario())
    assert messages[-1]["op"] == "done"
    assert code == 1001
    assert (out / f"{messages[-1]['job']}.mbjob").is_file()
    with pytest.raises(OSError):
        run(asyncio.open_connection("127.0.0.1", daemon.server.port))


def test_shutdown_deadline_cancels_jobs_that_run_too_long(daemon_factory, recording_model, raw) -> None:
    daemon = daemon_factory(recording_model, shutdown_timeout=0.2)

    async def scenario():
        client = await raw.ready(daemon.url)
        await client.send({"op": "generate", "id": "g", "prompt": "running", "seconds": 5.0, "steps": 200})
        await client.send({"op": "generate", "id": "h", "prompt": "queued", "seconds": 5.0, "steps": 150})
        while (await client.recv())["op"] != "progress":
            pass
        shutdown = daemon.shutdown_async()
        replies = await client.until_all(["g", "h"], timeout=60)
        code = await client.close_code(timeout=60)
        await asyncio.wrap_future(shutdown)
        return replies["g"][-1], replies["h"][-1], code

    g, h, code = run(scenario())
    assert (g["code"], h["code"], code) == ("cancelled", "cancelled", 1001)
    assert recording_model.last_step["running"] < 100
    assert "queued" not in recording_model.last_step


def test_origin_rules_trust_the_host_header_only_with_a_token(tiny_model) -> None:
    open_daemon = MotionBridgeServer(tiny_model, ServerConfig(port=8747, output_dir=None))
    assert open_daemon.origin_allowed("http://127.0.0.1:8747") and open_daemon.origin_allowed("http://localhost:8747/")
    assert not open_daemon.origin_allowed("http://127.0.0.1:9999")
    assert not open_daemon.origin_allowed("http://rebound.example:8747", "rebound.example:8747")
    lan = MotionBridgeServer(tiny_model, ServerConfig(host="0.0.0.0", port=8747, token="t", output_dir=None))
    assert lan.origin_allowed("http://studio-pc.lan:8747", "studio-pc.lan:8747")
    assert not lan.origin_allowed("http://evil.example", "studio-pc.lan:8747")


def test_a_slow_reader_loses_only_previews_never_progress_or_the_final_motion(daemon_factory, raw) -> None:
    daemon = daemon_factory(ZeroCostModel(), cache_size=0)

    async def scenario():
        client = await raw.ready(daemon.url)
        await client.send({"op": "generate", "id": "big", "prompt": "a long clip", "seconds": 12.0, "samples": 4,
                           "steps": 100, "preview_every": 1})
        # Do not read until the daemon has finished the job: ~50 MB of previews would be due by then.
        for _ in range(600):
            if daemon.call(lambda: daemon.server.scheduler.jobs_done) == 1:
                break
            await asyncio.sleep(0.05)
        messages = await client.until("big", timeout=60)
        await client.close()
        return messages

    messages = run(scenario())
    assert [m["step"] for m in messages if m["op"] == "progress"] == list(range(1, 101))
    previews = [m for m in messages if m["op"] == "motion" and m["preview"]]
    finals = [m for m in messages if m["op"] == "motion" and not m["preview"]]
    assert 0 < len(previews) < 99 * 4
    assert [(m["sample"], m["count"], m["final"]) for m in finals] == [(s, 360, True) for s in range(4)]
    assert messages[-1]["op"] == "done"
