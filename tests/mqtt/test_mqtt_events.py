"""`serve --mqtt`: the daemon publishes its retained status and the events of every job to a real Mosquitto."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from mqtt_observer import Observer

from bridge.bench import ZeroCostModel
from bridge.mqtt.schema import JobEvent, NodeStatus, unpack
from bridge.server import MotionBridgeServer, ServerConfig
from bridge.serving import start_mqtt

pytestmark = pytest.mark.mqtt


def test_daemon_publishes_retained_status_and_accepted_progress_done_and_error_events(broker) -> None:
    async def scenario() -> tuple[list, list]:
        model = ZeroCostModel(step_seconds=0.01, default_steps=5)
        server = MotionBridgeServer(model, ServerConfig(port=0, output_dir=None))
        await server.start()
        publisher = await start_mqtt(broker.url(), server)
        await publisher.link.wait_connected(5)
        async with Observer(broker.url(), ["mbtest/nodes/+/status"]) as early:
            status_seen = await early.wait_for(lambda s: any(x.retain for x in s))
        async with Observer(broker.url(), ["mbtest/jobs/+/events", "mbtest/nodes/+/status"]) as obs:
            async with websockets.connect(server.url, subprotocols=["motionbridge.v1.json"]) as ws:
                await ws.recv()
                await ws.send(json.dumps({"op": "identify", "protocol": 1}))
                await ws.recv()
                await ws.send(json.dumps({"op": "generate", "id": "g1", "prompt": "wave", "seconds": 2.0, "seed": 4}))
                await ws.send(json.dumps({"op": "generate", "id": "g2", "prompt": "run", "seconds": 2.0, "steps": 9}))
                await ws.send(json.dumps({"op": "cancel", "id": "g2"}))
                ops: list[str] = []
                while ops.count("done") + ops.count("error") < 2:
                    ops.append(json.loads(await ws.recv())["op"])
            await obs.wait_for(lambda s: sum(b'"done"' in x.payload or b'"error"' in x.payload for x in s) >= 2)
            events = [x for x in obs.seen if x.topic.endswith("/events")]
        await publisher.stop()
        async with Observer(broker.url(), ["mbtest/nodes/+/status"]) as late:
            retained = await late.wait_for(lambda s: len(s) >= 1)
        await server.shutdown()
        return status_seen, events, retained, publisher.node  # type: ignore[return-value]

    status_seen, events, retained, node = asyncio.run(scenario())
    online = unpack(status_seen[0].payload, NodeStatus, "json")
    assert status_seen[0].topic == f"mbtest/nodes/{node}/status" and status_seen[0].retain
    assert online.state == "online" and online.role == "daemon" and online.model == "zero-cost"
    assert online.device == "cpu" and online.queue >= 0 and 0 <= online.load <= 1

    parsed = [unpack(e.payload, JobEvent, "json") for e in events]
    by_job: dict[str, list[JobEvent]] = {}
    for e, raw in zip(parsed, events, strict=True):
        assert raw.topic == f"mbtest/jobs/{e.job}/events" and not raw.retain and e.node == node
        by_job.setdefault(e.job, []).append(e)
    (done_job,) = [j for j, evs in by_job.items() if evs[-1].event == "done"]
    (cancelled_job,) = [j for j, evs in by_job.items() if evs[-1].event == "error"]
    done = by_job[done_job]
    assert [e.event for e in done] == ["accepted"] + ["progress"] * 5 + ["done"]
    assert done[0].queue_position == 0 and [e.step for e in done[1:-1]] == [1, 2, 3, 4, 5]
    assert all(e.steps == 5 for e in done[1:-1])
    assert done[-1].samples == 1 and done[-1].frames == 60 and done[-1].seconds == 2.0 and done[-1].cached is False
    assert {"queue_ms", "sample_ms", "total_ms"} <= set(done[-1].timings or {})
    cancelled = by_job[cancelled_job]
    assert cancelled[0].event == "accepted" and cancelled[-1].code == "cancelled"
    # After a clean stop the retained status says offline (the broker keeps it for late subscribers).
    last = unpack(retained[-1].payload, NodeStatus, "json")
    assert retained[-1].retain and last.state == "offline" and last.node == node
