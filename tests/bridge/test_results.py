"""How the daemon hands back finished results: `done` before the disk write, `fetch` at every point of a job's
life (write pending, after a restart), cache hits without rewriting the store, and clip options off the
event loop. A real daemon on loopback with the zero-cost model (the model is irrelevant here)."""

from __future__ import annotations

import asyncio
import threading
import urllib.request

import numpy as np

from bridge.bench import ZeroCostModel
from bridge.store import decode_job
from engine.post import clip_ops

REQUEST = {"op": "generate", "prompt": "a person turns", "seconds": 1.0, "seed": 5, "steps": 3, "samples": 2}


def run(coro):
    return asyncio.run(coro)


def final_motions(messages: list[dict]) -> list[tuple[bytes, bytes]]:
    return [(m["root"], m["rotations"]) for m in messages if m["op"] == "motion" and not m["preview"]]


def test_done_goes_out_while_the_disk_write_is_pending_and_fetch_finds_the_job(daemon_factory, raw, tmp_path) -> None:
    out = tmp_path / "jobs"
    daemon = daemon_factory(ZeroCostModel(), output_dir=out)
    store = daemon.server.store
    disk_free = threading.Event()
    store.writer.submit(disk_free.wait)  # the disk is busy: nothing is written until the test says so

    async def scenario():
        client = await raw.ready(daemon.url)
        await client.send({**REQUEST, "id": "g"})
        messages = await client.until("g")
        job = messages[-1]["job"]
        on_disk_at_done = (out / job).exists()
        other = await raw.ready(daemon.url)
        await other.send({"op": "fetch", "id": "f", "job": job})
        fetched = await other.until("f")
        await client.close()
        await other.close()
        return messages, on_disk_at_done, fetched

    try:
        messages, on_disk_at_done, fetched = run(scenario())
    finally:
        disk_free.set()
    done = messages[-1]
    assert done["op"] == "done" and not on_disk_at_done
    assert done["files"]["npz"] == [f"/v1/jobs/{done['job']}/0.npz", f"/v1/jobs/{done['job']}/1.npz"]
    assert fetched[-1]["op"] == "done" and fetched[-1]["cached"] is True
    assert final_motions(fetched) == final_motions(messages)
    store.flush()
    # One file per job on the hot path; no .npz (or folder for one) until a download asks for it.
    assert sorted(p.name for p in out.iterdir()) == [f"{done['job']}.mbjob"]


def test_fetch_after_a_restart_is_bit_identical_to_what_was_streamed(daemon_factory, raw, tmp_path) -> None:
    out = tmp_path / "persist"
    first = daemon_factory(ZeroCostModel(), output_dir=out)
    request = {**REQUEST, "seconds": 2.0, "target": "unity", "chunk_frames": 25}

    async def generate():
        client = await raw.ready(first.url)
        await client.send({**request, "id": "g"})
        messages = await client.until("g")
        await client.close()
        return messages

    streamed = run(generate())
    job = streamed[-1]["job"]
    first.stop()
    second = daemon_factory(ZeroCostModel(), output_dir=out)

    async def fetch():
        client = await raw.ready(second.url)
        await client.send({"op": "fetch", "id": "f", "job": job})
        fetched = await client.until("f")
        await client.close()
        return fetched

    fetched = run(fetch())
    assert len(final_motions(streamed)) == 6
    assert final_motions(fetched) == final_motions(streamed)


def test_a_cache_hit_does_not_rewrite_the_store_but_stays_fetchable_and_downloadable(
    daemon_factory, raw, tmp_path
) -> None:
    out = tmp_path / "jobs"
    daemon = daemon_factory(ZeroCostModel(), output_dir=out)

    async def generate(rid: str, **fields):
        client = await raw.ready(daemon.url)
        await client.send({**REQUEST, "id": rid, **fields})
        messages = await client.until(rid)
        await client.close()
        return messages

    first = run(generate("first"))
    daemon.server.store.flush()
    first_file = out / f"{first[-1]['job']}.mbjob"
    first_written = (first_file.stat().st_ino, first_file.read_bytes())
    hit = run(generate("hit", target="unreal"))
    daemon.server.store.flush()
    assert hit[-1]["cached"] is True
    hit_job = hit[-1]["job"]
    hit_meta, hit_motions = decode_job((out / f"{hit_job}.mbjob").read_bytes())
    assert hit_motions is None and hit_meta["motions_of"] == first[-1]["job"]  # metadata alone
    assert (first_file.stat().st_ino, first_file.read_bytes()) == first_written  # not rewritten

    async def fetch():
        client = await raw.ready(daemon.url)
        await client.send({"op": "fetch", "id": "f", "job": hit_job})
        fetched = await client.until("f")
        await client.close()
        return fetched

    fetched = run(fetch())
    assert final_motions(fetched) == final_motions(hit)
    assert {m["target"] for m in fetched if m["op"] == "motion"} == {"unreal"}
    for sample, path in enumerate(hit[-1]["files"]["npz"]):
        with urllib.request.urlopen(f"{daemon.http_url}{path}", timeout=10) as response:
            (tmp_path / "hit.npz").write_bytes(response.read())
        original = (out / first[-1]["job"] / f"{sample}.npz").read_bytes()
        assert (tmp_path / "hit.npz").read_bytes() == original
    with_options = run(generate("looped", loop=True))
    daemon.server.store.flush()
    assert with_options[-1]["cached"] is True
    assert decode_job((out / f"{with_options[-1]['job']}.mbjob").read_bytes())[1] is not None  # its own motions


def test_loop_and_in_place_are_applied_off_the_event_loop(daemon_factory, raw, monkeypatch) -> None:
    daemon = daemon_factory(ZeroCostModel())
    threads: list[threading.Thread] = []
    real_apply = clip_ops.apply_options

    def recording_apply(motion, remove_travel=False, make_loop=False):
        threads.append(threading.current_thread())
        return real_apply(motion, remove_travel, make_loop)

    monkeypatch.setattr(clip_ops, "apply_options", recording_apply)

    async def scenario():
        client = await raw.ready(daemon.url)
        replies = []
        for rid in ("fresh", "cached"):
            await client.send({**REQUEST, "id": rid, "loop": True, "in_place": True})
            replies.append(await client.until(rid))
        await client.close()
        return replies

    fresh, cached = run(scenario())
    assert (fresh[-1]["cached"], cached[-1]["cached"]) == (False, True)
    assert final_motions(fresh) == final_motions(cached)
    root = np.frombuffer(final_motions(fresh)[0][0], "<f4").reshape(-1, 3)
    np.testing.assert_array_equal(root[:, [0, 2]], 0.0)
    assert len(threads) == 4
    assert daemon.thread not in threads
