"""Live mode from Python (protocol v1.1, capability "live"): an endless motion that follows the prompt.

    async with MotionBridgeClient() as client:
        async with LiveSession(client, "a person walks forward", area=3.0) as live:
            async for chunk in live:              # LiveChunk: frames start…start+count, in real time
                show(chunk.root, chunk.rotations)
                if chunk.start > 300:
                    await live.change_prompt("a person waves")   # live.state says from which frame
            clip = live.recording()               # the last `record_seconds` as a SampleMotion

Iterating ends when the session ends (`stop`, or the daemon's `done`); leaving the `async with` stops it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from bridge.client import MotionBridgeClient, MotionBridgeError, SampleMotion
from bridge.codec import decode_motion_arrays

RECORD_SECONDS = 60.0
"""How much of the stream a session keeps for `recording()` unless told otherwise."""


@dataclass(frozen=True)
class LiveChunk:
    """One `motion` message of the stream: frames `start` … `start + count − 1`."""

    start: int
    root: np.ndarray  # (count, 3) float32, target convention
    rotations: np.ndarray  # (count, J, 4) float32 x, y, z, w

    @property
    def count(self) -> int:
        return int(self.root.shape[0])


class LiveSession:
    """One live session on a connected client: iterate it for chunks, `change_prompt`, `stop`."""

    def __init__(self, client: MotionBridgeClient, prompt: str, *, target: str = "smplh", seed: int = 0,
                 buffer_ms: int = 500, area: float = 0.0, record_seconds: float = RECORD_SECONDS,
                 request_id: str | None = None) -> None:
        self.client = client
        self.id = request_id or f"live-{id(self):x}"
        self.seed = seed
        self._start: dict[str, Any] = {"op": "live_start", "id": self.id, "prompt": prompt, "target": target,
                                       "seed": seed, "buffer_ms": buffer_ms, "area": area}
        self.target = target
        self.job: str | None = None
        self.state: dict[str, Any] | None = None
        """The last `live_state`: {"prompt", "frame"} — the prompt followed from that frame on."""
        self.done: dict[str, Any] | None = None
        self.frames = 0
        self.fps = 30.0
        self.joints: tuple[str, ...] = ()
        self._events: AsyncIterator[dict[str, Any]] | None = None
        self._kept: deque[LiveChunk] = deque()
        self._kept_frames = 0
        self._record_seconds = record_seconds

    async def __aenter__(self) -> LiveSession:
        self._events = self.client._stream(self._start, ("done",))
        first = await anext(self._events)
        if first.get("op") != "accepted":
            raise MotionBridgeError("internal", f"expected accepted, got {first.get('op')}", self.id)
        self.job = first.get("job")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.done is None and self.client.connected:
            await self.stop()

    def __aiter__(self) -> AsyncIterator[LiveChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[LiveChunk]:
        assert self._events is not None, "use `async with LiveSession(...)`"
        async for event in self._events:
            op = event.get("op")
            if op == "motion":
                if int(event["start"]) != self.frames:
                    raise MotionBridgeError("internal", f"live chunk starts at {event['start']}, not {self.frames}")
                root, rotations = decode_motion_arrays(event)
                chunk = LiveChunk(int(event["start"]), root, rotations)
                self.frames += chunk.count
                self.fps = float(event["fps"])
                self.joints = tuple(event["joints"])
                self._keep(chunk)
                yield chunk
            elif op == "live_state":
                self.state = {"prompt": event["prompt"], "frame": int(event["frame"])}
            elif op == "done":
                self.done = event
                return

    def _keep(self, chunk: LiveChunk) -> None:
        self._kept.append(chunk)
        self._kept_frames += chunk.count
        limit = int(round(self._record_seconds * self.fps))
        while self._kept and self._kept_frames - self._kept[0].count >= limit:
            self._kept_frames -= self._kept.popleft().count

    async def change_prompt(self, prompt: str) -> None:
        """Follow `prompt` from the next frames on (`state` gets the exact frame when the daemon answers)."""
        await self.client._send({"op": "live_prompt", "id": self.id, "prompt": prompt})

    async def stop(self) -> dict[str, Any]:
        """End the session; returns its `done` (frames = frames sent), reading what was still on its way."""
        if self.done is None:
            await self.client._send({"op": "live_stop", "id": self.id})
            async for _ in self._chunks():
                pass
        assert self.done is not None
        return self.done

    def recording(self, seconds: float | None = None) -> SampleMotion:
        """The last `seconds` (default and at most `record_seconds`) of the stream as one clip."""
        if not self._kept:
            raise ValueError("nothing recorded yet")
        root = np.concatenate([c.root for c in self._kept])
        rotations = np.concatenate([c.rotations for c in self._kept])
        n = max(1, int(round(min(seconds or self._record_seconds, self._record_seconds) * self.fps)))
        root, rotations = root[-n:], rotations[-n:]
        return SampleMotion(root, rotations, self.joints, self.fps, self.target, self.seed)
