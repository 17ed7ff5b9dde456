"""Live sessions (protocol v1.1 live mode): one endless motion per connection, paced to real time.

A session's task does two things in turn: it asks the scheduler for the next chunk (`engine.model.live`)
whenever fewer than `REFILL_S` seconds of generated frames wait unsent, and it sends the frames that are due,
so that the client holds `buffer_ms` of frames ahead of real time, counted from the first frame sent. When
the client ran dry (generation stalled, or it stopped reading), the clock restarts from what it has, so a
stall never turns into a burst it cannot play.

A prompt change drops the chunk being made and the frames generated but not sent beyond the next `KEEP_S`
seconds, and continues from there: the first frame after them is the `frame` that `live_state` reports.

Memory stays bounded whatever the client does: at most one chunk is being made beside a few seconds of unsent
frames, and nothing is sent while more than `LIVE_BACKLOG_BYTES` of this connection's replies wait in its
outbox: a client that stops reading pauses its stream, and with it generation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from bridge.codec import ErrorCode, error_message
from bridge.protocol import LiveSpec, MotionPayload, done_message, live_motion_message
from bridge.scheduler import LiveChunk, NotAccepting, Scheduler
from engine.core.skeleton import NUM_BODY_JOINTS
from engine.model.errors import Cancelled
from engine.model.live import (
    CHUNK_SECONDS,
    FIRST_CHUNK_IN_AREA_S,
    HISTORY_FRAMES,
    LIVE_STEPS,
    RESAMPLE_LIMIT,
    LiveArea,
    chunk_request,
    new_frames,
    plausible,
    set_off_inwards,
)

log = logging.getLogger("motionbridge.live")

SEND_EVERY_S = 0.05
"""The longest the session waits between looks at its state; frames go out as each falls due (one message a
frame at 30 fps: ~0.7 kB each in MessagePack)."""
REFILL_S = 1.0
"""Ask for the next chunk when less than this much motion waits unsent: one chunk costs ~0.15–0.25 s on one
CPU thread, so the stream keeps ≥ 0.75 s in hand even when a batch step delays the chunk."""
KEEP_S = 0.17
"""At a prompt change, this much of the motion generated but not yet sent is kept (and the new prompt follows
it): the stream flows on while the new chunk is made (~0.15 s on a quiet thread) instead of pausing for it,
and those frames fall due while it is made anyway. Measured (`bench live`, 59 changes): with 0.13 s the
longest pause was 100.0 ms and the change latency p95 192 ms; with 0.17 s 99.5 ms and 209 ms."""
LIVE_BACKLOG_BYTES = 256 * 1024
"""Send no live frames while more than this waits in the connection's outbox (~10 s of frames)."""
JOINS_KEPT = 1024
"""Join frames a session remembers (about half an hour of 2 s chunks), so that its memory stays bounded."""


class LiveSession:
    """One connection's live stream; `run()` is its task, `change_prompt` and `stop` come from its messages."""

    def __init__(
        self,
        spec: LiveSpec,
        job_id: str,
        scheduler: Scheduler,
        fps: float,
        send: Callable[[dict[str, Any]], None],
        backlog: Callable[[], int],
    ) -> None:
        self.spec = spec
        self.job_id = job_id
        self.prompt = spec.prompt
        self.fps = float(fps)
        self.sent = 0
        self.chunks = 0
        self.model_seconds = 0.0
        """Model time spent on this session's chunks, kept or dropped (its cost to the daemon)."""
        self.generated = 0
        """Frames of the chunks taken into the stream, the unsent ones a prompt change dropped included (a chunk
        cancelled while being made counts in `model_seconds` only)."""
        self.resampled = 0
        """Chunks sampled again because their motion was implausible (`engine.model.live.plausible`)."""
        self.set_off_turns = 0
        """Chunks from a standstill turned to set off towards the area's centre (`live.set_off_inwards`)."""
        self._retries = 0
        self.joins: deque[int] = deque(maxlen=JOINS_KEPT)
        """The first frame of each recent chunk and prompt change: where the stream was joined (benchmarks)."""
        self._scheduler = scheduler
        self._send = send
        self._backlog = backlog
        self._buffer_s = spec.buffer_ms / 1000.0
        self._steps = spec.steps if spec.steps is not None else LIVE_STEPS
        self._epoch = 0
        self._stopped = False
        self._wake = asyncio.Event()
        self._chunk: LiveChunk | None = None
        self._chunk_epoch = -1
        self._chunk_continues = False
        self._area: LiveArea | None = None
        self._started = time.perf_counter()
        empty_root, empty_rot = np.zeros((0, 3)), np.zeros((0, NUM_BODY_JOINTS, 4))
        self._pending = (empty_root, empty_rot)
        """Frames generated but not sent (source convention)."""
        self._tail = (empty_root, empty_rot)
        """The last HISTORY_FRAMES frames sent: what a chunk continues from when nothing is pending."""

    # ------------------------------------------------------------------ messages

    def change_prompt(self, prompt: str) -> int:
        """Follow `prompt` from the frame returned: the chunk being made for the old prompt and the unsent frames
        past the next `KEEP_S` seconds are dropped."""
        self.prompt = prompt
        self._epoch += 1
        self._drop_chunk()
        keep = int(round(KEEP_S * self.fps))
        self._pending = (self._pending[0][:keep], self._pending[1][:keep])
        self._wake.set()
        return self.sent + self._pending[0].shape[0]

    def stop(self) -> None:
        self._stopped = True
        self._drop_chunk()
        self._wake.set()

    @property
    def stopped(self) -> bool:
        return self._stopped

    # ------------------------------------------------------------------ the task

    async def run(self) -> None:
        """Stream until stopped; then `done` (frames = frames sent), or `error` if the model failed."""
        try:
            failure = await self._stream()
        except Exception as exc:  # a bug here ends this session, never the daemon or another client
            log.exception("live session %s failed", self.job_id)
            failure = (ErrorCode.INTERNAL, f"internal error in the live session: {exc}")
        finally:
            self._stopped = True
            self._drop_chunk()
        if failure is not None:
            self._send(error_message(failure[0], failure[1], self.spec.id))
            return
        seconds = time.perf_counter() - self._started
        done = done_message(self.spec.id, self.job_id, 1, self.sent, self.fps, False,
                            {"total_ms": seconds * 1000.0, "model_ms": self.model_seconds * 1000.0})
        done["generated"] = self.generated  # with model_ms: the generation speed a client can check
        self._send(done)

    async def _stream(self) -> tuple[ErrorCode, str] | None:
        loop = asyncio.get_running_loop()
        clock: float | None = None  # loop time at which the client plays frame 0
        while not self._stopped:
            failure = self._collect()
            if failure is not None:
                return failure
            if self._chunk is None and self._pending[0].shape[0] < REFILL_S * self.fps:
                try:
                    self._request_chunk()
                except NotAccepting:
                    return None  # shutting down: the stream ends with done
            now = loop.time()
            if clock is not None and self.sent < (now - clock) * self.fps:
                clock = now - self.sent / self.fps  # the client ran dry: it goes on from what it has
            if self._pending[0].shape[0] and self._backlog() <= LIVE_BACKLOG_BYTES:
                if clock is None:
                    clock = now
                due = int((now - clock + self._buffer_s) * self.fps) + 1 - self.sent
                self._send_frames(min(due, self._pending[0].shape[0]))
            self._wake.clear()
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
            if self._chunk is not None:
                waits.append(self._chunk.future)
            timeout = SEND_EVERY_S
            if clock is not None and self._pending[0].shape[0]:
                # Wake when the next frame falls due, not on the next tick: a new prompt's first frame goes out
                # the moment it may (up to a tick earlier), which is what a prompt change's latency is.
                timeout = min(timeout, max(0.0, clock + self.sent / self.fps - self._buffer_s - loop.time()))
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            waits[0].cancel()
        return None

    def _collect(self) -> tuple[ErrorCode, str] | None:
        """Take a finished chunk's frames into the pending ones (a chunk for an older prompt is dropped)."""
        chunk = self._chunk
        if chunk is None or not chunk.future.done():
            return None
        self._chunk = None
        self.model_seconds += chunk.seconds
        try:
            motion = chunk.future.result()
        except Cancelled:
            return None
        except Exception as exc:
            log.warning("live session %s: the model failed: %s", self.job_id, exc)
            return (ErrorCode.MODEL_ERROR, f"the model failed: {type(exc).__name__}: {exc}")
        if self._chunk_epoch != self._epoch:
            return None
        root, rotations = new_frames(motion, self._chunk_continues)
        history = self._history()[0]
        previous = history[-1] if history.shape[0] else None
        if self._retries < RESAMPLE_LIMIT and not plausible(root, self.fps, previous):
            # The next request continues from the same frames with the next seed (`self.chunks` moved on).
            log.info("live session %s: chunk %d moved implausibly fast: sampling it again", self.job_id, self.chunks)
            self._retries += 1
            self.resampled += 1
            return None
        self._retries = 0
        if self._area is not None and self._chunk_continues:
            turned = set_off_inwards(history, root, rotations, self._area, self.fps)
            if turned is not None:
                root, rotations = turned
                self.set_off_turns += 1
        self.generated += root.shape[0]
        self.joins.append(self.sent + self._pending[0].shape[0])
        if self._area is None and self.spec.area_m > 0:
            self._area = LiveArea((float(root[0, 0]), float(root[0, 2])), self.spec.area_m)
        self._pending = (np.concatenate([self._pending[0], root]), np.concatenate([self._pending[1], rotations]))
        return None

    def _history(self) -> tuple[np.ndarray, np.ndarray]:
        """The stream's last `HISTORY_FRAMES` frames, sent and pending (root, rotations): what a chunk continues."""
        return (np.concatenate([self._tail[0], self._pending[0]])[-HISTORY_FRAMES:],
                np.concatenate([self._tail[1], self._pending[1]])[-HISTORY_FRAMES:])

    def _request_chunk(self) -> None:
        root, rotations = self._history()
        context = (root, rotations) if root.shape[0] else None
        seconds = FIRST_CHUNK_IN_AREA_S if context is None and self.spec.area_m > 0 else CHUNK_SECONDS
        request = chunk_request(self.prompt, self.spec.seed + self.chunks, context, fps=self.fps, seconds=seconds,
                                steps=self._steps, area=self._area)
        self._chunk = self._scheduler.generate_live(request)
        self._chunk_epoch = self._epoch
        self._chunk_continues = context is not None
        self.chunks += 1

    def _send_frames(self, count: int) -> None:
        if count <= 0:
            return
        root, rotations = self._pending[0][:count], self._pending[1][:count]
        payload = MotionPayload(root, rotations, self.spec.seed, self.fps)
        self._send(live_motion_message(self.spec.id, self.job_id, payload, self.spec.target, self.sent))
        self.sent += count
        self._pending = (self._pending[0][count:], self._pending[1][count:])
        self._tail = (np.concatenate([self._tail[0], root])[-HISTORY_FRAMES:],
                      np.concatenate([self._tail[1], rotations])[-HISTORY_FRAMES:])

    def _drop_chunk(self) -> None:
        if self._chunk is not None:
            self._chunk.cancelled = True
            chunk = self._chunk
            self._chunk = None

            def settled(future: asyncio.Future[Any]) -> None:
                # Nobody awaits it any more: count its cost, and read its outcome so asyncio does not report it.
                self.model_seconds += chunk.seconds
                if not future.cancelled():
                    future.exception()

            chunk.future.add_done_callback(settled)
