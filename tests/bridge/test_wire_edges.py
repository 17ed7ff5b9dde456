"""Edges of the wire protocol against a real daemon on loopback: hostile numbers and text, long client names,
and what a client sees while the daemon shuts down."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from bridge.bench import ZeroCostModel

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def run(coro):
    return asyncio.run(coro)


def documented_close_codes() -> set[int]:
    """The codes in the close-code table of docs/protocol.md (§6)."""
    section = PROTOCOL_DOC.read_text().split("## 6. Close codes", 1)[1].split("\n## ", 1)[0]
    return {int(code) for code in re.findall(r"^\| (\d{4}) \|", section, flags=re.MULTILINE)}


def test_a_json_integer_beyond_pythons_digit_limit_is_a_bad_request_not_a_close(daemon_factory, raw) -> None:
    daemon = daemon_factory(ZeroCostModel())

    async def scenario():
        client = await raw.ready(daemon.url, "json")
        await client.send_raw('{"op":"generate","id":"n","prompt":"walk","seed":' + "9" * 5000 + "}")
        error = await client.recv()
        await client.send({"op": "status", "id": "s"})
        status = await client.recv()
        await client.close()
        return error, status

    error, status = run(scenario())
    assert (error["op"], error["code"]) == ("error", "bad_request")
    assert "JSON" in error["message"]
    assert status["op"] == "status"


def test_invalid_utf8_text_closes_with_1007_and_the_protocol_documents_it(daemon_factory, raw) -> None:
    daemon = daemon_factory(ZeroCostModel())

    async def scenario():
        client = await raw.ready(daemon.url, "json")
        await client.ws.send(b'{"op":"status","id":"\xff"}', text=True)
        return await client.close_code()

    code = run(scenario())
    assert code == 1007
    assert code in documented_close_codes()


def test_identify_logs_the_client_name_cut_to_200_characters(daemon_factory, raw, caplog) -> None:
    daemon = daemon_factory(ZeroCostModel())
    name = "n" * 1_000_000

    async def scenario():
        client = await raw.open(daemon.url)
        await client.recv()
        await client.send({"op": "identify", "protocol": 1, "client": name})
        ready = await client.recv()
        await client.close()
        return ready

    with caplog.at_level(logging.INFO, logger="motionbridge.server"):
        assert run(scenario())["op"] == "ready"
    (line,) = [r.getMessage() for r in caplog.records if "identified" in r.getMessage()]
    assert "n" * 200 in line and "n" * 201 not in line
    assert len(line) < 300


def test_while_shutting_down_upgrades_get_503_and_health_says_shutting_down(daemon_factory, raw) -> None:
    daemon = daemon_factory(ZeroCostModel(step_seconds=0.05), shutdown_timeout=60.0)

    def health() -> dict:
        with urllib.request.urlopen(f"{daemon.http_url}/health", timeout=10) as response:
            return json.loads(response.read())

    async def scenario():
        client = await raw.ready(daemon.url)
        await client.send({"op": "generate", "id": "g", "prompt": "p", "seconds": 1.0, "steps": 100})
        while (await client.recv())["op"] != "progress":
            pass
        assert health()["status"] == "ok"
        shutdown = daemon.shutdown_async()
        while not daemon.call(lambda: daemon.server.status_snapshot()["shutting_down"]):
            await asyncio.sleep(0.01)
        during = await asyncio.to_thread(health)
        with pytest.raises(InvalidStatus) as refused:
            await raw.open(daemon.url)
        await client.send({"op": "generate", "id": "late", "prompt": "p", "seconds": 1.0})
        replies = await client.until_all(["g", "late"], timeout=60)
        code = await client.close_code(timeout=60)
        await asyncio.wrap_future(shutdown)
        return during, refused.value.response.status_code, replies, code

    during, refused_status, replies, code = run(scenario())
    assert during["status"] == "shutting_down"
    assert refused_status == 503
    assert replies["g"][-1]["op"] == "done"
    assert (replies["late"][-1]["op"], replies["late"][-1]["code"]) == ("error", "busy")
    assert code == 1001
