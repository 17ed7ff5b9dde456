"""A worker on a real Mosquitto: replies, job events, retained status, last will, malformed input."""

from __future__ import annotations

import asyncio
import json

import msgpack
import numpy as np
import pytest
from mqtt_observer import STARTUP_S, Observer

from bridge.bench import ZeroCostModel
from bridge.mqtt.schema import JobRequest, NodeStatus, pack, unpack, unpack_reply
from bridge.mqtt.worker import Worker
from engine.model.generation import GenerationRequest

pytestmark = pytest.mark.mqtt


def _replies(seen, job):  # type: ignore[no-untyped-def]
    return [unpack_reply(s.payload) for s in seen if s.topic == f"mbtest/replies/gw1/{job}"]


def _events(seen, job):  # type: ignore[no-untyped-def]
    return [json.loads(s.payload) for s in seen if s.topic == f"mbtest/jobs/{job}/events"]


def test_worker_answers_a_job_with_accepted_progress_previews_and_result_and_publishes_its_events(broker) -> None:
    async def scenario() -> None:
        worker = Worker(broker.url(), ZeroCostModel(step_seconds=0.01, default_steps=6), node="w1", heartbeat_s=0.5)
        await worker.start()
        async with Observer(broker.url(), ["mbtest/replies/gw1/+", "mbtest/jobs/+/events"]) as obs:
            await worker.link.wait_connected(5)
            await asyncio.sleep(0.2)  # the worker's SUBSCRIBE is sent right after CONNACK
            request = JobRequest(
                job="j1",
                gateway="gw1",
                attempt=0,
                prompt="a person waves",
                seconds=2.0,
                seed=3,
                samples=2,
                preview_every=2,
            )
            await obs.publish("mbtest/requests", pack(request))
            seen = await obs.wait_for(lambda s: any(r.kind == "result" for r in _replies(s, "j1")), 10)
            await obs.wait_for(lambda s: any(e["event"] == "done" for e in _events(s, "j1")))
        await worker.stop()

        replies = _replies(seen, "j1")
        kinds = [r.kind for r in replies]
        assert kinds[0] == "accepted" and kinds[-1] == "result"
        assert [r.step for r in replies if r.kind == "progress"] == [1, 2, 3, 4, 5, 6]
        assert [r.step for r in replies if r.kind == "preview"] == [2, 4]
        assert all(r.worker == "w1" and r.attempt == 0 for r in replies)
        result = replies[-1]
        motions = [m.to_motion() for m in result.motions]
        assert [m.seed for m in motions] == [3, 4]
        assert motions[0].frames == 60 and motions[0].rotations.shape == (60, 22, 4)
        expected = ZeroCostModel().motion(GenerationRequest("a person waves", seconds=2.0, seed=3), 0)
        np.testing.assert_allclose(motions[0].rotations, expected.rotations, atol=1e-6)
        np.testing.assert_allclose(motions[0].root, expected.root, atol=1e-6)
        assert set(result.timings) == {"queue_ms", "text_ms", "sample_ms", "decode_ms", "total_ms"}
        assert result.timings["total_ms"] >= 50 and not result.cached

        events = _events(seen, "j1")
        assert [e["event"] for e in events] == ["accepted"] + ["progress"] * 6 + ["done"]
        assert events[0] == {**events[0], "v": 1, "job": "j1", "node": "w1", "queue_position": 0}
        assert events[-1]["samples"] == 2 and events[-1]["frames"] == 60 and events[-1]["seconds"] == 2.0
        assert events[3]["step"] == 3 and events[3]["steps"] == 6 and "eta_ms" in events[3]

    asyncio.run(scenario())


def test_retained_status_says_online_with_model_and_the_last_will_says_offline_after_kill_9(broker, spawn_worker):
    async def latest_status() -> NodeStatus:
        async with Observer(broker.url(), ["mbtest/nodes/+/status"]) as obs:
            seen = await obs.wait_for(lambda s: any(x.retain for x in s), 0.5)
            retained = [x for x in seen if x.retain and x.topic == "mbtest/nodes/wk/status"]
            return unpack(retained[-1].payload, NodeStatus, "json")

    async def wait_state(state: str) -> NodeStatus:
        for _ in range(int(STARTUP_S / 0.6)):
            try:
                status = await latest_status()
            except AssertionError:
                status = None
            if status is not None and status.state == state:
                return status
            await asyncio.sleep(0.1)
        raise AssertionError(f"status never became {state}")

    worker = spawn_worker(broker.url(), "wk")
    online = asyncio.run(wait_state("online"))
    assert online.role == "worker" and online.model == "zero-cost" and online.device == "cpu"
    assert online.queue == 0 and 0.0 <= online.load <= 1.0 and online.heartbeat_s == 0.5
    worker.kill()
    offline = asyncio.run(wait_state("offline"))
    assert offline.node == "wk" and offline.model is None


def test_malformed_payloads_on_the_request_topic_are_dropped_and_the_worker_keeps_serving(broker, spawn_worker):
    async def scenario() -> None:
        async with Observer(broker.url(), ["mbtest/replies/gw1/+", "mbtest/nodes/+/status"]) as obs:
            await obs.wait_for(lambda s: any(b'"online"' in x.payload for x in s), STARTUP_S)
            bad = [
                b"",
                b"\xc1\xff garbage",
                msgpack.packb([1, 2, 3]),
                msgpack.packb({"v": 1, "job": "x/y", "gateway": "gw1", "attempt": 0, "prompt": "p"}),
                msgpack.packb({"v": 2, "job": "j", "gateway": "gw1", "attempt": 0, "prompt": "p"}),
                msgpack.packb({"v": 1, "job": "j", "gateway": "gw1", "attempt": -1, "prompt": "p"}),
                msgpack.packb({"v": 1, "job": "j", "gateway": "gw1", "attempt": 0, "prompt": "p", "samples": "x"}),
                json.dumps({"v": 1, "job": "j", "gateway": "gw1"}).encode(),
            ]
            for payload in bad:
                await obs.publish("mbtest/requests", payload)
            good = JobRequest(job="ok1", gateway="gw1", attempt=0, prompt="walk", seconds=1.0)
            await obs.publish("mbtest/requests", pack(good))
            seen = await obs.wait_for(lambda s: any(r.kind == "result" for r in _replies(s, "ok1")), 10)
            assert not [s for s in seen if s.topic.startswith("mbtest/replies/gw1/") and not s.topic.endswith("ok1")]

    worker = spawn_worker(broker.url(), "wm", step_s=0.005)
    asyncio.run(scenario())
    assert worker.proc.poll() is None, "the worker died on malformed input"
    log = worker.log.read_text()
    assert log.count("dropped a malformed message") == 8, log


def test_a_worker_serving_the_real_tiny_dit_returns_finite_motions_of_the_requested_length(broker) -> None:
    from engine.model.testing import tiny_random_model

    async def scenario() -> list:
        worker = Worker(broker.url(), tiny_random_model(seed=0, device="cpu"), node="wdit", heartbeat_s=0.5)
        await worker.start()
        async with Observer(broker.url(), ["mbtest/replies/gw1/+"]) as obs:
            await worker.link.wait_connected(5)
            await asyncio.sleep(0.2)
            request = JobRequest(job="d1", gateway="gw1", attempt=0, prompt="a person jumps", seconds=2.0, steps=3)
            await obs.publish("mbtest/requests", pack(request))
            seen = await obs.wait_for(lambda s: any(r.kind in ("result", "error") for r in _replies(s, "d1")), 60)
        await worker.stop()
        return _replies(seen, "d1")

    replies = asyncio.run(scenario())
    assert [r.kind for r in replies] == ["accepted", "progress", "progress", "progress", "result"]
    (motion,) = [m.to_motion() for m in replies[-1].motions]
    assert motion.frames == 60 and np.isfinite(motion.rotations).all() and np.isfinite(motion.root).all()
    np.testing.assert_allclose(np.linalg.norm(motion.rotations, axis=-1), 1.0, atol=1e-3)
    assert (motion.model, motion.text, motion.seed) == ("tiny-random", "a person jumps", 0)
