"""`motionbridge bench bridge`: what the daemon itself costs, with a model that costs nothing.

`ZeroCostModel` implements `MotionModel` without a network: deterministic motions of the right length,
every sampler step reported (optionally with a fixed delay), cancellation honoured between steps. The
benchmark starts a real daemon on a free loopback port, lets N concurrent clients send requests over real
WebSockets, and reports p50/p99 request latency and requests per second. Side by side in the same run it
measures what the daemon adds to a bare `websockets` round trip (one client, one request at a time: the
daemon with its disk store against a bare server that answers with the very frames the daemon sent), and
compares one final motion sent as MessagePack binary floats with the same motion as JSON number lists
(size and encode time), which is the reason the protocol carries bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import cast

import msgpack
import numpy as np

from engine.core.motion import Motion, frames_for_seconds
from engine.core.skeleton import FPS, NUM_BODY_JOINTS
from engine.model.generation import (
    CancelCheck,
    Cancelled,
    GenerationRequest,
    MotionModel,
    StepCallback,
    StepEvent,
)


class ZeroCostModel(MotionModel):
    """A MotionModel that does no learning and almost no work: for benchmarks and model-agnostic tests.

    The motion is a deterministic function of (seed, frame): the root travels forward (+Z) at 1 m/s and
    every joint swings about its local X axis with a seed-dependent phase, so different seeds differ.
    """

    name = "zero-cost"
    max_seconds = 12.0
    default_steps = 10
    default_cfg = 5.0

    def __init__(self, step_seconds: float = 0.0, default_steps: int = 10) -> None:
        self.step_seconds = step_seconds
        self.default_steps = default_steps
        self.calls = 0

    def motion(self, request: GenerationRequest, sample: int, progress: float = 1.0) -> Motion:
        frames = frames_for_seconds(request.seconds, int(round(self.max_seconds * FPS)))
        seed = request.seed + sample
        t = np.arange(frames, dtype=np.float64) / FPS
        root = np.stack([np.zeros_like(t), np.full_like(t, 0.95), t], axis=1)
        phase = (seed % 97) * 0.1
        angle = progress * 0.4 * np.sin(2.0 * np.pi * t + phase)[:, None] * np.linspace(0.2, 1.0, NUM_BODY_JOINTS)
        rotations = np.zeros((frames, NUM_BODY_JOINTS, 4))
        rotations[..., 0] = np.sin(angle / 2.0)
        rotations[..., 3] = np.cos(angle / 2.0)
        return Motion(
            root=root.astype(np.float32),
            rotations=rotations.astype(np.float32),
            text=request.prompt,
            seed=seed,
            model=self.name,
        )

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        on_step: StepCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[list[Motion] | None]:
        self.calls += 1
        steps = requests[0].steps or self.default_steps
        active = set(range(len(requests)))
        for step in range(1, steps + 1):
            if cancelled is not None:
                active -= {i for i in active if cancelled(i)}
            if not active:
                raise Cancelled("every request of the batch was cancelled")
            if self.step_seconds:
                time.sleep(self.step_seconds)
            if on_step is not None:
                fraction = step / steps

                def preview(i: int, fraction: float = fraction) -> list[Motion]:
                    r = requests[i]
                    return [self.motion(r, s, fraction) for s in range(r.samples)]

                on_step(StepEvent(step, steps, preview))
        return [[self.motion(r, s) for s in range(r.samples)] if i in active else None for i, r in enumerate(requests)]


# ---------------------------------------------------------------------------------------------- benchmark


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100.0 * len(ordered)) - 1))
    return ordered[index]


def codec_comparison(frames: int = 150, repeats: int = 50) -> dict[str, float]:
    """One final motion message: MessagePack with float32 bytes vs JSON with number lists."""
    from bridge.codec import encode_message
    from bridge.protocol import MotionPayload, motion_messages

    motion = ZeroCostModel().motion(GenerationRequest("codec", seconds=frames / FPS), 0)
    payload = MotionPayload(motion.root, motion.rotations, 0)

    # Both sides start from the same arrays, so array → wire field conversion is inside the timing.
    def as_msgpack() -> bytes:
        message = next(motion_messages("r", "j", 0, payload, "smplh"))
        return cast(bytes, encode_message(message, "motionbridge.v1.msgpack"))

    def as_json_base64() -> bytes:
        message = next(motion_messages("r", "j", 0, payload, "smplh"))
        return cast(str, encode_message(message, "motionbridge.v1.json")).encode()

    def as_json_lists() -> bytes:
        msg = next(motion_messages("r", "j", 0, payload, "smplh"))
        msg["root"] = payload.root.astype(float).ravel().tolist()
        msg["rotations"] = payload.rotations.astype(float).ravel().tolist()
        return json.dumps(msg, separators=(",", ":")).encode()

    def timed(fn) -> tuple[float, int]:
        best = math.inf
        size = 0
        for _ in range(repeats):
            start = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - start)
            size = len(out)
        return best, size

    msgpack_s, msgpack_bytes = timed(as_msgpack)
    json_s, json_bytes = timed(as_json_lists)
    b64_s, b64_bytes = timed(as_json_base64)
    assert msgpack.unpackb(as_msgpack())["count"] == frames
    return {
        "frames": frames,
        "msgpack_bytes": msgpack_bytes,
        "json_lists_bytes": json_bytes,
        "json_base64_bytes": b64_bytes,
        "size_ratio_json_lists_over_msgpack": json_bytes / msgpack_bytes,
        "msgpack_encode_us": msgpack_s * 1e6,
        "json_lists_encode_us": json_s * 1e6,
        "json_base64_encode_us": b64_s * 1e6,
        "encode_time_ratio_json_lists_over_msgpack": json_s / msgpack_s,
    }


async def _bench_daemon(clients: int, requests: int, seconds: float, steps: int) -> dict[str, float]:
    from bridge.client import MotionBridgeClient
    from bridge.protocol import Limits
    from bridge.scheduler import Scheduler
    from bridge.server import MotionBridgeServer, ServerConfig

    with tempfile.TemporaryDirectory(prefix="motionbridge-bench-") as out:
        config = ServerConfig(
            port=0,
            output_dir=out,
            cache_size=0,
            max_batch=8,
            limits=Limits(max_queue=max(64, clients * 2)),
        )
        server = MotionBridgeServer(ZeroCostModel(default_steps=steps), config)
        await server.start()
        latencies: list[float] = []

        async def one_client(c: int) -> None:
            async with MotionBridgeClient(server.url, client_name=f"bench/{c}") as client:
                for r in range(requests):
                    start = time.perf_counter()
                    await client.generate_motion("bench", seconds=seconds, seed=c * 1000 + r)
                    latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(one_client(c) for c in range(clients)))
        wall = time.perf_counter() - start
        scheduler = cast(Scheduler, server.scheduler)
        batches, largest = scheduler.batches_run, scheduler.largest_batch
        await server.shutdown()
    return {
        "clients": clients,
        "requests": len(latencies),
        "wall_s": wall,
        "requests_per_s": len(latencies) / wall,
        "latency_p50_ms": _percentile(latencies, 50) * 1000,
        "latency_p99_ms": _percentile(latencies, 99) * 1000,
        "latency_mean_ms": statistics.fmean(latencies) * 1000,
        "batches": batches,
        "largest_batch": largest,
    }


async def _bench_overhead(requests: int, seconds: float, steps: int) -> dict[str, float]:
    """Daemon round trip vs bare websockets round trip of the same frames, alternating, one request at a time.

    The daemon runs with the zero-cost model and its disk store (no cache, so every request runs the model
    thread). The bare server answers any message with the frames the daemon sent for the first request, so
    both sides move the same bytes through the same client code on the same loop; the difference is what the
    daemon itself costs (validation, scheduler, model thread hop, encoding, store).
    """
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve
    from websockets.typing import Subprotocol

    from bridge.codec import SUBPROTOCOL_MSGPACK
    from bridge.server import MotionBridgeServer, ServerConfig

    msgpack_only = [Subprotocol(SUBPROTOCOL_MSGPACK)]

    def request(seed: int) -> bytes:
        message = {"op": "generate", "id": "r", "prompt": "bench", "seconds": seconds, "steps": steps, "seed": seed}
        return msgpack.packb(message, use_bin_type=True)

    async def round_trip(ws, frame: bytes) -> tuple[float, list[bytes]]:
        start = time.perf_counter()
        await ws.send(frame)
        received: list[bytes] = []
        while True:
            reply = await ws.recv()
            received.append(reply)
            if msgpack.unpackb(reply)["op"] in ("done", "error"):
                return time.perf_counter() - start, received

    with tempfile.TemporaryDirectory(prefix="motionbridge-bench-") as out:
        config = ServerConfig(port=0, output_dir=out, cache_size=0)
        server = MotionBridgeServer(ZeroCostModel(default_steps=steps), config)
        await server.start()
        daemon = await connect(server.url, subprotocols=msgpack_only, compression=None, max_size=None)
        await daemon.recv()
        await daemon.send(msgpack.packb({"op": "identify", "protocol": 1, "client": "bench/overhead"}))
        await daemon.recv()
        _, frames = await round_trip(daemon, request(0))

        async def replay(ws) -> None:
            async for _ in ws:
                for frame in frames:
                    await ws.send(frame)

        async with serve(replay, "127.0.0.1", 0, compression=None, subprotocols=msgpack_only) as bare_server:
            port = bare_server.sockets[0].getsockname()[1]
            bare = await connect(
                f"ws://127.0.0.1:{port}", subprotocols=msgpack_only, compression=None, max_size=None
            )
            await round_trip(bare, request(0))
            through_daemon: list[float] = []
            through_bare: list[float] = []
            for i in range(requests):
                # Alternate which goes first, so neither always runs right after the other's background work.
                order = [(daemon, through_daemon), (bare, through_bare)]
                for ws, times in order if i % 2 == 0 else order[::-1]:
                    elapsed, _ = await round_trip(ws, request(i + 1))
                    times.append(elapsed)
            await bare.close()
        await daemon.close()
        await server.shutdown()
    stats: dict[str, float] = {
        "requests": requests, "frames_per_request": len(frames), "bytes_per_request": sum(map(len, frames))
    }
    for name, times in (("daemon", through_daemon), ("bare", through_bare)):
        stats[f"{name}_p50_ms"] = _percentile(times, 50) * 1000
        stats[f"{name}_p99_ms"] = _percentile(times, 99) * 1000
    stats["overhead_p50_ms"] = stats["daemon_p50_ms"] - stats["bare_p50_ms"]
    stats["overhead_p99_ms"] = stats["daemon_p99_ms"] - stats["bare_p99_ms"]
    return stats


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=8, help="concurrent WebSocket clients (default 8)")
    parser.add_argument("--requests", type=int, default=20, help="requests per client (default 20)")
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length per request (default 5)")
    parser.add_argument("--steps", type=int, default=10, help="sampler steps of the zero-cost model (default 10)")
    parser.add_argument(
        "--overhead-requests",
        type=int,
        default=300,
        help="requests for the daemon-vs-bare-websockets comparison, each side (default 300; 0 skips it)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args: argparse.Namespace) -> int:
    if args.clients < 1 or args.requests < 1:
        print("error: --clients and --requests must be at least 1", file=sys.stderr)
        return 2
    daemon = asyncio.run(_bench_daemon(args.clients, args.requests, args.seconds, args.steps))
    overhead = None
    if args.overhead_requests > 0:
        overhead = asyncio.run(_bench_overhead(args.overhead_requests, args.seconds, args.steps))
    codec = codec_comparison(frames=int(round(args.seconds * FPS)))
    if args.json:
        print(json.dumps({"daemon": daemon, "overhead": overhead, "codec": codec}, indent=1))
        return 0
    print(f"daemon (zero-cost model, {daemon['clients']} clients x {args.requests} requests, {args.seconds:g} s clips)")
    print(f"  requests/s        {daemon['requests_per_s']:10.1f}")
    print(f"  latency p50       {daemon['latency_p50_ms']:10.2f} ms")
    print(f"  latency p99       {daemon['latency_p99_ms']:10.2f} ms")
    print(f"  batches           {daemon['batches']:10d}   (largest {daemon['largest_batch']} samples)")
    if overhead is not None:
        print(
            f"daemon vs bare websockets (1 client, {overhead['requests']} requests each, alternating; "
            f"{overhead['frames_per_request']} frames, {overhead['bytes_per_request']} B per request)"
        )
        print("                          p50          p99")
        for label, key in (("daemon (disk store)", "daemon"), ("bare websockets", "bare"), ("difference", "overhead")):
            print(f"  {label:<19} {overhead[key + '_p50_ms']:7.2f} ms   {overhead[key + '_p99_ms']:7.2f} ms")
    print(f"one final motion of {codec['frames']} frames")
    print(f"  msgpack binary    {codec['msgpack_bytes']:10d} B  {codec['msgpack_encode_us']:10.1f} us")
    print(f"  JSON base64       {codec['json_base64_bytes']:10d} B  {codec['json_base64_encode_us']:10.1f} us")
    print(f"  JSON number lists {codec['json_lists_bytes']:10d} B  {codec['json_lists_encode_us']:10.1f} us")
    print(
        f"  JSON lists / msgpack: size x{codec['size_ratio_json_lists_over_msgpack']:.2f}, "
        f"encode time x{codec['encode_time_ratio_json_lists_over_msgpack']:.1f}"
    )
    return 0
