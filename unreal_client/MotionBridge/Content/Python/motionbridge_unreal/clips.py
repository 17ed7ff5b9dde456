"""Assembling `motion` chunks into clips and tracking one generate request from `accepted` to `done`.

Runs on the editor's game thread (fed from the client's event queue); pure Python, no `unreal`.
"""

from __future__ import annotations

from typing import Any

from .protocol import MotionChunk, ProtocolError, Quat, Vec3

IDLE = "idle"
SENT = "sent"
QUEUED = "queued"
GENERATING = "generating"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
FINISHED_STATES = (IDLE, DONE, FAILED, CANCELLED)


class Clip:
    """A whole motion in the wire frame: `root[f]` and `rotations[f][j]` for `frames` frames at `fps`."""

    def __init__(self, joints: list[str], fps: int, root: list[Vec3], rotations: list[list[Quat]],
                 preview_step: int | None = None) -> None:
        if len(root) != len(rotations) or not root:
            raise ProtocolError("a clip needs at least one frame and as many root positions as rotation frames")
        self.joints = joints
        self.fps = fps
        self.root = root
        self.rotations = rotations
        self.preview_step = preview_step

    @property
    def frames(self) -> int:
        return len(self.root)

    @property
    def seconds(self) -> float:
        return self.frames / float(self.fps)

    def frame_at(self, time_seconds: float) -> int:
        """The frame shown at `time_seconds` of looping playback."""
        return int(time_seconds * self.fps) % self.frames


class GenerationTracker:
    """State of the latest generate request, built from the daemon's events for its id."""

    def __init__(self) -> None:
        self.request_id: str | None = None
        self.state = IDLE
        self.job: str | None = None
        self.step = 0
        self.steps = 0
        self.queue_position = 0
        self.error: str | None = None
        self.preview: Clip | None = None
        self.final: Clip | None = None
        self.done: dict[str, Any] = {}
        self._pending: MotionChunk | None = None
        self._pending_root: list[Vec3] = []
        self._pending_rotations: list[list[Quat]] = []

    def start(self, request_id: str) -> None:
        self.__init__()  # type: ignore[misc]
        self.request_id = request_id
        self.state = SENT

    @property
    def busy(self) -> bool:
        return self.state not in FINISHED_STATES

    @property
    def clip(self) -> Clip | None:
        """What to show: the final clip once it is complete, else the latest preview."""
        return self.final if self.final is not None else self.preview

    def handle(self, message: dict[str, Any]) -> bool:
        """Apply one event; False if it does not belong to the tracked request."""
        if self.request_id is None or message.get("id") != self.request_id:
            return False
        op = message.get("op")
        if op == "accepted":
            self.state = QUEUED
            self.job = message.get("job")
            self.queue_position = int(message.get("queue_position", 0))
        elif op == "progress":
            self.state = GENERATING
            self.job = message.get("job", self.job)
            self.step = int(message.get("step", 0))
            self.steps = int(message.get("steps", 0))
        elif op == "motion":
            self._add_motion(MotionChunk(message))
        elif op == "done":
            if self.final is None:
                self.state = FAILED
                self.error = "the daemon finished without sending the final motion"
            else:
                self.state = DONE
            self.done = dict(message)
        elif op == "error":
            code = str(message.get("code", "internal"))
            self.state = CANCELLED if code == "cancelled" else FAILED
            self.error = "{}: {}".format(code, message.get("message", ""))
        return True

    def _add_motion(self, chunk: MotionChunk) -> None:
        if chunk.sample != 0:
            return  # the plugin asks for one sample; later samples of a multi-sample request are ignored
        if chunk.preview:
            self.preview = Clip(chunk.joints, chunk.fps, chunk.root, chunk.rotations, chunk.step)
            return
        if chunk.start == 0:
            self._pending_root, self._pending_rotations = [], []
        if chunk.start != len(self._pending_root):
            raise ProtocolError(f"motion chunk starts at frame {chunk.start}, expected {len(self._pending_root)}")
        self._pending_root.extend(chunk.root)
        self._pending_rotations.extend(chunk.rotations)
        if chunk.final:
            if len(self._pending_root) != chunk.total:
                raise ProtocolError(
                    f"final motion has {len(self._pending_root)} frames, total says {chunk.total}")
            self.final = Clip(chunk.joints, chunk.fps, self._pending_root, self._pending_rotations)
            self._pending_root, self._pending_rotations = [], []

    @property
    def segments(self) -> list[tuple[int, int]]:
        """done.segments of a timeline request: (first frame, frame count) per segment; empty otherwise."""
        return [(int(s["start"]), int(s["count"])) for s in self.done.get("segments") or []]

    def _describe_segments(self) -> str:
        if not self.segments:
            return ""
        fps = self.final.fps if self.final is not None else 30
        starts = ", ".join(f"{start / fps:.1f}" for start, _ in self.segments)
        return f", {len(self.segments)} segments starting at {starts} s"

    def describe(self) -> str:
        """A one-line status for the panel."""
        if self.state == SENT:
            return "sent, waiting for the daemon"
        if self.state == QUEUED:
            return f"queued ({self.queue_position} ahead)"
        if self.state == GENERATING:
            return f"generating: step {self.step}/{self.steps}"
        if self.state == DONE:
            clip = self.final
            frames, seconds = (clip.frames, clip.seconds) if clip else (0, 0.0)
            cached = ", cached" if self.done.get("cached") else ""
            return f"done: {frames} frames ({seconds:.1f} s){cached}{self._describe_segments()}"
        if self.state in (FAILED, CANCELLED):
            return str(self.error)
        return "idle"
