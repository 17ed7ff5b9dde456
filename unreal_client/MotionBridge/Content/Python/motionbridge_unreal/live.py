"""Live mode on the editor side (protocol v1.1): a ring buffer of streamed frames, a real-time playhead over
it, the state of one live session and a debouncer for prompt edits.

Pure Python, no `unreal` and no sockets: the editor feeds `LiveSession.handle` the daemon's events and calls
`advance` once per tick with the tick's duration; whatever it returns is the frame to pose.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from .clips import Clip
from .protocol import DEFAULT_BUFFER_MS, MotionChunk, ProtocolError, Quat, Vec3

STARTING = "starting"
STREAMING = "streaming"
STOPPING = "stopping"
STOPPED = "stopped"
FAILED = "failed"
ACTIVE_STATES = (STARTING, STREAMING, STOPPING)

HISTORY_SECONDS = 60.0
"""How much streamed motion the ring keeps behind the playhead: the longest Record."""


class FrameRing:
    """The newest `capacity` frames of a stream, addressed by their frame index since the session began."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a frame ring holds at least one frame")
        self.capacity = capacity
        self._root: deque[Vec3] = deque(maxlen=capacity)
        self._rotations: deque[list[Quat]] = deque(maxlen=capacity)
        self.end = 0
        """One past the newest frame's index (frames received in all)."""

    @property
    def first(self) -> int:
        """Index of the oldest frame still held."""
        return self.end - len(self._root)

    def __len__(self) -> int:
        return len(self._root)

    def push(self, start: int, root: list[Vec3], rotations: list[list[Quat]]) -> None:
        """Append frames `start` … `start + len(root) − 1`; they must follow the newest frame held."""
        if start != self.end:
            raise ProtocolError(f"live motion starts at frame {start}, expected {self.end} (the stream must be "
                                "contiguous)")
        if len(root) != len(rotations):
            raise ProtocolError("live motion has different numbers of root and rotation frames")
        self._root.extend(root)
        self._rotations.extend(rotations)
        self.end += len(root)

    def frame(self, index: int) -> tuple[Vec3, list[Quat]]:
        if not self.first <= index < self.end:
            raise IndexError(f"frame {index} is not held (frames {self.first} to {self.end - 1} are)")
        k = index - self.first
        return self._root[k], self._rotations[k]

    def span(self, first: int, end: int) -> tuple[list[Vec3], list[list[Quat]]]:
        """Frames first … end − 1, clamped to what is held, oldest first."""
        first, end = max(first, self.first), min(end, self.end)
        return ([self._root[k - self.first] for k in range(first, end)],
                [self._rotations[k - self.first] for k in range(first, end)])


class LivePlayhead:
    """Real-time playback over a growing stream: starts at the first frame, moves `fps` frames per second of
    editor time, holds on the newest frame when the stream runs dry, and jumps ahead after a long editor
    hitch so the preview never lags the stream by more than `max_lag` frames."""

    def __init__(self, fps: int, max_lag: int) -> None:
        self.fps = fps
        self.max_lag = max_lag
        self.position: float | None = None
        self.stalls = 0
        """Ticks on which the playhead caught up with the stream and had to hold."""

    @property
    def frame(self) -> int | None:
        return None if self.position is None else int(math.floor(self.position))

    def advance(self, delta_seconds: float, first: int, end: int) -> int | None:
        """Move by one tick over the held frames first … end − 1; the frame to show, None before any arrived."""
        if end <= first:
            return None
        if self.position is None:
            self.position = float(first)
            return first
        newest = end - 1
        self.position += max(0.0, delta_seconds) * self.fps
        if self.position > newest:
            self.position = float(newest)
            self.stalls += 1
        elif newest - self.position > self.max_lag:
            self.position = float(newest - self.max_lag // 2)
        self.position = max(self.position, float(first))
        return int(math.floor(self.position))


class PromptDebouncer:
    """Prompt edits become a `live_prompt` only once typing has paused for `delay` seconds (times are given
    by the caller, so the editor passes its clock and tests theirs)."""

    def __init__(self, delay: float = 0.4) -> None:
        self.delay = delay
        self.sent = ""
        self._pending: str | None = None
        self._edited_at = 0.0

    def reset(self, sent: str) -> None:
        self.sent = sent
        self._pending = None

    def edit(self, prompt: str, now: float) -> None:
        self._pending = prompt
        self._edited_at = now

    def due(self, now: float) -> str | None:
        """The prompt to send now, if typing has paused and it differs from the last one sent (blank: never)."""
        pending = self._pending
        if pending is None or now - self._edited_at < self.delay:
            return None
        self._pending = None
        if not pending.strip() or pending.strip() == self.sent.strip():
            return None
        self.sent = pending
        return pending


class LiveSession:
    """One live session of the panel, from `live_start` to its `done` (or `error`): the stream, its playhead,
    the prompt the daemon follows and how the session ended."""

    def __init__(self, request_id: str, prompt: str, fps: int = 30, buffer_ms: int = DEFAULT_BUFFER_MS,
                 history_seconds: float = HISTORY_SECONDS) -> None:
        self.request_id = request_id
        self.prompt = prompt
        self.fps = fps
        self.buffer_ms = buffer_ms
        buffer_frames = max(1, int(round(buffer_ms / 1000.0 * fps)))
        self.ring = FrameRing(int(history_seconds * fps) + 4 * buffer_frames)
        self.playhead = LivePlayhead(fps, max_lag=4 * buffer_frames)
        self.state = STARTING
        self.job: str | None = None
        self.joints: list[str] = []
        self.prompt_frame = 0
        """The first frame that follows `prompt` (live_state.frame)."""
        self.frames_sent: int | None = None
        self.error: str | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def handle(self, message: dict[str, Any]) -> bool:
        """Apply one event; False if it is not this session's."""
        if message.get("id") != self.request_id:
            return False
        op = message.get("op")
        if op == "accepted":
            self.job = message.get("job")
            if self.state == STARTING:
                self.state = STREAMING
        elif op == "motion":
            chunk = MotionChunk(message)
            if not chunk.live:
                raise ProtocolError("a motion for the live session without \"live\": true")
            if self.joints and chunk.joints != self.joints:
                raise ProtocolError("the live stream changed its joints mid-session")
            self.joints = chunk.joints
            self.fps = chunk.fps
            self.playhead.fps = chunk.fps
            self.ring.push(chunk.start, chunk.root, chunk.rotations)
        elif op == "live_state":
            self.prompt = str(message.get("prompt", self.prompt))
            self.prompt_frame = int(message.get("frame", self.ring.end))
        elif op == "done":
            self.state = STOPPED
            self.frames_sent = int(message.get("frames", self.ring.end))
        elif op == "error":
            code = str(message.get("code", "internal"))
            if code == "cancelled" and self.state == STOPPING:
                self.state = STOPPED
            else:
                self.state = FAILED
                self.error = "{}: {}".format(code, message.get("message", ""))
        return True

    def advance(self, delta_seconds: float) -> int | None:
        return self.playhead.advance(delta_seconds, self.ring.first, self.ring.end)

    def shown(self) -> tuple[Vec3, list[Quat]] | None:
        """The frame at the playhead (the pose the preview shows), None before the first frame."""
        frame = self.playhead.frame
        if frame is None or not self.ring.first <= frame < self.ring.end:
            return None
        return self.ring.frame(frame)

    def recent(self, frames: int) -> Clip:
        """The last `frames` frames up to and including the one shown (what the user just watched)."""
        shown = self.playhead.frame
        if shown is None:
            raise ProtocolError("nothing has streamed yet: wait for the live preview to move")
        root, rotations = self.ring.span(shown + 1 - frames, shown + 1)
        return Clip(list(self.joints), self.fps, root, rotations)

    def record(self, seconds: float) -> Clip:
        """The last `seconds` of what was shown, as a clip to bake (shorter if the session is younger)."""
        if not math.isfinite(seconds) or seconds <= 0:
            raise ProtocolError(f"record seconds must be a positive number, got {seconds!r}")
        clip = self.recent(max(2, int(round(seconds * self.fps))))
        if clip.frames < 2:
            raise ProtocolError("less than two frames have been shown: let the live preview run a moment first")
        return clip

    def describe(self) -> str:
        if self.state == STARTING:
            return "live: starting"
        if self.state == STREAMING:
            lag = self.ring.end - 1 - (self.playhead.frame or 0)
            return f"live: '{self.prompt}', frame {self.playhead.frame or 0} ({lag} buffered)"
        if self.state == STOPPING:
            return "live: stopping"
        if self.state == STOPPED:
            return f"live stopped after {self.frames_sent if self.frames_sent is not None else self.ring.end} frames"
        return f"live failed: {self.error}"
