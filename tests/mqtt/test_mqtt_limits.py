"""Job limits across the broker: a worker checks every job as the daemon checks a `generate`, and a gateway holds
its clients to what every worker of its pool can serve (on a real Mosquitto)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from mqtt_observer import Observer

from bridge.bench import ZeroCostModel
from bridge.mqtt.gateway import MqttGateway
from bridge.mqtt.schema import JobRequest, NodeStatus, pack, unpack, unpack_reply
from bridge.mqtt.worker import Worker
from bridge.server import MotionBridgeServer, ServerConfig

pytestmark = pytest.mark.mqtt
JSON = "motionbridge.v1.json"


class LongClipModel(ZeroCostModel):
    """The zero-cost model with a longer longest clip than the protocol's default limit."""

    max_seconds = 30.0


class ShortClipModel(ZeroCostModel):
    """The zero-cost model with a shorter longest clip, as a smaller GPU's worker would serve."""

    max_seconds = 6.0


def test_a_worker_refuses_jobs_beyond_its_limits_before_accepting_them(broker) -> None:
    jobs = {
        "long": {"seconds": 600.0},
        "steps": {"steps": 10_000},
        "samples": {"samples": 8},  # more than one batch of this worker (max_batch 4)
        "cfg": {"cfg": 1e6},
        "ok": {"seconds": 2.0, "samples": 4},
    }

    async def scenario() -> tuple[dict, NodeStatus]:
        worker = Worker(broker.url(), ZeroCostModel(), node="wl", heartbeat_s=0.5, max_batch=4)
        await worker.start()
        async with Observer(broker.url(), ["mbtest/replies/gw1/+", "mbtest/nodes/wl/status"]) as obs:
            await worker.link.wait_connected(5)
            await asyncio.sleep(0.2)  # the worker's SUBSCRIBE is sent right after CONNACK
            for job, fields in jobs.items():
                request = JobRequest(job=job, gateway="gw1", attempt=0, prompt="a person waves", **fields)
                await obs.publish("mbtest/requests", pack(request))
            seen = await obs.wait_for(
                lambda s: len({x.topic for x in s if x.topic.startswith("mbtest/replies/")}) == len(jobs)
                and any(unpack_reply(x.payload).kind == "result" for x in s if x.topic.endswith("/ok")),
                10,
            )
            status = [unpack(x.payload, NodeStatus, "json") for x in seen if x.topic.endswith("/status")][-1]
        await worker.stop()
        replies: dict[str, list] = {job: [] for job in jobs}
        for x in seen:
            if x.topic.startswith("mbtest/replies/"):
                reply = unpack_reply(x.payload)
                replies[reply.job].append((reply.kind, getattr(reply, "code", None)))
        return replies, status

    replies, status = asyncio.run(scenario())
    assert replies["long"] == [("error", "too_long")]
    assert replies["steps"] == [("error", "bad_request")]
    assert replies["samples"] == [("error", "bad_request")]
    assert replies["cfg"] == [("error", "bad_request")]
    assert replies["ok"][0] == ("accepted", None) and replies["ok"][-1] == ("result", None)
    assert status.limits is not None and (status.limits["max_samples"], status.limits["max_seconds"]) == (4, 12.0)


def test_a_gateway_holds_clients_to_what_every_worker_of_its_pool_can_serve(broker) -> None:
    async def scenario() -> tuple[dict, dict, dict]:
        roomy = Worker(broker.url(), LongClipModel(), node="w-roomy", heartbeat_s=0.5, max_batch=4)
        await roomy.start()
        gateway = MqttGateway(broker.url(), gateway="gw", heartbeat_s=0.5)
        await gateway.start(wait_for_worker_s=10.0)
        server = MotionBridgeServer(gateway.model, ServerConfig(port=0, output_dir=None), scheduler=gateway)
        await server.start()
        small = Worker(broker.url(), ShortClipModel(), node="w-small", heartbeat_s=0.5, max_batch=2)
        try:
            async with websockets.connect(server.url, subprotocols=[JSON]) as ws:
                hello = json.loads(await ws.recv())
                await ws.send(json.dumps({"op": "identify", "protocol": 1, "client": "mqtt-test"}))
                assert json.loads(await ws.recv())["op"] == "ready"
                # A worker with shorter clips and smaller batches joins after this client connected.
                await small.start()
                for _ in range(200):
                    if len(gateway.workers) == 2:
                        break
                    await asyncio.sleep(0.05)
                replies = {}
                for rid, fields in (("long", {"seconds": 10.0}), ("wide", {"samples": 4}), ("fits", {"samples": 2})):
                    await ws.send(json.dumps({"op": "generate", "id": rid, "prompt": "wave", "seconds": 5.0, **fields}))
                    while (msg := json.loads(await asyncio.wait_for(ws.recv(), 10)))["op"] not in ("done", "error"):
                        pass
                    replies[rid] = msg
            async with websockets.connect(server.url, subprotocols=[JSON]) as ws:
                later_hello = json.loads(await ws.recv())
        finally:
            await server.shutdown()
            await roomy.stop()
            await small.stop()
        return hello["limits"], later_hello["limits"], replies

    first, later, replies = asyncio.run(scenario())
    assert (first["max_seconds"], first["max_samples"]) == (30.0, 4)
    assert (later["max_seconds"], later["max_samples"]) == (6.0, 2)
    assert (replies["long"]["op"], replies["long"].get("code")) == ("error", "too_long")
    assert (replies["wide"]["op"], replies["wide"].get("code")) == ("error", "bad_request")
    assert replies["fits"]["op"] == "done"
