"""Python client of the MotionBridge daemon (protocol v1, see docs/protocol.md).

    async with MotionBridgeClient("ws://127.0.0.1:8747/v1") as client:
        async for event in client.generate("a person walks forward", seconds=3, preview_every=10):
            ...                                   # accepted, progress, motion (preview/final), done
        result = await client.generate_motion("a person jumps")   # collects the final motion
        result.motions[0].save_npz("jump.npz")

Directing (protocol v1.1, when `hello.capabilities` lists "constraints"/"timeline"): the helpers below build the
wire fields from arrays in the request's target convention, passed as generate params of the same names:

    await client.generate_motion("a person walks on", start=start_from(root, rotations),
                                 keys=[pose_key(2.0, rotations[40])], path=[waypoint(3.0, (1.0, 0.0, 2.0))])
    await client.generate_motion("", segments=[segment("walk forward", 3), segment("sit down", 2)])

`MotionBridgeSyncClient` wraps the same client for scripts without asyncio. Connecting retries with
exponential backoff (the daemon may be starting or restarting), and every request reconnects first if the
connection was lost. A connection lost mid-job raises `ConnectionLost` carrying the job id (the daemon
cancels a disconnected client's jobs; a job that finished is kept and can be `fetch`ed).

Long module: the client, its result assembly and the v1.1 field builders are read together against
docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bridge.codec import (
    PROTOCOL_VERSION,
    SERVER_VERSION,
    SUBPROTOCOL_JSON,
    SUBPROTOCOL_MSGPACK,
    decode_message,
    decode_motion_arrays,
    encode_message,
)
from engine.core.motion import Motion

DEFAULT_URL = "ws://127.0.0.1:8747/v1"
TOKEN_ENV = "MOTIONBRIDGE_TOKEN"
"""The environment variable `motionbridge` commands read a daemon token from."""
CLIENT_NAME = f"motionbridge-python/{SERVER_VERSION}"
_END = object()


class MotionBridgeError(Exception):
    """The daemon answered a request with an `error` (code: bad_request, too_long, busy, ...)."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


class ConnectionLost(MotionBridgeError):
    """The connection closed while a request was in flight; `job` is set if the daemon had accepted it."""

    def __init__(
        self, message: str, request_id: str | None = None, job: str | None = None, close_code: int | None = None
    ) -> None:
        super().__init__("connection_lost", message, request_id)
        self.job = job
        self.close_code = close_code


class HandshakeRefused(Exception):
    """The daemon refused the connection (bad token 4001, protocol 4006, HTTP 403 origin, ...)."""

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code


# ---------------------------------------------------------------------------------------------- v1.1 fields


def _f32(values: Any, shape: tuple[int, ...] | None = None) -> bytes:
    arr = np.ascontiguousarray(values, dtype="<f4")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"expected shape {shape}, got {arr.shape}")
    return arr.tobytes()


def _vector(values: Any) -> list[float]:
    out = [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]
    if len(out) != 3:
        raise ValueError(f"expected [x, y, z], got {len(out)} numbers")
    return out


def start_from(root: Any, rotations: Any, frames: int = 5) -> dict[str, Any]:
    """`start`: continue a clip from its last `frames` frames (root (L, 3), rotations (L, J, 4) in the target's
    convention); frame 0 of the result equals the clip's last frame."""
    root = np.asarray(root, dtype=np.float32)
    rotations = np.asarray(rotations, dtype=np.float32)
    n = max(1, min(int(frames), root.shape[0]))
    return {"motion": {"root": _f32(root[-n:]), "rotations": _f32(rotations[-n:]), "frames": n}}


def start_from_job(job: str, sample: int = 0) -> dict[str, Any]:
    """`start`: continue the end of a finished job of the same daemon."""
    return {"job": job, "sample": sample}


def _pose(rotations: Any, root: Any = None) -> dict[str, Any]:
    pose: dict[str, Any] = {"rotations": _f32(rotations)}
    if root is not None:
        pose["root"] = _vector(root)
    return pose


def pose_key(
    time: float, rotations: Any, root: Any = None, joints: list[str] | None = None, weight: float = 1.0
) -> dict[str, Any]:
    """A `keys` entry: the pose (rotations (J, 4)) at `time` seconds, of the listed `joints` only if given;
    `root` [x, y, z] pins the root too (omitted: root free)."""
    key: dict[str, Any] = {"time": float(time), "pose": _pose(rotations, root), "weight": float(weight)}
    if joints is not None:
        key["joints"] = list(joints)
    return key


def effector_key(time: float, joint: str, position: Any, weight: float = 1.0) -> dict[str, Any]:
    """A `keys` entry: joint `joint` at world `position` [x, y, z] at `time` seconds."""
    return {"time": float(time), "effector": joint, "position": _vector(position), "weight": float(weight)}


def waypoint(time: float, position: Any, facing: float | None = None) -> dict[str, Any]:
    """A `path` entry: the root's ground position at `time` (the up component is ignored); `facing` radians about
    the up axis, 0 = the target's forward."""
    wp: dict[str, Any] = {"time": float(time), "position": _vector(position)}
    if facing is not None:
        wp["facing"] = float(facing)
    return wp


def end_pose(rotations: Any, root: Any = None) -> dict[str, Any]:
    """`end`: the last frame's pose."""
    return {"pose": _pose(rotations, root)}


def segment(prompt: str, seconds: float) -> dict[str, Any]:
    """A `segments` entry of a timeline."""
    return {"prompt": prompt, "seconds": float(seconds)}


@dataclass
class SampleMotion:
    """One sample assembled from its `motion` chunks, in the requested target's convention."""

    root: np.ndarray  # (L, 3) float32
    rotations: np.ndarray  # (L, J, 4) float32 x, y, z, w
    joints: tuple[str, ...]
    fps: float
    target: str
    seed: int

    def to_motion(self, text: str = "", model: str = "") -> Motion:
        """As an engine Motion (only for target smplh: Motion is always in the source convention)."""
        if self.target != "smplh":
            raise ValueError(f"a Motion holds the source convention: request target 'smplh', not {self.target!r}")
        return Motion(self.root, self.rotations, fps=self.fps, text=text, seed=self.seed, model=model)


@dataclass
class GenerationResult:
    """The final motions of a job and its `done` message."""

    job: str
    samples: list[SampleMotion]
    done: dict[str, Any]
    previews: int = 0

    @property
    def cached(self) -> bool:
        return bool(self.done.get("cached"))

    @property
    def segments(self) -> list[dict[str, int]] | None:
        """A timeline's `done.segments` ([{start, count}] in frames), or None."""
        return self.done.get("segments")


@dataclass
class _Assembler:
    """Collects final `motion` chunks per sample; checks they are contiguous and complete."""

    chunks: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, message: dict[str, Any]) -> None:
        self.chunks.setdefault(int(message["sample"]), []).append(message)

    def samples(self) -> list[SampleMotion]:
        out = []
        for sample in sorted(self.chunks):
            parts = self.chunks[sample]
            expected = 0
            roots, rots = [], []
            for msg in parts:
                if int(msg["start"]) != expected:
                    raise MotionBridgeError(
                        "internal", f"sample {sample}: chunk starts at {msg['start']}, not {expected}"
                    )
                root, rot = decode_motion_arrays(msg)
                roots.append(root)
                rots.append(rot)
                expected += int(msg["count"])
            last = parts[-1]
            if expected != int(last["total"]) or not last["final"]:
                raise MotionBridgeError("internal", f"sample {sample}: got {expected} of {last['total']} frames")
            out.append(
                SampleMotion(
                    np.concatenate(roots),
                    np.concatenate(rots),
                    tuple(last["joints"]),
                    float(last["fps"]),
                    str(last["target"]),
                    int(last.get("seed", 0)),
                )
            )
        return out


class MotionBridgeClient:
    """Async client: one WebSocket connection, many concurrent requests multiplexed by id."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        encoding: str = "msgpack",
        client_name: str = CLIENT_NAME,
        origin: str | None = None,
        connect_retries: int = 5,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        open_timeout_s: float = 10.0,
    ) -> None:
        if encoding not in ("msgpack", "json"):
            raise ValueError(f"encoding must be 'msgpack' or 'json', got {encoding!r}")
        self.url = url
        self.token = token
        self.subprotocol = SUBPROTOCOL_MSGPACK if encoding == "msgpack" else SUBPROTOCOL_JSON
        self.client_name = client_name
        self.origin = origin
        self.connect_retries = connect_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.open_timeout_s = open_timeout_s
        self.hello: dict[str, Any] = {}
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._streams: dict[str, asyncio.Queue] = {}
        self._ids = itertools.count(1)
        self._connect_lock = asyncio.Lock()
        self.close_code: int | None = None

    async def __aenter__(self) -> MotionBridgeClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._reader is not None and not self._reader.done()

    # ------------------------------------------------------------------ connection

    async def connect(self) -> dict[str, Any]:
        """Connect and identify, retrying with exponential backoff; returns the daemon's `hello`."""
        async with self._connect_lock:
            if self.connected:
                return self.hello
            delay = self.backoff_s
            for attempt in range(self.connect_retries + 1):
                try:
                    return await self._open()
                except (OSError, asyncio.TimeoutError, InvalidStatus) as exc:
                    if isinstance(exc, InvalidStatus) and exc.response.status_code != 503:
                        body = exc.response.body.decode(errors="replace").strip() if exc.response.body else ""
                        raise HandshakeRefused(f"HTTP {exc.response.status_code}: {body}") from None
                    if attempt == self.connect_retries:
                        raise ConnectionLost(f"cannot reach the daemon at {self.url}: {exc}") from None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_backoff_s)
            raise AssertionError("unreachable")

    async def _open(self) -> dict[str, Any]:
        ws = await connect(
            self.url,
            subprotocols=[self.subprotocol],  # type: ignore[list-item]
            origin=self.origin,  # type: ignore[arg-type]
            compression=None,
            max_size=64 * 1024 * 1024,
            open_timeout=self.open_timeout_s,
            user_agent_header=self.client_name,
        )
        try:
            hello = await self._recv(ws)
            if hello.get("op") != "hello":
                raise HandshakeRefused(f"expected hello, got {hello.get('op')!r}")
            identify: dict[str, Any] = {"op": "identify", "protocol": PROTOCOL_VERSION, "client": self.client_name}
            if self.token is not None:
                identify["token"] = self.token
            await ws.send(encode_message(identify, self.subprotocol))
            ready = await self._recv(ws)
            if ready.get("op") != "ready":
                raise HandshakeRefused(f"expected ready, got {ready}")
        except ConnectionClosed as exc:
            await ws.close()
            code = exc.rcvd.code if exc.rcvd is not None else None
            reason = exc.rcvd.reason if exc.rcvd is not None else ""
            raise HandshakeRefused(f"daemon closed the connection ({code}): {reason}", code) from None
        except BaseException:
            await ws.close()
            raise
        self.hello = hello
        self._ws = ws
        self.close_code = None
        self._reader = asyncio.create_task(self._read_loop(ws), name="motionbridge-client-reader")
        return hello

    async def _recv(self, ws: ClientConnection) -> dict[str, Any]:
        return decode_message(await ws.recv(), self.subprotocol)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self._ws = None

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                message = decode_message(frame, self.subprotocol)
                rid = message.get("id")
                queue = self._streams.get(rid) if isinstance(rid, str) else None
                if queue is not None:
                    queue.put_nowait(message)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = ws.close_code
            for queue in self._streams.values():
                queue.put_nowait(_END)

    # ------------------------------------------------------------------ requests

    def _new_id(self) -> str:
        return f"r{next(self._ids)}"

    async def _send(self, message: dict[str, Any]) -> None:
        if not self.connected:
            await self.connect()
        assert self._ws is not None
        await self._ws.send(encode_message(message, self.subprotocol))

    async def _stream(self, message: dict[str, Any], terminal: tuple[str, ...]) -> AsyncIterator[dict[str, Any]]:
        rid = message["id"]
        queue: asyncio.Queue = asyncio.Queue()
        self._streams[rid] = queue
        job: str | None = None
        finished = False
        try:
            await self._send(message)
            while True:
                item = await queue.get()
                if item is _END:
                    raise ConnectionLost(
                        f"connection closed (code {self.close_code}) while {rid} was in flight"
                        + (f"; fetch job {job} after reconnecting" if job else ""),
                        rid,
                        job,
                        self.close_code,
                    )
                op = item.get("op")
                if op == "accepted":
                    job = item.get("job")
                if op == "error":
                    finished = True
                    raise MotionBridgeError(item.get("code", "internal"), item.get("message", ""), rid)
                yield item
                if op in terminal:
                    finished = True
                    return
        finally:
            self._streams.pop(rid, None)
            if not finished and message.get("op") in ("generate", "live_start") and self.connected:
                # The caller stopped listening: free the daemon's slot instead of finishing unseen work.
                try:
                    await self._send({"op": "cancel", "id": rid})
                except ConnectionClosed:
                    pass

    def generate(self, prompt: str, *, request_id: str | None = None, **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Send a generate; yields accepted, progress, motion (previews and finals) and finally done.

        params: seconds, seed, samples, steps, cfg, target, preview_every, chunk_frames, loop, in_place; v1.1:
        start, keys, path, end, segments (see `start_from`, `pose_key`, `effector_key`, `waypoint`, `end_pose`,
        `segment`; with segments the prompt may be "" and seconds is their sum).
        Raises MotionBridgeError on an `error` reply, ConnectionLost if the connection drops.
        """
        message = {"op": "generate", "id": request_id or self._new_id(), "prompt": prompt}
        message.update({k: v for k, v in params.items() if v is not None})
        return self._stream(message, ("done",))

    async def _collect(
        self, events: AsyncIterator[dict[str, Any]], on_event: Callable[[dict[str, Any]], None] | None
    ) -> GenerationResult:
        assembler = _Assembler()
        previews = 0
        job = ""
        async for event in events:
            if on_event is not None:
                on_event(event)
            op = event.get("op")
            if op == "accepted":
                job = event["job"]
            elif op == "motion":
                if event.get("preview"):
                    previews += 1
                else:
                    assembler.add(event)
            elif op == "done":
                return GenerationResult(event.get("job", job), assembler.samples(), event, previews)
        raise MotionBridgeError("internal", "the reply stream ended without done")

    async def generate_motion(
        self,
        prompt: str,
        *,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        **params: Any,
    ) -> GenerationResult:
        """Generate and collect the final motion (same params as `generate`)."""
        return await self._collect(self.generate(prompt, **params), on_event)

    async def fetch(
        self,
        job: str,
        *,
        target: str | None = None,
        chunk_frames: int | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> GenerationResult:
        """The stored result of a finished job (reconnects first if needed)."""
        message: dict[str, Any] = {"op": "fetch", "id": self._new_id(), "job": job}
        if target is not None:
            message["target"] = target
        if chunk_frames is not None:
            message["chunk_frames"] = chunk_frames
        return await self._collect(self._stream(message, ("done",)), on_event)

    async def cancel(self, request_id: str) -> None:
        """Ask the daemon to cancel a generate; its stream then ends with MotionBridgeError('cancelled')."""
        await self._send({"op": "cancel", "id": request_id})

    async def status(self) -> dict[str, Any]:
        message = {"op": "status", "id": self._new_id()}
        async for reply in self._stream(message, ("status",)):
            return reply
        raise MotionBridgeError("internal", "no status reply")


class MotionBridgeSyncClient:
    """Blocking wrapper: runs a MotionBridgeClient on a private event loop thread."""

    def __init__(self, url: str = DEFAULT_URL, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="motionbridge-sync-client", daemon=True)
        self._thread.start()
        self._client = MotionBridgeClient(url, **options)
        try:
            self.hello = self._call(self._client.connect())
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def generate(
        self, prompt: str, on_event: Callable[[dict[str, Any]], None] | None = None, **params: Any
    ) -> GenerationResult:
        return self._call(self._client.generate_motion(prompt, on_event=on_event, **params))

    def fetch(self, job: str, **params: Any) -> GenerationResult:
        return self._call(self._client.fetch(job, **params))

    def status(self) -> dict[str, Any]:
        return self._call(self._client.status())

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def close(self) -> None:
        try:
            self._call(self._client.close())
        finally:
            self._stop_loop()

    def __enter__(self) -> MotionBridgeSyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "DEFAULT_URL",
    "ConnectionLost",
    "GenerationResult",
    "HandshakeRefused",
    "MotionBridgeClient",
    "MotionBridgeError",
    "MotionBridgeSyncClient",
    "SampleMotion",
    "TOKEN_ENV",
]
