"""`motionbridge bench live`: live mode measured at the client, against a real daemon on loopback.

Three runs on one daemon whose model samples on ONE CPU thread (issue 20's bars):
- endurance: `--minutes` (5) of live motion with a prompt change every 5 s, the root kept within `--area` m:
  generation speed (seconds of motion per second of model time), prompt change → first frame of the new
  prompt at the client, the longest pause between motion messages, frames that arrived after the client
  would have played them (its playhead starts with the first frame), the root's largest distance from the
  centre;
- quality: a 60 s recording with 6 prompt changes (prompts fixed in `STRETCHES` before any result was seen):
  velocity/acceleration jumps at every chunk join and prompt change against the motion-capture data's 99th
  percentile, foot skating against the data's, and each prompt's physical check on the 5 s that follow the
  first second of its stretch;
- sharing: 30 s of live motion while a second client generates 5 s clips back to back: the live pauses
  and late frames, and the batch clips' time beside the same clips alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from bridge.codec import SUBPROTOCOL_MSGPACK, decode_message, encode_message

CHANGE_EVERY_S = 5.0
ENDURANCE_PROMPTS = (
    "a person walks forward", "a person waves with the right hand", "someone jogs in place",
    "a person jumps up and down", "a man walks slowly and looks around", "a person crouches down",
)
STRETCHES = (
    ("a man strolls ahead", "walk"),
    ("a person leaps up into the air", "jump"),
    ("someone creeps on all fours", "crawl"),
    ("a man strolls ahead", "walk"),
    ("a person steps backwards", "backwards"),
    ("a person is running as fast as possible", "run"),
    ("a fighter kicks high with his right foot", "kick"),
)
"""The 60 s recording: the first prompt, then six changes; held-out prompts (engine.train.evaluation.HELD_OUT)
with their checks."""
BATCH_PROMPT = "a person walks in a circle"


@dataclass
class Stream:
    """What one live client saw."""

    roots: list[np.ndarray] = field(default_factory=list)
    rotations: list[np.ndarray] = field(default_factory=list)
    arrivals: list[tuple[float, int, int]] = field(default_factory=list)  # (time, start, count)
    changes: list[tuple[float, int]] = field(default_factory=list)  # (time sent, frame of the new prompt)
    done: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0

    @property
    def frames(self) -> int:
        return sum(c for _, _, c in self.arrivals)

    def motion(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.roots).astype(np.float64), np.concatenate(self.rotations).astype(np.float64)

    def change_latencies_ms(self) -> list[float]:
        out = []
        for sent, frame in self.changes:
            arrived = next((t for t, s, c in self.arrivals if s + c > frame and t >= sent), None)
            if arrived is not None:
                out.append((arrived - sent) * 1000.0)
        return out

    def pauses_ms(self) -> np.ndarray:
        times = np.array([t for t, _, _ in self.arrivals])
        return np.diff(times) * 1000.0 if times.size > 1 else np.zeros(1)

    def late_frames(self, fps: float) -> tuple[int, float]:
        """Frames that arrived after a client playing from the first arrival on would have shown them, and the
        worst lateness in ms."""
        t0 = self.arrivals[0][0]
        late, worst = 0, 0.0
        for t, start, count in self.arrivals:
            for i in range(start, start + count):
                lateness = t - (t0 + i / fps)
                if lateness > 0:
                    late += 1
                    worst = max(worst, lateness * 1000.0)
        return late, worst


async def _send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(encode_message(message, SUBPROTOCOL_MSGPACK))


async def _open(url: str) -> ClientConnection:
    ws = await connect(url, subprotocols=[SUBPROTOCOL_MSGPACK], max_size=None, compression=None)  # type: ignore[list-item]
    decode_message(await ws.recv(), SUBPROTOCOL_MSGPACK)  # hello
    await _send(ws, {"op": "identify", "protocol": 1, "client": "bench-live/1"})
    decode_message(await ws.recv(), SUBPROTOCOL_MSGPACK)  # ready
    return ws


async def live_session(url: str, schedule: list[tuple[float, str]], seconds: float, area: float = 0.0,
                       buffer_ms: int = 500, steps: int | None = None) -> Stream:
    """One live client: `schedule` is (seconds after the start, prompt), the first at 0."""
    ws = await _open(url)
    stream = Stream()
    start: dict[str, Any] = {"op": "live_start", "id": "live", "prompt": schedule[0][1], "buffer_ms": buffer_ms,
                             "area": area}
    if steps is not None:
        start["steps"] = steps
    t0 = stream.started = time.perf_counter()
    await _send(ws, start)
    upcoming = list(schedule[1:])
    stopped = False
    pending_change: float | None = None
    while True:
        now = time.perf_counter() - t0
        if upcoming and now >= upcoming[0][0]:
            pending_change = time.perf_counter()
            await _send(ws, {"op": "live_prompt", "id": "live", "prompt": upcoming.pop(0)[1]})
        if not stopped and now >= seconds:
            await _send(ws, {"op": "live_stop", "id": "live"})
            stopped = True
        wait = min([seconds - now] + [upcoming[0][0] - now] if upcoming else [seconds - now])
        try:
            frame = await asyncio.wait_for(ws.recv(), max(0.005, wait) if not stopped else 30.0)
        except TimeoutError:
            continue
        msg = decode_message(frame, SUBPROTOCOL_MSGPACK)
        if msg["op"] == "motion":
            count = int(msg["count"])
            if msg["start"] != stream.frames:
                raise RuntimeError(f"live stream not contiguous: start {msg['start']} after {stream.frames} frames")
            stream.arrivals.append((time.perf_counter(), int(msg["start"]), count))
            stream.roots.append(np.frombuffer(msg["root"], "<f4").reshape(count, 3))
            stream.rotations.append(np.frombuffer(msg["rotations"], "<f4").reshape(count, -1, 4))
        elif msg["op"] == "live_state":
            assert pending_change is not None
            stream.changes.append((pending_change, int(msg["frame"])))
        elif msg["op"] in ("done", "error"):
            stream.done = msg
            break
    await ws.close()
    if stream.done.get("op") != "done":
        raise RuntimeError(f"live session failed: {stream.done}")
    return stream


async def batch_client(url: str, until: float) -> list[float]:
    """Generate 5 s clips back to back until `until` (perf_counter); each clip's seconds from send to done."""
    ws = await _open(url)
    times, n = [], 0
    while time.perf_counter() < until:
        n += 1
        began = time.perf_counter()
        await _send(ws, {"op": "generate", "id": f"b{n}", "prompt": BATCH_PROMPT, "seconds": 5.0, "seed": n})
        while True:
            msg = decode_message(await ws.recv(), SUBPROTOCOL_MSGPACK)
            if msg.get("op") in ("done", "error") and msg.get("id") == f"b{n}":
                break
        times.append(time.perf_counter() - began)
    await ws.close()
    return times


def _stream_figures(stream: Stream, fps: float) -> dict[str, Any]:
    pauses = stream.pauses_ms()
    late, worst = stream.late_frames(fps)
    lat = stream.change_latencies_ms()
    timings = stream.done.get("timings", {})
    generated_s = stream.done.get("generated", 0) / fps
    model_s = timings.get("model_ms", 0.0) / 1000.0
    return {
        "frames": stream.frames,
        "seconds": round(stream.frames / fps, 2),
        "realtime_factor": round(generated_s / model_s, 2) if model_s > 0 else None,
        "first_frame_ms": round((stream.arrivals[0][0] - stream.started) * 1000.0, 1),
        "change_latency_ms": {"count": len(lat), "median": round(float(np.median(lat)), 1) if lat else None,
                              "p95": round(float(np.percentile(lat, 95)), 1) if lat else None,
                              "max": round(max(lat), 1) if lat else None},
        "pause_ms": {"p99": round(float(np.percentile(pauses, 99)), 1), "max": round(float(pauses.max()), 1)},
        "late_frames": late,
        "worst_lateness_ms": round(worst, 1),
    }


def _quality(stream: Stream, fps: float, joins: list[int], data: Path | None) -> dict[str, Any]:
    from engine.core.motion import Motion
    from engine.train.directing_metrics import data_reference, join_jumps, positions
    from engine.train.evaluation import HELD_OUT, canonical_motion, foot_skating, mean_figure

    root, rotations = stream.motion()
    pos = positions(root, rotations)
    ref = data_reference(data)
    checks = {(c.prompt, c.concept): c for c in HELD_OUT}
    frames = [0] + [f for _, f in stream.changes]
    cuts = sorted({j for j in joins if 2 < j < len(pos) - 3} | {f for f in frames[1:] if 2 < f < len(pos) - 3})
    jumps = [join_jumps(pos, j, fps) for j in cuts]
    stretches = []
    for k, (prompt, concept) in enumerate(STRETCHES[: len(frames)]):
        lo = frames[k] + int(fps)
        window = slice(lo, min(lo + int(5 * fps), len(root)))
        check = checks[(prompt, concept)]
        clip = canonical_motion(Motion(root[window].astype(np.float32), rotations[window].astype(np.float32), fps=fps))
        value = check.measure(clip)
        hi = frames[k + 1] if k + 1 < len(frames) else len(root)
        stretches.append({"prompt": prompt, "concept": concept, "from_frame": lo, "value": round(float(value), 3),
                          "passed": bool(check.passes(value, {"walk_speed": 1.0})),
                          "skating_mps": round(mean_figure([foot_skating(pos[frames[k]:hi], fps)]), 3)})
    # Per stretch, each lifted to the floor on its own as a clip is (one lift for the whole minute let a single
    # low frame raise every other stretch off the floor, and their steps stopped counting as contacts).
    bounds = frames + [len(pos)]
    skating = mean_figure([foot_skating(pos[a:b], fps) for a, b in zip(bounds, bounds[1:], strict=False) if b - a > 1])
    return {
        "joins": len(cuts),
        "join_frames": cuts,
        "velocity_jump_max_mps": round(max(j[0] for j in jumps), 3) if jumps else None,
        "acceleration_jump_max_mps2": round(max(j[1] for j in jumps), 1) if jumps else None,
        "data_velocity_jump_p99_mps": round(ref["velocity_jump_p99_mps"], 3),
        "data_acceleration_jump_p99_mps2": round(ref["acceleration_jump_p99_mps2"], 1),
        "joins_over_velocity_p99": int(sum(j[0] > ref["velocity_jump_p99_mps"] for j in jumps)),
        "joins_over_acceleration_p99": int(sum(j[1] > ref["acceleration_jump_p99_mps2"] for j in jumps)),
        "skating_mps": round(skating, 4),
        "skating_ratio": round(skating / ref["foot_skating_mps"], 2),
        "data_skating_mps": ref["foot_skating_mps"],
        "stretches": stretches,
        "source": ref["source"],
    }


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from bridge.server import MotionBridgeServer, ServerConfig
    from bridge.serving import load_on_model_thread

    model, thread = load_on_model_thread(args.model, "cpu", None, 1)
    config = ServerConfig(port=0, output_dir=None)
    server = MotionBridgeServer(model, config, model_thread=thread)
    await server.start()
    fps = float(model.fps)
    joins_seen: list[int] = []
    counts = {"resampled": 0, "set_off_turns": 0}

    def watch_joins() -> None:  # the bench reads the session's join frames from the daemon it runs in-process
        for client in server._clients:
            if client.live is not None:
                joins_seen[:] = list(client.live.joins)
                counts.update(resampled=client.live.resampled, set_off_turns=client.live.set_off_turns)

    async def watched(coro: Any) -> Stream:
        task = asyncio.ensure_future(coro)
        while not task.done():
            watch_joins()
            await asyncio.sleep(0.5)
        return task.result()

    report: dict[str, Any] = {"model": model.name, "threads": 1, "steps": args.steps}
    try:
        seconds = args.minutes * 60.0
        if seconds > 0:
            schedule = [(k * CHANGE_EVERY_S, ENDURANCE_PROMPTS[k % len(ENDURANCE_PROMPTS)])
                        for k in range(max(1, int(seconds / CHANGE_EVERY_S)))]
            endurance = await watched(live_session(server.url, schedule, seconds, area=args.area, steps=args.steps))
            figures = _stream_figures(endurance, fps)
            root, _ = endurance.motion()
            centre = root[0, [0, 2]]
            figures["area_m"] = args.area
            distance = np.linalg.norm(root[:, [0, 2]] - centre, axis=1)
            figures["max_distance_m"] = round(float(distance.max()), 2)
            figures["share_outside"] = round(float((distance > args.area).mean()), 3) if args.area > 0 else 0.0
            figures["chunks_turned_at_set_off"] = counts["set_off_turns"]
            report["endurance"] = figures
            print("endurance:", json.dumps(figures), flush=True)

        schedule = [(k * 60.0 / len(STRETCHES), p) for k, (p, _) in enumerate(STRETCHES)]
        recorded = await watched(live_session(server.url, schedule, 60.0, steps=args.steps))
        report["quality"] = _quality(recorded, fps, joins_seen, args.data)
        report["quality"]["chunks_sampled_again"] = counts["resampled"]
        if args.recording is not None:
            from engine.core.motion import Motion

            root, rotations = recorded.motion()
            text = " → ".join(p for p, _ in STRETCHES)
            Motion(root.astype(np.float32), rotations.astype(np.float32), fps=fps, text=text).save_npz(args.recording)
        report["quality"]["stream"] = _stream_figures(recorded, fps)
        print("quality:", json.dumps(report["quality"]), flush=True)

        alone = await batch_client(server.url, time.perf_counter() + 15.0)
        shared_until = time.perf_counter() + 30.0
        live_task = asyncio.ensure_future(live_session(
            server.url, [(0.0, ENDURANCE_PROMPTS[0]), (10.0, ENDURANCE_PROMPTS[1]), (20.0, ENDURANCE_PROMPTS[2])],
            30.0, steps=args.steps))
        beside = await batch_client(server.url, shared_until)
        live = await live_task
        report["sharing"] = {"live": _stream_figures(live, fps),
                             "batch_clip_s_alone": round(float(np.median(alone)), 3),
                             "batch_clip_s_beside_live": round(float(np.median(beside)), 3),
                             "batch_clips": [len(alone), len(beside)]}
        print("sharing:", json.dumps(report["sharing"]), flush=True)
    finally:
        await server.shutdown()
    return report


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="tiny", help="model to serve (default: the embedded model)")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the endurance run (default 5; 0 skips)")
    parser.add_argument("--area", type=float, default=4.0, help="radius the endurance run keeps the root in, m")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps per chunk (default: the daemon's)")
    parser.add_argument("--data", type=Path, default=None,
                        help="a built data set for the data reference (default: the shared CMU BVH files)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    parser.add_argument("--recording", type=Path, default=None,
                        help="write the 60 s quality recording here (.npz, SMPL-H) to look at or replay")


def run(args: argparse.Namespace) -> int:
    report = asyncio.run(_bench(args))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=1))
    return 0
