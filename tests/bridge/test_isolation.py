"""Isolation and memory: one client never fails another's job, never grows the daemon without bound, never
holds more connections than the daemon serves; limits slow a fast client down rather than cut it off.

A real daemon on loopback, real WebSocket clients; the tiny DiT where batching through the model matters,
the zero-cost model where only the daemon's bookkeeping does.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bridge.bench import ZeroCostModel
from bridge.protocol import RATE_LIMIT_BACKLOG, RATE_LIMIT_BURST, Limits


def run(coro):
    return asyncio.run(coro)


async def _batched_with_a_neighbour(daemon, raw, culprit_client, culprit: dict, neighbour: dict):
    """Keep the model busy with a blocker, queue `culprit` and `neighbour` from two clients (so they share the
    next batch), release the model; returns each one's messages up to its done/error."""
    blocker = await raw.ready(daemon.url)
    await blocker.send({"op": "generate", "id": "b", "prompt": "p", "seconds": 1.0, "steps": 200})
    while (await blocker.recv())["op"] != "progress":
        pass
    other = await raw.ready(daemon.url)
    await culprit_client.send(culprit)
    first_reply = await culprit_client.recv()
    await other.send(neighbour)
    await other.until(neighbour["id"], ("accepted",))
    await blocker.send({"op": "cancel", "id": "b"})
    await blocker.until("b")
    culprit_replies = [first_reply]
    if first_reply["op"] == "accepted":
        culprit_replies += await culprit_client.until(culprit["id"], timeout=60)
    neighbour_replies = await other.until(neighbour["id"], timeout=60)
    for c in (blocker, other, culprit_client):
        await c.close()
    return culprit_replies, neighbour_replies


def test_a_prompt_that_is_not_text_is_refused_at_once_and_fails_no_other_clients_job(daemon_factory, tiny_model, raw):
    daemon = daemon_factory(tiny_model, cache_size=0)
    job = {"op": "generate", "seconds": 1.0, "steps": 5}

    async def scenario():
        json_client = await raw.ready(daemon.url, "json")
        return await _batched_with_a_neighbour(
            daemon,
            raw,
            json_client,
            {**job, "id": "bad", "prompt": "wave \udfff"},  # valid JSON ("\\udfff"), but not encodable text
            {**job, "id": "good", "prompt": "a person walks", "seed": 1},
        )

    culprit, neighbour = run(scenario())
    assert [(m["op"], m.get("code")) for m in culprit] == [("error", "bad_request")]
    assert "surrogate" in culprit[0]["message"]
    assert neighbour[-1]["op"] == "done"


def test_a_job_the_model_fails_on_fails_alone_not_the_other_clients_job_in_its_batch(
    daemon_factory, exploding_model, raw
) -> None:
    daemon = daemon_factory(exploding_model, cache_size=0)
    job = {"op": "generate", "seconds": 1.0, "steps": 5}

    async def scenario():
        culprit_client = await raw.ready(daemon.url)
        return await _batched_with_a_neighbour(
            daemon,
            raw,
            culprit_client,
            {**job, "id": "boom", "prompt": "explode"},
            {**job, "id": "fine", "prompt": "a person walks", "seed": 1},
        )

    batches_before = daemon.call(lambda: daemon.server.scheduler.batches_run)
    culprit, neighbour = run(scenario())
    assert culprit[0]["op"] == "accepted"
    assert (culprit[-1]["op"], culprit[-1]["code"]) == ("error", "model_error")
    assert neighbour[-1]["op"] == "done"
    # blocker, the failed pair, then each job alone
    assert daemon.call(lambda: daemon.server.scheduler.batches_run) - batches_before == 4


def test_a_client_that_never_reads_is_closed_4009_instead_of_growing_the_daemon(daemon_factory, raw) -> None:
    # 40 jobs of 4 × 12 s: ~20 MB of replies, far beyond the 1 MiB outbox and what the sockets can buffer.
    daemon = daemon_factory(
        ZeroCostModel(), cache_size=0, max_outbox_bytes=1024 * 1024, close_timeout=60.0,
        limits=Limits(max_inflight=64),
    )

    async def scenario():
        client = await raw.ready(daemon.url)
        client.ws.transport.pause_reading()
        for i in range(40):
            await client.send({"op": "generate", "id": f"g{i}", "prompt": "walk", "seconds": 12.0, "samples": 4,
                               "steps": 1, "seed": i * 4})
        for _ in range(1200):
            if daemon.call(lambda: daemon.server.scheduler.jobs_done) == 40:
                break
            await asyncio.sleep(0.05)
        client.ws.transport.resume_reading()
        done = 0
        try:
            while True:
                done += (await client.recv(timeout=10))["op"] == "done"
        except (ConnectionClosed, TimeoutError):
            pass
        return done, client.ws.close_code

    done, code = run(scenario())
    assert code == 4009
    assert done < 40


class MinuteClipModel(ZeroCostModel):
    """The zero-cost model serving one-minute clips: 8 samples make ~7 MB of JSON replies per job."""

    max_seconds = 60.0


def test_a_request_stays_in_flight_until_its_done_is_sent_not_just_queued(daemon_factory, raw) -> None:
    daemon = daemon_factory(MinuteClipModel(), cache_size=0, max_batch=8, limits=Limits(max_inflight=2))
    job = {"op": "generate", "prompt": "walk", "seconds": 60.0, "samples": 8, "steps": 1}

    def snapshot():
        return daemon.call(daemon.server.status_snapshot)

    async def scenario():
        client = await raw.ready(daemon.url, "json")
        client.ws.transport.pause_reading()
        await client.send({**job, "id": "a"})
        await client.send({**job, "id": "b", "seed": 8})
        for _ in range(1200):
            if snapshot()["jobs_done"] == 2 and snapshot()["memory"]["outbox_bytes"] > 0:
                break
            await asyncio.sleep(0.05)
        # Both jobs finished, but ~14 MB of their replies wait for this client: both still hold their slots.
        unread = snapshot()
        client.ws.transport.resume_reading()
        await client.until_all(["a", "b"], timeout=30)
        await client.send({"op": "status", "id": "s"})
        after = (await client.until("s", ("status",)))[-1]
        await client.close()
        return unread, after

    unread, after = run(scenario())
    assert unread["inflight"] == 2
    assert after["inflight"] == 0 and after["memory"]["outbox_bytes"] == 0


def test_connections_above_the_cap_are_refused_with_503_until_one_closes(daemon_factory, raw) -> None:
    daemon = daemon_factory(ZeroCostModel(), max_connections=3)

    async def scenario():
        clients = [await raw.ready(daemon.url) for _ in range(3)]
        with pytest.raises(InvalidStatus) as refused:
            await raw.open(daemon.url)
        await clients.pop().close()
        for _ in range(200):
            if daemon.call(lambda: daemon.server.status_snapshot()["connections"]) < 3:
                break
            await asyncio.sleep(0.05)
        again = await raw.ready(daemon.url)
        for c in [*clients, again]:
            await c.close()
        return refused.value.response

    response = run(scenario())
    assert response.status_code == 503 and b"3 connections at most" in response.body


def test_at_the_cap_the_longest_idle_connection_makes_room_for_a_new_one(daemon_factory, raw) -> None:
    """Busy connections are never closed for a newcomer; an idle one is, with 4010, the idlest first."""
    daemon = daemon_factory(ZeroCostModel(step_seconds=0.5), max_connections=3, idle_evict_s=0.3)

    async def scenario():
        idlest = await raw.ready(daemon.url)
        await asyncio.sleep(0.2)
        idle = await raw.ready(daemon.url)
        busy = await raw.ready(daemon.url)
        await busy.send({"op": "generate", "id": "g", "prompt": "a person walks", "seconds": 1.0, "steps": 4})
        await asyncio.sleep(0.4)  # idlest 0.6 s idle, idle 0.4 s, busy has a job in flight
        newcomer = await raw.ready(daemon.url)
        code = await idlest.close_code(timeout=5)
        await newcomer.send({"op": "status", "id": "s"})
        status = (await newcomer.until("s", ("status",)))[-1]
        done = (await busy.until("g"))[-1]
        # None idle long enough (each has just sent something) and the cap reached again: refused.
        for c in (idle, busy, newcomer):
            await c.send({"op": "status", "id": "t"})
            await c.until("t", ("status",))
        with pytest.raises(InvalidStatus) as refused:
            await raw.open(daemon.url)
        for c in (idle, busy, newcomer):
            await c.close()
        return code, status, done, refused.value.response.status_code

    code, status, done, refused = run(scenario())
    assert code == 4010
    assert status["connections"] == 3 and done["op"] == "done" and refused == 503


def test_a_burst_of_pipelined_requests_up_to_the_bucket_is_served(daemon_factory, raw) -> None:
    daemon = daemon_factory(ZeroCostModel())

    async def scenario():
        client = await raw.ready(daemon.url)
        for i in range(RATE_LIMIT_BURST - 10):
            await client.send({"op": "status", "id": f"s{i}"})
        replies = [await client.recv() for _ in range(RATE_LIMIT_BURST - 10)]
        await client.close()
        return replies

    replies = run(scenario())
    assert [r["id"] for r in replies] == [f"s{i}" for i in range(RATE_LIMIT_BURST - 10)]


def test_a_fast_client_that_waits_for_each_reply_is_never_closed(daemon_factory, raw) -> None:
    daemon = daemon_factory(ZeroCostModel())

    async def scenario():
        client = await raw.ready(daemon.url)
        kinds = set()
        for i in range(RATE_LIMIT_BURST + 500):
            await client.send({"op": "status", "id": f"s{i}"})
            kinds.add((await client.recv())["op"])
        await client.close()
        return kinds

    assert run(scenario()) == {"status"}


def test_a_flood_closes_4008_and_the_daemon_still_reads_the_clients_answer_to_the_close(daemon_factory, raw):
    # Both ends would wait 60 s for a close answer that is never read; the test gives it far less.
    daemon = daemon_factory(ZeroCostModel(), close_timeout=60.0)

    async def scenario():
        client = await raw.ready(daemon.url)
        client.ws.close_timeout = 60.0
        status = {"op": "status", "id": "s"}
        with contextlib.suppress(ConnectionClosed):
            for _ in range(4 * (RATE_LIMIT_BURST + RATE_LIMIT_BACKLOG)):
                await client.send(status)
        code = await client.close_code(timeout=20)
        return code, client.ws.close_reason, client.ws.connection_exc

    code, reason, connection_error = run(scenario())
    assert code == 4008 and "rate limit" in reason
    # The daemon read our answer to its close and ended TCP cleanly: no reset of a connection it stopped reading.
    assert connection_error is None
