"""Live mode on a real daemon (protocol v1.1 `live_start` / `live_prompt` / `live_stop`): pacing, contiguous
frames, prompt changes, errors, one session per connection, disconnect, live beside batch jobs, a client
that stops reading, and the Python client and CLI."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bridge import live as live_module
from bridge.client import MotionBridgeClient
from bridge.live_client import LiveSession
from engine.core.motion import Motion
from engine.model.generation import CancelCheck, GenerationRequest, MotionModel, StepCallback
from engine.model.live import MAX_ROOT_SPEED


class PromptLog(MotionModel):
    """The real model, noting the prompt and context of every request it runs (thread-safe list)."""

    def __init__(self, inner: MotionModel) -> None:
        self.inner = inner
        self.name, self.fps, self.max_seconds = inner.name, inner.fps, inner.max_seconds
        self.default_steps, self.default_cfg = inner.default_steps, inner.default_cfg
        self.requests: list[GenerationRequest] = []
        self._lock = threading.Lock()

    def generate_batch(self, requests: Sequence[GenerationRequest], on_step: StepCallback | None = None,
                       cancelled: CancelCheck | None = None) -> list[list[Motion] | None]:
        with self._lock:
            self.requests.extend(requests)
        return self.inner.generate_batch(requests, on_step, cancelled)


async def _frames_for(client: Any, seconds: float) -> list[dict[str, Any]]:
    """Every message received for `seconds`."""
    out: list[dict[str, Any]] = []
    end = time.perf_counter() + seconds
    while (left := end - time.perf_counter()) > 0:
        try:
            out.append(await client.recv(timeout=left))
        except TimeoutError:
            break
    return out


def _contiguous(messages: list[dict[str, Any]], first: int = 0) -> int:
    frames = first
    for msg in messages:
        if msg["op"] == "motion":
            assert msg["start"] == frames, f"chunk at {msg['start']} after {frames} frames"
            assert msg["live"] is True and msg["preview"] is False and msg["final"] is False
            assert msg["total"] == msg["start"] + msg["count"]
            frames += msg["count"]
    return frames


def test_hello_lists_live(daemon: Any, raw: Any) -> None:
    async def main() -> None:
        client = await raw.ready(daemon.url)
        assert "live" in client.hello["capabilities"]
        await client.close()

    asyncio.run(main())


def test_live_streams_paced_contiguous_frames_and_stops_with_done(daemon: Any, raw: Any, arrays: Any) -> None:
    async def main() -> None:
        client = await raw.ready(daemon.url)
        began = time.perf_counter()
        await client.send({"op": "live_start", "id": "L", "prompt": "a person walks", "buffer_ms": 300})
        accepted = await client.recv()
        assert accepted["op"] == "accepted" and accepted["id"] == "L" and accepted["job"].startswith("l")
        messages = await _frames_for(client, 3.0)
        elapsed = time.perf_counter() - began
        frames = _contiguous(messages)
        fps = next(m["fps"] for m in messages if m["op"] == "motion")
        # Paced: never more than the buffer ahead of real time, and it keeps up with real time.
        assert frames <= (elapsed + 0.3) * fps + 2, (frames, elapsed)
        assert frames >= (elapsed - 1.0) * fps, (frames, elapsed)
        motion = [m for m in messages if m["op"] == "motion"]
        root, rotations = arrays(motion[0])
        assert np.isfinite(root).all() and np.allclose(np.linalg.norm(rotations, axis=-1), 1.0, atol=1e-4)
        await client.send({"op": "live_stop", "id": "L"})
        tail = await client.until("L")
        total = _contiguous(tail, frames)
        done = tail[-1]
        assert done["op"] == "done" and done["job"] == accepted["job"] and done["frames"] == total
        assert done["generated"] >= total and done["timings"]["model_ms"] > 0
        await client.close()

    asyncio.run(main())


def test_prompt_change_is_followed_from_the_frame_it_reports(daemon_factory: Any, tiny_model: MotionModel,
                                                             raw: Any) -> None:
    model = PromptLog(tiny_model)
    daemon = daemon_factory(model)

    async def main() -> None:
        client = await raw.ready(daemon.url)
        await client.send({"op": "live_start", "id": "L", "prompt": "a person walks", "buffer_ms": 200})
        first = await _frames_for(client, 1.5)
        received = _contiguous(first)
        await client.send({"op": "live_prompt", "id": "L", "prompt": "a person waves"})
        after = await _frames_for(client, 2.0)
        state = next(m for m in after if m["op"] == "live_state")
        assert state == {"op": "live_state", "id": "L", "prompt": "a person waves", "frame": state["frame"]}
        assert state["frame"] >= received
        total = _contiguous([m for m in after if m["op"] == "motion"], received)
        assert total > state["frame"]  # frames of the new prompt arrived
        await client.send({"op": "live_stop", "id": "L"})
        await client.until("L")
        await client.close()
        prompts = [r.prompt for r in model.requests]
        assert prompts[0] == "a person walks" and prompts[-1] == "a person waves"
        # Every chunk but the first continues the stream from its last frames.
        assert all(r.constraints is not None and r.constraints.start is not None for r in model.requests[1:])

    asyncio.run(main())


def test_cancel_with_the_live_id_ends_the_session(daemon: Any, raw: Any) -> None:
    async def main() -> None:
        client = await raw.ready(daemon.url)
        await client.send({"op": "live_start", "id": "L", "prompt": "a person walks"})
        await _frames_for(client, 0.8)
        await client.send({"op": "cancel", "id": "L"})
        assert (await client.until("L"))[-1]["op"] == "done"
        await client.close()

    asyncio.run(main())


def test_one_live_session_per_connection_and_unknown_ids(daemon: Any, raw: Any) -> None:
    async def main() -> None:
        client = await raw.ready(daemon.url)
        await client.send({"op": "live_start", "id": "L", "prompt": "a person walks"})
        await client.send({"op": "live_start", "id": "M", "prompt": "a person runs"})
        error = (await client.until("M"))[-1]
        assert error["op"] == "error" and error["code"] == "busy"
        await client.send({"op": "live_prompt", "id": "nope", "prompt": "a person runs"})
        assert (await client.until("nope"))[-1]["code"] == "not_found"
        await client.send({"op": "live_stop", "id": "L"})
        assert (await client.until("L"))[-1]["op"] == "done"
        # The slot is free again: a new session may start on the same connection.
        await client.send({"op": "live_start", "id": "N", "prompt": "a person runs"})
        assert (await client.recv())["op"] == "accepted"
        await client.send({"op": "live_stop", "id": "N"})
        assert (await client.until("N"))[-1]["op"] == "done"
        await client.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    "fields, code, words",
    [
        ({"prompt": ""}, "bad_request", "prompt"),
        ({"prompt": "x" * 5000}, "too_long", "prompt"),
        ({"buffer_ms": -1}, "bad_request", "buffer_ms"),
        ({"buffer_ms": 60000}, "bad_request", "buffer_ms"),
        ({"area": -1.0}, "bad_request", "area"),
        ({"area": 1e9}, "bad_request", "area"),
        ({"target": "blender"}, "bad_request", "target"),
        ({"seed": -5}, "bad_request", "seed"),
        ({"steps": 100000}, "bad_request", "steps"),
        ({"buffer_ms": "lots"}, "bad_request", "buffer_ms"),
    ],
)
def test_bad_live_start_gets_a_typed_error_naming_the_field(daemon: Any, fields: dict, code: str,
                                                             words: str, raw: Any) -> None:
    async def main() -> None:
        client = await raw.ready(daemon.url)
        await client.send({"op": "live_start", "id": "L", "prompt": "a person walks", **fields})
        error = (await client.until("L"))[-1]
        assert error["op"] == "error" and error["code"] == code and words in error["message"], error
        # Nothing was started: the id is free for a good session.
        await client.send({"op": "live_start", "id": "L", "prompt": "a person walks"})
        assert (await client.recv())["op"] == "accepted"
        await client.close()

    asyncio.run(main())


def test_lone_surrogate_prompt_change_is_refused_and_the_stream_goes_on(daemon: Any, raw: Any) -> None:
    async def main() -> None:
        client = await raw.ready(daemon.url, encoding="json")
        await client.send({"op": "live_start", "id": "L", "prompt": "a person walks"})
        await client.send_raw('{"op": "live_prompt", "id": "L", "prompt": "wave \\udfff"}')
        messages = await _frames_for(client, 1.5)
        errors = [m for m in messages if m["op"] == "error"]
        assert errors and errors[0]["code"] == "bad_request" and "surrogate" in errors[0]["message"]
        before = _contiguous(messages)
        later = await _frames_for(client, 1.0)
        assert _contiguous(later, before) > before  # the session was not hurt
        await client.close()

    asyncio.run(main())


def test_disconnect_ends_the_session(daemon: Any, raw: Any) -> None:
    async def main() -> None:
        client = await raw.ready(daemon.url)
        await client.send({"op": "live_start", "id": "L", "prompt": "a person walks"})
        await _frames_for(client, 0.5)
        await client.close()
        watcher = await raw.ready(daemon.url)
        for _ in range(40):
            await watcher.send({"op": "status", "id": "s"})
            status = (await watcher.until("s", ("status",)))[-1]
            if status["live_sessions"] == 0:
                break
            await asyncio.sleep(0.05)
        assert status["live_sessions"] == 0
        await watcher.close()

    asyncio.run(main())


def test_live_and_batch_clients_share_the_model(daemon: Any, raw: Any) -> None:
    """A batch job finishes while a live stream on another connection keeps flowing without a stall."""

    async def main() -> None:
        live = await raw.ready(daemon.url)
        batch = await raw.ready(daemon.url)
        await live.send({"op": "live_start", "id": "L", "prompt": "a person walks", "buffer_ms": 500})
        await _frames_for(live, 1.0)
        arrivals: list[float] = []

        async def watch() -> None:
            end = time.perf_counter() + 4.0
            while time.perf_counter() < end:
                try:
                    msg = await live.recv(timeout=end - time.perf_counter())
                except TimeoutError:
                    return
                if msg["op"] == "motion":
                    arrivals.append(time.perf_counter())

        watcher = asyncio.ensure_future(watch())
        for k in range(3):
            await batch.send({"op": "generate", "id": f"b{k}", "prompt": "a person jumps", "seconds": 10.0,
                              "samples": 4})
        results = await batch.until_all(["b0", "b1", "b2"], timeout=60)
        await watcher
        assert all(r[-1]["op"] == "done" for r in results.values())
        gaps = np.diff(arrivals)
        assert len(arrivals) > 20 and gaps.max() < 0.5, gaps.max()
        await live.close()
        await batch.close()

    asyncio.run(main())


def test_a_client_that_stops_reading_pauses_its_stream(daemon: Any, monkeypatch, raw: Any) -> None:
    """While the outbox holds more than the live backlog nothing is sent and, once a refill's worth of frames
    waits, nothing more is generated: the session's memory stays bounded."""
    # The outbox always counts as too full: as if the kernel's socket buffers had filled behind a non-reader.
    monkeypatch.setattr(live_module, "LIVE_BACKLOG_BYTES", -1)

    async def main() -> None:
        client = await raw.ready(daemon.url)
        await client.send({"op": "live_start", "id": "L", "prompt": "a person walks"})
        await asyncio.sleep(3.0)  # not reading
        sessions = daemon.call(lambda: [c.live for c in daemon.server._clients if c.live is not None])
        session = sessions[0]
        bound = (live_module.REFILL_S + 2.5) * session.fps  # pending refill plus one chunk
        assert session.sent == 0 and 0 < session.generated <= bound, (session.generated, session.sent)
        await client.close()

    asyncio.run(main())


def test_python_client_streams_changes_prompt_and_records(daemon: Any) -> None:
    async def main() -> None:
        async with MotionBridgeClient(daemon.url) as client:
            async with LiveSession(client, "a person walks", record_seconds=1.0) as live:
                changed = False
                async for chunk in live:
                    if chunk.start + chunk.count >= 30 and not changed:
                        await live.change_prompt("a person waves")
                        changed = True
                    if live.state is not None and live.frames > live.state["frame"] + 10:
                        break
                done = await live.stop()
            assert live.state is not None and live.state["prompt"] == "a person waves"
            assert done["frames"] == live.frames
            clip = live.recording()
            assert clip.root.shape[0] == 30  # the last record_seconds exactly
            motion = clip.to_motion()
            assert motion.frames == clip.root.shape[0]

    asyncio.run(main())


def test_cli_records_a_live_session(daemon: Any, tmp_path: Path) -> None:
    from bridge.cli import main

    out = tmp_path / "live.npz"
    code = main(["live", "a person walks", "--seconds", "2", "--change", "1:a person waves", "--url", daemon.url,
                 "-o", str(out)])
    assert code == 0
    motion = Motion.load_npz(out)
    assert 45 <= motion.frames <= 90 and "a person waves" in motion.text


class Teleporting(MotionModel):
    """The real model, but the answers to the requests numbered in `bad` (0-based) jump 1 m a frame along X, as
    the embedded model's rare diverged chunk does."""

    def __init__(self, inner: MotionModel, bad: set[int] | None = None) -> None:
        self.inner = inner
        self.name, self.fps, self.max_seconds = inner.name, inner.fps, inner.max_seconds
        self.default_steps, self.default_cfg = inner.default_steps, inner.default_cfg
        self.bad = bad
        self.requests: list[GenerationRequest] = []

    def generate_batch(self, requests: Sequence[GenerationRequest], on_step: StepCallback | None = None,
                       cancelled: CancelCheck | None = None) -> list[list[Motion] | None]:
        out = self.inner.generate_batch(requests, on_step, cancelled)
        for request, motions in zip(requests, out, strict=True):
            number = len(self.requests)
            self.requests.append(request)
            if motions is not None and (self.bad is None or number in self.bad):
                for i, motion in enumerate(motions):
                    root = np.array(motion.root, copy=True)
                    root[:, 0] += np.arange(len(root)) * 1.0
                    motions[i] = motion.with_(root=root)
        return out


def _stream(raw: Any, url: str, seconds: float, **fields: Any) -> list[dict[str, Any]]:
    """Start a live session with `fields` and return every message of its first `seconds`."""

    async def main() -> list[dict[str, Any]]:
        client = await raw.ready(url)
        await client.send({"op": "live_start", "id": "L", **fields})
        messages = await _frames_for(client, seconds)
        await client.close()
        return messages

    return asyncio.run(main())


def _root_steps(messages: list[dict[str, Any]], arrays: Any) -> np.ndarray:
    roots = [arrays(m)[0] for m in messages if m["op"] == "motion"]
    root = np.concatenate(roots)
    return np.linalg.norm(np.diff(root[:, [0, 2]], axis=0), axis=1)


def test_a_chunk_that_moves_impossibly_fast_is_sampled_again(daemon_factory: Any, tiny_model: MotionModel,
                                                            raw: Any, arrays: Any) -> None:
    smooth = Teleporting(tiny_model, bad=set())
    model = Teleporting(tiny_model, bad={1})
    for m in (smooth, model):
        daemon = daemon_factory(m)

        messages = _stream(raw, daemon.url, 4.5, prompt="a person walks", buffer_ms=200)
        steps = _root_steps(messages, arrays)
        _contiguous(messages)
        # The random-weight test model itself stays under the limit; the teleporting chunk never reaches the client.
        assert steps.max() * 30 < MAX_ROOT_SPEED, m.bad
    # The second request (the first continuation) was sampled again from the same frames with the next seed.
    first, bad, again = model.requests[:3]
    assert again.seed == bad.seed + 1
    np.testing.assert_array_equal(again.constraints.start.root, bad.constraints.start.root)


def test_a_model_that_always_moves_too_fast_still_streams(daemon_factory: Any, tiny_model: MotionModel,
                                                         raw: Any) -> None:
    """Sampling again is bounded (`RESAMPLE_LIMIT`): a model that only ever answers so is streamed as it is."""
    model = Teleporting(tiny_model, bad=None)
    daemon = daemon_factory(model)

    messages = _stream(raw, daemon.url, 4.0, prompt="a person walks", buffer_ms=200)
    assert _contiguous(messages) >= 90  # ≥ 3 s of the 4 s arrived, every other chunk a second try


def test_a_session_keeping_an_area_starts_with_a_short_chunk(daemon_factory: Any, tiny_model: MotionModel,
                                                             raw: Any) -> None:
    """The first chunk cannot be steered, so with an area it is short (`FIRST_CHUNK_IN_AREA_S`); without one it is
    an ordinary chunk."""
    from engine.model.live import CHUNK_SECONDS, FIRST_CHUNK_IN_AREA_S

    firsts = []
    for area in (3.0, 0.0):
        model = PromptLog(tiny_model)
        daemon = daemon_factory(model)

        assert _contiguous(_stream(raw, daemon.url, 2.0, prompt="a person jogs", area=area)) > 30
        firsts.append(model.requests[0].seconds)
        if area == 0.0:
            assert all(r.seconds == CHUNK_SECONDS for r in model.requests[1:])
    assert firsts == [FIRST_CHUNK_IN_AREA_S, CHUNK_SECONDS]


class StandThenWalkOut(MotionModel):
    """The real model's motion on a scripted root: the first chunk steps 1.5 m along +X, the second stands there,
    every later one walks on along +X at 1.5 m/s from wherever the stream stands (away from the start)."""

    def __init__(self, inner: MotionModel) -> None:
        self.inner = inner
        self.name, self.fps, self.max_seconds = inner.name, inner.fps, inner.max_seconds
        self.default_steps, self.default_cfg = inner.default_steps, inner.default_cfg
        self.requests = 0

    def generate_batch(self, requests: Sequence[GenerationRequest], on_step: StepCallback | None = None,
                       cancelled: CancelCheck | None = None) -> list[list[Motion] | None]:
        out = self.inner.generate_batch(requests, on_step, cancelled)
        for request, motions in zip(requests, out, strict=True):
            number, self.requests = self.requests, self.requests + 1
            for i, motion in enumerate(motions or []):
                n = motion.frames
                root = np.zeros((n, 3), np.float32)
                root[:, 1] = 0.9
                if number == 0:
                    root[:, 0] = np.linspace(0.0, 1.5, n)
                else:
                    root[:] = request.constraints.start.root[-1]
                    if number >= 2:
                        root[:, 0] += np.arange(n) * 1.5 / self.fps
                motions[i] = motion.with_(root=root)
        return out


def test_a_chunk_setting_off_from_a_standstill_heads_back_into_the_area(daemon_factory: Any, tiny_model: MotionModel,
                                                                        raw: Any, arrays: Any) -> None:
    """Standing 1.5 m out (past a 3 m area's turning line), the figure sets off walking further out: with an area
    that chunk reaches the client turned towards the centre (`set_off_inwards`); without one it walks on out."""
    ends = {}
    for area in (3.0, 0.0):
        daemon = daemon_factory(StandThenWalkOut(tiny_model))
        messages = _stream(raw, daemon.url, 6.0, prompt="a person walks", area=area, buffer_ms=200)
        _contiguous(messages)
        root = np.concatenate([arrays(m)[0] for m in messages if m["op"] == "motion"])
        first = 20 if area else 60  # the first chunk is 2/3 s with an area, 2 s without
        second = first + 59  # a 2 s continuation adds 59 frames to its context's last one
        assert len(root) >= second + 45, len(root)
        np.testing.assert_allclose(root[first:second, 0], root[first, 0], atol=1e-4)  # the standstill
        ends[area] = float(root[second + 45, 0] - root[second, 0])
    assert ends[0.0] > 2.0  # 1.5 s walking out along +X
    assert ends[3.0] < -1.0, ends  # turned round: back towards the start
