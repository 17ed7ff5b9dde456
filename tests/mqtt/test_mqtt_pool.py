"""Gateway and workers behind a real Mosquitto: worker loss (kill -9), broker restart, auth."""

from __future__ import annotations

import asyncio
import json

import pytest
from mqtt_jobs import Recorder, spec
from mqtt_observer import STARTUP_S, Observer

from bridge.bench import ZeroCostModel
from bridge.mqtt.gateway import MqttGateway
from bridge.mqtt.worker import Worker
from bridge.scheduler import Finished

pytestmark = pytest.mark.mqtt


def _done_nodes(seen) -> dict[str, str]:  # type: ignore[no-untyped-def]
    out = {}
    for s in seen:
        if s.topic.endswith("/events"):
            e = json.loads(s.payload)
            if e["event"] == "done":
                out[e["job"]] = e["node"]
    return out


async def _pool_ready(gateway: MqttGateway, n: int, timeout: float = STARTUP_S) -> None:
    for _ in range(int(timeout / 0.05)):
        if len(gateway.workers) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {sorted(gateway.workers)} of {n} workers came online")


def test_kill_9_of_a_worker_mid_job_still_ends_every_request_with_exactly_one_done(broker, spawn_worker) -> None:
    victim = spawn_worker(broker.url(), "wv", step_s=0.05, steps=10)

    async def scenario() -> None:
        survivor = Worker(broker.url(), ZeroCostModel(step_seconds=0.05, default_steps=10), node="ws", heartbeat_s=0.5)
        await survivor.start()
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
            on_victim = {j for j, r in gateway._jobs.items() if r.worker == "wv"}
            await rec.wait_terminal(ids, 30)
            await asyncio.sleep(0.5)  # anything late (a duplicate result) would arrive now
            seen = obs.seen
        await gateway.shutdown(1.0)
        await survivor.stop()

        for job_id in ids:
            terminal = rec.terminal(job_id)
            assert len(terminal) == 1 and isinstance(terminal[0], Finished), terminal
            assert terminal[0].motions[0].seed == int(job_id[1:])
        assert on_victim and gateway.redispatches == len(on_victim)
        done_on = _done_nodes(seen)
        assert all(done_on[j] == "ws" for j in on_victim), (on_victim, done_on)

    asyncio.run(scenario())


def test_gateway_and_workers_reconnect_after_a_broker_restart_and_later_requests_succeed(broker) -> None:
    async def scenario() -> None:
        worker = Worker(broker.url(), ZeroCostModel(step_seconds=0.01, default_steps=6), node="wr", heartbeat_s=0.5)
        await worker.start()
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
        assert worker.link.connects == 2 and worker.completed == 5
        await gateway.shutdown(1.0)
        await worker.stop()
        for job_id in ["before", *ids]:
            (final,) = rec.terminal(job_id)
            assert isinstance(final, Finished), final

    asyncio.run(scenario())


def test_username_and_password_auth_serves_jobs_and_a_wrong_password_never_connects(auth_broker, caplog) -> None:
    good = auth_broker.url(auth="studio:s3cret%3Apw@")

    async def scenario() -> None:
        worker = Worker(good, ZeroCostModel(step_seconds=0.01, default_steps=6), node="wauth", heartbeat_s=0.5)
        await worker.start()
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
        await worker.stop()

    asyncio.run(scenario())
    assert "refused the credentials" in caplog.text


def test_mqtts_verifies_the_broker_certificate_and_serves_jobs_over_tls(tls_broker, caplog) -> None:
    async def scenario() -> None:
        model = ZeroCostModel(step_seconds=0.01, default_steps=4)
        worker = Worker(tls_broker.url(), model, node="wtls", heartbeat_s=0.5)
        await worker.start()
        # Same broker, but trusting only the system CA store: the self-signed certificate is refused.
        untrusting = MqttGateway(f"mqtts://127.0.0.1:{tls_broker.port}/mbtest", gateway="untrusting")
        untrusting.link.start()
        plain = MqttGateway(f"mqtt://127.0.0.1:{tls_broker.port}/mbtest", gateway="plain")
        plain.link.start()
        gateway = MqttGateway(tls_broker.url(), gateway="gw", heartbeat_s=0.5)
        await gateway.start()
        await _pool_ready(gateway, 1, 10)
        rec = Recorder()
        rec.submit(gateway, "t1", spec(2, steps=4))
        await rec.wait_terminal(["t1"], 10)
        assert isinstance(rec.terminal("t1")[0], Finished)
        assert untrusting.link.connects == 0 and plain.link.connects == 0
        await untrusting.link.stop()
        await plain.link.stop()
        await gateway.shutdown(1.0)
        await worker.stop()

    asyncio.run(scenario())
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
