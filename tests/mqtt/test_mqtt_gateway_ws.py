"""`serve --workers`: WebSocket clients of a gateway served by workers behind a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
import websockets
from mqtt_observer import STARTUP_S, Observer

from bridge.bench import ZeroCostModel
from bridge.codec import decode_motion_arrays
from bridge.mqtt.gateway import MqttGateway
from bridge.mqtt.worker import Worker
from bridge.server import MotionBridgeServer, ServerConfig
from engine.core.targets import get_target
from engine.model.generation import GenerationRequest

pytestmark = pytest.mark.mqtt
JSON = "motionbridge.v1.json"
REPO = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def pool(url: str, workers: list[str], step_s: float = 0.01, **gateway_options: float) -> AsyncIterator:
    """Workers (in this process, each with its own model thread) and a gateway server on a free port."""
    started = [
        Worker(url, ZeroCostModel(step_seconds=step_s, default_steps=6), node=n, heartbeat_s=0.5) for n in workers
    ]
    for w in started:
        await w.start()
    gateway = MqttGateway(url, gateway="gw", heartbeat_s=0.5, **gateway_options)
    await gateway.start(wait_for_worker_s=10.0)
    server = MotionBridgeServer(gateway.model, ServerConfig(port=0, output_dir=None), scheduler=gateway)
    await server.start()
    try:
        yield server, gateway, started
    finally:
        await server.shutdown()
        for w in started:
            await w.stop()


@asynccontextmanager
async def client(server: MotionBridgeServer) -> AsyncIterator:
    async with websockets.connect(server.url, subprotocols=[JSON]) as ws:
        hello = json.loads(await ws.recv())
        await ws.send(json.dumps({"op": "identify", "protocol": 1, "client": "mqtt-test"}))
        assert json.loads(await ws.recv())["op"] == "ready"
        ws.hello = hello  # type: ignore[attr-defined]
        yield ws


async def until_terminal(ws, ids: set[str], timeout: float = 30.0) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def]
    got: dict[str, list[dict]] = {i: [] for i in ids}
    open_ids = set(ids)
    async with asyncio.timeout(timeout):
        while open_ids:
            msg = json.loads(await ws.recv())
            got.setdefault(msg.get("id"), []).append(msg)
            if msg["op"] in ("done", "error"):
                open_ids.discard(msg.get("id"))
    return got


def test_20_concurrent_websocket_requests_through_one_gateway_are_spread_over_two_workers(broker) -> None:
    async def scenario() -> None:
        async with (
            Observer(broker.url(), ["mbtest/jobs/+/events"]) as obs,
            pool(broker.url(), ["wa", "wb"]) as (
                server,
                gateway,
                workers,
            ),
        ):
            async with client(server) as ws1, client(server) as ws2, client(server) as ws3:
                assert ws1.hello["model"]["name"] == "zero-cost" and ws1.hello["model"]["default_steps"] == 6
                conns = [ws1, ws2, ws3]
                ids = [f"req{i}" for i in range(20)]
                for i, rid in enumerate(ids):
                    request = {
                        "op": "generate",
                        "id": rid,
                        "prompt": f"walk {i}",
                        "seconds": 1.0,
                        "seed": i,
                        "target": "unity" if i % 2 else "smplh",
                        "preview_every": 3 if i == 0 else 0,
                    }
                    await conns[i % 3].send(json.dumps(request))
                results: dict[str, list[dict]] = {}
                for k, ws in enumerate(conns):
                    results |= await until_terminal(ws, {r for i, r in enumerate(ids) if i % 3 == k})
            done_events = [json.loads(s.payload) for s in obs.seen if b'"done"' in s.payload]
        per_worker = Counter(e["node"] for e in done_events)
        assert set(per_worker) == {"wa", "wb"} and min(per_worker.values()) >= 5, per_worker
        assert sum(w.completed for w in workers) == 20 and gateway.redispatches == 0

        for i, rid in enumerate(ids):
            msgs = results[rid]
            ops = [m["op"] for m in msgs]
            assert ops[0] == "accepted" and ops[-1] == "done" and ops.count("done") == 1 and "error" not in ops
            assert [m["step"] for m in msgs if m["op"] == "progress"] == [1, 2, 3, 4, 5, 6]
            (motion,) = [m for m in msgs if m["op"] == "motion" and not m["preview"]]
            assert motion["count"] == 30 and motion["final"] and motion["target"] == ("unity" if i % 2 else "smplh")
            root, rotations = decode_motion_arrays(
                {**motion, "root": _b64(motion["root"]), "rotations": _b64(motion["rotations"])}
            )
            # Each client got its own job's motion: the zero-cost model's rotations depend on the seed (= i).
            expected = ZeroCostModel().motion(GenerationRequest(f"walk {i}", seconds=1.0, seed=i), 0)
            target = get_target(motion["target"])
            np.testing.assert_allclose(root, target.convert_positions(expected.root), atol=1e-6)
            np.testing.assert_allclose(rotations, target.convert_rotations(expected.rotations), atol=1e-6)
        previews = [m for m in results["req0"] if m["op"] == "motion" and m["preview"]]
        assert [m["step"] for m in previews] == [3]

    asyncio.run(scenario())


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def test_cancel_from_a_websocket_client_stops_the_job_on_its_worker(broker) -> None:
    async def scenario() -> None:
        async with (
            Observer(broker.url(), ["mbtest/jobs/+/events", "mbtest/cancel/+"]) as obs,
            pool(broker.url(), ["wc"], step_s=0.2) as (server, gateway, workers),
        ):
            async with client(server) as ws:
                await ws.send(json.dumps({"op": "generate", "id": "c1", "prompt": "dance", "seconds": 2.0}))
                while json.loads(await ws.recv())["op"] != "progress":
                    pass
                await ws.send(json.dumps({"op": "cancel", "id": "c1"}))
                got = await until_terminal(ws, {"c1"}, 10)
                await obs.wait_for(lambda s: any(b'"cancelled"' in x.payload for x in s if "/jobs/" in x.topic), 5)
                await asyncio.sleep(0.5)  # a late progress or result would surface now
                after = await _drain(ws)
        (error,) = [m for m in got["c1"] if m["op"] == "error"]
        assert error["code"] == "cancelled" and not [m for m in got["c1"] + after if m["op"] == "done"]
        assert any(x.topic.startswith("mbtest/cancel/") for x in obs.seen)
        events = [json.loads(x.payload) for x in obs.seen if "/jobs/" in x.topic]
        steps = [e["step"] for e in events if e["event"] == "progress"]
        assert events[-1]["event"] == "error" and events[-1]["code"] == "cancelled" and max(steps) < 6
        assert workers[0].completed == 0 and workers[0].scheduler.running == 0

    asyncio.run(scenario())


async def _drain(ws) -> list[dict]:  # type: ignore[no-untyped-def]
    out = []
    while True:
        try:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), 0.05)))
        except TimeoutError:
            return out


def test_a_duplicated_request_delivery_never_gives_a_client_two_results(broker) -> None:
    async def scenario() -> None:
        # A second publisher repeats every job the gateway sends: the broker now delivers each one twice.
        async with (
            Observer(broker.url(), ["mbtest/requests"]) as dup,
            pool(broker.url(), ["w1", "w2"]) as (
                server,
                gateway,
                workers,
            ),
        ):

            async def repeat() -> None:
                repeated: set[bytes] = set()
                while True:
                    for seen in list(dup.seen):
                        if seen.payload not in repeated:  # our own copy comes back too: repeat once only
                            repeated.add(seen.payload)
                            await dup.publish("mbtest/requests", seen.payload)
                    await asyncio.sleep(0.01)

            repeater = asyncio.create_task(repeat())
            async with client(server) as ws:
                ids = {f"d{i}" for i in range(6)}
                for rid in sorted(ids):
                    await ws.send(json.dumps({"op": "generate", "id": rid, "prompt": "jump", "seconds": 1.0}))
                got = await until_terminal(ws, ids, 30)
                await asyncio.sleep(0.5)
                got_late = await _drain(ws)
            repeater.cancel()
        for rid in ids:
            assert [m["op"] for m in got[rid]].count("done") == 1
            assert [m for m in got[rid] if m["op"] == "motion"] and "error" not in [m["op"] for m in got[rid]]
        assert not [m for m in got_late if m["op"] in ("done", "motion")]
        assert len(dup.seen) >= 12
        # Every second copy was dropped by the worker that already held it, or cancelled by the gateway, or
        # (when it finished first) its result was dropped by the gateway.
        handled = sum(w.duplicates_dropped for w in workers) + gateway.duplicates_cancelled
        assert handled >= 6 and sum(w.completed for w in workers) >= 6

    asyncio.run(scenario())


def test_a_gateway_process_serves_websocket_clients_from_the_pool_and_stops_cleanly_on_sigterm(broker) -> None:
    launch = (
        "import sys; from bridge.mqtt.gateway import serve_workers; from bridge.server import ServerConfig; "
        "sys.exit(serve_workers(sys.argv[1], ServerConfig(port=0, output_dir=None), gateway_id='gwp'))"
    )

    async def scenario() -> None:
        worker = Worker(broker.url(), ZeroCostModel(step_seconds=0.01, default_steps=4), node="wp", heartbeat_s=0.5)
        await worker.start()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", launch, broker.url(), cwd=REPO, stderr=asyncio.subprocess.PIPE
        )
        assert proc.stderr is not None
        try:
            async with asyncio.timeout(STARTUP_S):
                while b"ready: ws://" not in (line := await proc.stderr.readline()):
                    assert line, "the gateway process exited before it was ready"
            url = line.decode().split("ready: ")[1].split()[0]
            async with websockets.connect(url, subprotocols=[JSON]) as ws:
                hello = json.loads(await ws.recv())
                assert hello["model"]["name"] == "zero-cost" and hello["model"]["default_steps"] == 4
                await ws.send(json.dumps({"op": "identify", "protocol": 1}))
                await ws.recv()
                await ws.send(
                    json.dumps(
                        {
                            "op": "generate",
                            "id": "p1",
                            "prompt": "bow",
                            "seconds": 1.5,
                            "target": "unreal",
                            "chunk_frames": 20,
                        }
                    )
                )
                got = await until_terminal(ws, {"p1"}, 20)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 20) == 0
            async with Observer(broker.url(), ["mbtest/nodes/gwp/status"]) as obs:
                await obs.wait_for(lambda s: len(s) > 0)
                assert json.loads(obs.seen[-1].payload)["state"] == "offline"
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await worker.stop()
        chunks = [m for m in got["p1"] if m["op"] == "motion"]
        assert [(m["start"], m["count"], m["final"]) for m in chunks] == [
            (0, 20, False),
            (20, 20, False),
            (40, 5, True),
        ]
        assert chunks[0]["joints"][0] == "pelvis" and chunks[0]["target"] == "unreal"
        assert got["p1"][-1]["op"] == "done" and got["p1"][-1]["frames"] == 45

    asyncio.run(scenario())
