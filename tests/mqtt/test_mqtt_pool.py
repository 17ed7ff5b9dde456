"""Gateway + worker processes behind a real Mosquitto: spreading, worker loss, broker restart, auth."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import numpy as np
import pytest
from observer import Observer
from pool import Recorder, spec

from bridge.mqtt_gateway import MqttGateway
from bridge.scheduler import Finished, Progress

pytestmark = pytest.mark.mqtt


def _done_nodes(seen) -> dict[str, str]:  # type: ignore[no-untyped-def]
    out = {}
    for s in seen:
        if s.topic.endswith("/events"):
            e = json.loads(s.payload)
            if e["event"] == "done":
                out[e["job"]] = e["node"]
    return out


async def _pool_ready(gateway: MqttGateway, n: int, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if len(gateway.workers) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {sorted(gateway.workers)} of {n} workers came online")


def test_one_gateway_and_two_workers_serve_20_concurrent_requests_spread_over_both(broker, spawn_worker) -> None:
    spawn_worker(broker.url(), "wa", step_s=0.01)
    spawn_worker(broker.url(), "wb", step_s=0.01)

    async def scenario() -> None:
        gateway = MqttGateway(broker.url(), gateway="gw", heartbeat_s=0.5)
        rec = Recorder()
        async with Observer(broker.url(), ["mbtest/jobs/+/events"]) as obs:
            await gateway.start()
            await _pool_ready(gateway, 2)
            assert gateway.model.name == "paced-test" and gateway.model.default_steps == 8
            ids = [f"job{i}" for i in range(20)]
            for i, job_id in enumerate(ids):
                rec.submit(gateway, job_id, spec(i, samples=1 + i % 2))
            await rec.wait_terminal(ids, 30)
            seen = await obs.wait_for(lambda s: len(_done_nodes(s)) == 20, 5)
        await gateway.shutdown(1.0)

        for i, job_id in enumerate(ids):
            (final,) = rec.terminal(job_id)
            assert isinstance(final, Finished), final
            assert [m.seed for m in final.motions] == [i + k for k in range(1 + i % 2)]
            np.testing.assert_allclose(final.motions[0].root[-1, 2], 29 * 0.01 * i, rtol=1e-5)
            assert [e.step for e in rec.events[job_id] if isinstance(e, Progress)] == list(range(1, 7))
        per_node = Counter(_done_nodes(seen).values())
        assert set(per_node) == {"wa", "wb"} and min(per_node.values()) >= 5, per_node
        assert gateway.redispatches == 0

    asyncio.run(scenario())


def test_kill_9_of_a_worker_mid_job_still_ends_every_request_with_exactly_one_done(broker, spawn_worker) -> None:
    victim = spawn_worker(broker.url(), "wv", step_s=0.05, steps=10)
    spawn_worker(broker.url(), "ws", step_s=0.05, steps=10)

    async def scenario() -> None:
        gateway = MqttGateway(broker.url(), gateway="gw", heartbeat_s=0.5, silence_timeout_s=3.0)
        rec = Recorder()
        async with Observer(broker.url(), ["mbtest/jobs/+/events"]) as obs:
            await gateway.start()
            await _pool_ready(gateway, 2)
            ids = [f"k{i}" for i in range(8)]
            for i, job_id in enumerate(ids):
                rec.submit(gateway, job_id, spec(i, steps=10))

            def victim_mid_job(seen) -> bool:  # type: ignore[no-untyped-def]
                return any(b'"progress"' in s.payload and b'"wv"' in s.payload for s in seen)

            await obs.wait_for(victim_mid_job, 15)
            victim.kill()
            await rec.wait_terminal(ids, 30)
            await asyncio.sleep(0.5)  # anything late (a duplicate result) would arrive now
            seen = obs.seen
        await gateway.shutdown(1.0)

        for job_id in ids:
            terminal = rec.terminal(job_id)
            assert len(terminal) == 1 and isinstance(terminal[0], Finished), terminal
        assert gateway.redispatches >= 1
        done_on = _done_nodes(seen)
        assert set(done_on.values()) <= {"wv", "ws"} and "ws" in done_on.values()

    asyncio.run(scenario())


def test_gateway_and_workers_reconnect_after_a_broker_restart_and_later_requests_succeed(broker, spawn_worker):
    spawn_worker(broker.url(), "wr", step_s=0.01)

    async def scenario() -> None:
        gateway = MqttGateway(broker.url(), gateway="gw", heartbeat_s=0.5, accept_timeout_s=1.0)
        rec = Recorder()
        await gateway.start()
        await _pool_ready(gateway, 1)
        rec.submit(gateway, "before", spec(1))
        await rec.wait_terminal(["before"], 10)
        connects = gateway.link.connects

        await asyncio.get_running_loop().run_in_executor(None, broker.restart)
        for _ in range(200):
            if gateway.link.connects > connects:
                break
            await asyncio.sleep(0.05)
        assert gateway.link.connects == connects + 1
        ids = [f"after{i}" for i in range(4)]
        for i, job_id in enumerate(ids):
            rec.submit(gateway, job_id, spec(10 + i))
        await rec.wait_terminal(ids, 20)
        await gateway.shutdown(1.0)
        for job_id in ["before", *ids]:
            (final,) = rec.terminal(job_id)
            assert isinstance(final, Finished), final

    asyncio.run(scenario())


def test_username_and_password_auth_serves_jobs_and_a_wrong_password_never_connects(
    auth_broker, spawn_worker, caplog
) -> None:
    good = auth_broker.url(auth="studio:s3cret%3Apw@")
    worker = spawn_worker(good, "wauth", step_s=0.01)

    async def scenario() -> None:
        intruder = MqttGateway(auth_broker.url(auth="studio:wrong@"), gateway="bad")
        intruder.link.start()
        gateway = MqttGateway(good, gateway="gw", heartbeat_s=0.5)
        rec = Recorder()
        await gateway.start()
        await _pool_ready(gateway, 1)
        rec.submit(gateway, "a1", spec(3))
        await rec.wait_terminal(["a1"], 10)
        assert isinstance(rec.terminal("a1")[0], Finished)
        assert not intruder.link.connected and intruder.link.connects == 0
        await intruder.link.stop()
        await gateway.shutdown(1.0)

    asyncio.run(scenario())
    assert worker.proc.poll() is None
    assert "refused the credentials" in caplog.text
