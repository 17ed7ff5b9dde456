"""The gateway side of `motionbridge serve --workers URL`: jobs run on MQTT workers instead of a local model.

`MqttGateway` has the job surface of `bridge.scheduler.Scheduler` (`start`, `submit(Job)`, `cancel`,
`cancel_owner`, `shutdown`, `queued`, `running`, `accepting`, `model`), so the WebSocket server drives
either one the same way and still converts motions to the client's target at the edge. Every job gets
exactly one terminal event (`Finished` or `Failed`), whatever the broker delivers:

- a job goes to `<prefix>/requests` (QoS 1) with an `attempt` number; the first worker that accepts the
  current attempt is bound to it; a second worker accepting the same attempt (a duplicate delivery) is
  told to cancel its copy;
- if the bound worker goes offline (its last will), or nothing is heard of the job for `silence_timeout_s`
  (no progress, and no heartbeat of its worker listing it), the job is dispatched again as the next
  attempt, at most `max_attempts` times;
- a job nobody accepts within `accept_timeout_s` is sent again; after `busy_timeout_s` it fails `busy`;
- the first result for a job that is still open finishes it; every later reply for it is dropped, so a
  client never sees two results; cancel is broadcast to the workers on `<prefix>/cancel/<job>`.

Long module: the gateway's job backend (pool of workers, leases, retries) is one state machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from bridge.codec import ErrorCode
from bridge.mqtt.events import NodePresence
from bridge.mqtt.link import MqttLink, payload_bytes
from bridge.mqtt.schema import (
    AcceptedReply,
    AnyReply,
    BrokerUrl,
    CancelRequest,
    ErrorReply,
    JobRequest,
    NodeStatus,
    PreviewReply,
    ProgressReply,
    RejectedReply,
    ResultReply,
    Topics,
    check_name,
    default_node_id,
    pack,
    unpack,
    unpack_reply,
)
from bridge.protocol import Limits, check_limits, narrowest
from bridge.scheduler import Failed, Finished, Job, JobState, NotAccepting, Preview, Progress, QueueFull
from bridge.scheduler import JobEvent as SchedulerEvent
from bridge.server import MotionBridgeServer, ServerConfig
from bridge.serving import serve_until_signal
from engine.core.skeleton import FPS
from engine.model.generation import model_info

log = logging.getLogger("motionbridge.gateway")


@dataclass
class PoolModel:
    """The model the worker pool serves, as its workers describe it in their status (`model_info`).

    Quacks like the descriptive part of `engine.model.generation.MotionModel` (name, fps, limits, defaults,
    `info()`), which is all a server without a local model needs for `hello` and request validation.
    """

    name: str = "remote"
    fps: int = FPS
    max_seconds: float = 12.0
    default_steps: int = 50
    default_cfg: float = 5.0
    device: str = "remote"
    known: bool = False
    worker_limits: dict[str, Limits] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        return model_info(self)

    @property
    def limits(self) -> Limits | None:
        """The job limits every worker listed now can serve (a job must fit whichever worker takes it)."""
        limits = list(self.worker_limits.values())
        return narrowest(limits[0], limits[1:]) if limits else None

    def forget(self, node: str) -> None:
        self.worker_limits.pop(node, None)

    def learn(self, status: NodeStatus) -> None:
        if status.limits is not None:
            try:
                self.worker_limits[status.node] = Limits.from_wire(status.limits)
            except ValueError as exc:
                log.warning("worker %s sent unusable limits: %s", status.node, exc)
        info = status.model_info or {}
        name = status.model or info.get("name")
        if self.known:
            if name and name != self.name:
                log.warning(
                    "worker %s serves %r but the pool serves %r: keep one model per group", status.node, name, self.name
                )
            return
        try:
            self.name = str(name or self.name)
            self.fps = int(info.get("fps", self.fps))
            self.max_seconds = float(info.get("max_seconds", self.max_seconds))
            self.default_steps = int(info.get("default_steps", self.default_steps))
            self.default_cfg = float(info.get("default_cfg", self.default_cfg))
            self.device = f"remote:{status.device or 'unknown'}"
        except (TypeError, ValueError):
            log.warning("worker %s sent an unusable model_info %r", status.node, info)
            return
        self.known = True


@dataclass
class WorkerSeen:
    status: NodeStatus
    seen: float


@dataclass(eq=False)
class RemoteJob:
    """A job of this gateway while it is open; `worker` is bound by the first accept of `attempt`."""

    job: Job
    created: float
    dispatched: float
    attempt: int = 0
    worker: str | None = None
    last_seen: float = 0.0
    losses: int = 0
    retry_at: float | None = None
    started: bool = False


@dataclass
class MqttGateway:
    """Runs jobs on the workers behind a broker; the `Scheduler` surface for `serve --workers URL`."""

    url: BrokerUrl | str
    gateway: str | None = None
    accept_timeout_s: float = 3.0
    silence_timeout_s: float = 8.0
    busy_timeout_s: float = 60.0
    max_attempts: int = 4
    max_queue: int = 256
    heartbeat_s: float = 2.0
    watch_period_s: float = 0.1
    model: PoolModel = field(default_factory=PoolModel)
    workers: dict[str, WorkerSeen] = field(default_factory=dict, init=False)
    redispatches: int = field(default=0, init=False)
    jobs_done: int = field(default=0, init=False)
    duplicates_cancelled: int = field(default=0, init=False)
    late_results_dropped: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.url = BrokerUrl.parse(self.url) if isinstance(self.url, str) else self.url
        self.gateway = check_name("gateway id", self.gateway or default_node_id("gateway"))
        self.topics = Topics(self.url.prefix)
        self.presence = NodePresence(self.topics, self.gateway, "gateway", self._status_fields, self.heartbeat_s)
        self.link = MqttLink(
            self.url,
            client_id=f"{self.gateway}-{uuid.uuid4().hex[:6]}",
            subscriptions=[self.topics.replies(self.gateway), self.topics.all_status],
            on_message=self._on_message,
            on_connect=self._on_connect,
            will=self.presence.will(),
        )
        self._jobs: dict[str, RemoteJob] = {}
        # Recently finished job ids: a copy of one that starts late somewhere is told to stop.
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._accepting = True
        self._watch: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker_seen = asyncio.Event()

    # ------------------------------------------------------------------ counts

    @property
    def queued(self) -> int:
        return sum(1 for r in self._jobs.values() if not r.started)

    @property
    def running(self) -> int:
        return sum(1 for r in self._jobs.values() if r.started)

    @property
    def accepting(self) -> bool:
        return self._accepting

    @property
    def limits(self) -> Limits | None:
        return self.model.limits

    # ------------------------------------------------------------------ lifecycle

    async def start(self, wait_for_worker_s: float = 2.0) -> None:
        """Connect; wait up to `wait_for_worker_s` for a worker's retained status to learn the pool's model.

        Calling it again (the server starts its job backend too) does nothing.
        """
        if self._watch is not None:
            return
        self.link.start()
        self.presence.start(self.link)
        self._watch = asyncio.create_task(self._watchdog(), name="gateway-watchdog")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._worker_seen.wait(), wait_for_worker_s)
        if not self.model.known:
            log.warning("no worker online on %s yet: jobs wait until one comes", self.url.redacted())  # type: ignore[union-attr]

    async def shutdown(self, deadline_s: float) -> None:
        """Stop accepting; let open jobs finish until the deadline, cancel the rest, disconnect."""
        self._accepting = False
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wait_idle(), deadline_s)
        for job_id in list(self._jobs):
            self.cancel(job_id)
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.presence.stop()
        await self.link.flush(timeout=2.0)
        await self.link.stop(final=[self.presence.offline_message()])

    async def _wait_idle(self) -> None:
        while self._jobs:
            self._idle.clear()
            await self._idle.wait()

    async def _on_connect(self) -> None:
        self.presence.publish(self.link)
        # Replies sent while we were away are lost (clean session): give every open job a fresh window to
        # be heard of again before the watchdog re-dispatches it.
        now = time.monotonic()
        for r in self._jobs.values():
            r.last_seen = now
            r.dispatched = now

    def _status_fields(self) -> dict[str, Any]:
        return {
            "model": self.model.name,
            "device": self.model.device,
            "queue": self.queued,
            "running": self.running,
            "load": min(1.0, self.running / max(1, len(self.workers))),
            "jobs": list(self._jobs),
            "model_info": self.model.info(),
        }

    # ------------------------------------------------------------------ submit / cancel

    def submit(self, job: Job) -> int:
        """Send a job to the pool; returns how many of this gateway's jobs wait for a worker ahead of it."""
        if not self._accepting:
            raise NotAccepting("the gateway is shutting down: reconnect later")
        if len(self._jobs) >= self.max_queue:
            raise QueueFull(f"the gateway holds {self.max_queue} open jobs: retry later")
        if self.model.limits is not None:
            check_limits(job.spec, self.model.limits)  # the pool may have narrowed since the client connected
        check_name("job id", job.job_id)
        ahead = self.queued
        now = time.monotonic()
        remote = RemoteJob(job, created=now, dispatched=now, last_seen=now)
        self._jobs[job.job_id] = remote
        self._idle.clear()
        self._dispatch(remote)
        return ahead

    def cancel(self, job_id: str) -> bool:
        """Cancel at once: the client gets `cancelled` now; workers holding the job stop at their next step."""
        remote = self._jobs.get(job_id)
        if remote is None or remote.job.cancelled:
            return False
        remote.job.cancelled = True
        self.link.publish(self.topics.cancel(job_id), pack(CancelRequest(job=job_id)))
        self._finish(remote, Failed(ErrorCode.CANCELLED, "cancelled"))
        return True

    def cancel_owner(self, owner: Hashable) -> int:
        return sum(self.cancel(r.job.job_id) for r in list(self._jobs.values()) if r.job.owner == owner)

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self, remote: RemoteJob) -> None:
        spec = remote.job.spec
        remote.worker = None
        remote.retry_at = None
        remote.dispatched = time.monotonic()
        request = JobRequest(
            job=remote.job.job_id,
            gateway=self.gateway,  # type: ignore[arg-type]
            attempt=remote.attempt,
            prompt=spec.prompt,
            seconds=spec.seconds,
            frames=spec.frames,
            seed=spec.seed,
            samples=spec.samples,
            steps=spec.steps,
            cfg=spec.cfg,
            preview_every=spec.preview_every,
            loop=spec.loop,
            in_place=spec.in_place,
            sent=time.time(),
        )
        self.link.publish(self.topics.requests, pack(request))

    def _redispatch(self, remote: RemoteJob, reason: str) -> None:
        """The bound worker is gone or silent: send the job again as the next attempt."""
        job_id = remote.job.job_id
        if remote.worker is not None:
            # It may still be alive (a stall, a network split): stop its copy so it does not waste the GPU.
            stale = CancelRequest(job=job_id, worker=remote.worker, attempt=remote.attempt)
            self.link.publish(self.topics.cancel(job_id), pack(stale))
        remote.losses += 1
        if remote.losses > self.max_attempts:
            self._finish(
                remote,
                Failed(ErrorCode.INTERNAL, f"job lost its worker {remote.losses} times (last: {reason}); giving up"),
            )
            return
        log.warning("job %s: %s; dispatching attempt %d", job_id, reason, remote.attempt + 1)
        self.redispatches += 1
        remote.attempt += 1
        remote.started = False
        self._dispatch(remote)

    def _finish(self, remote: RemoteJob, event: Finished | Failed) -> None:
        if self._jobs.pop(remote.job.job_id, None) is None:
            return
        self._closed[remote.job.job_id] = None
        while len(self._closed) > 4096:
            self._closed.popitem(last=False)
        remote.job.state = JobState.FINISHED
        self.jobs_done += 1
        if not self._jobs:
            self._idle.set()
        self._emit(remote, event)

    def _emit(self, remote: RemoteJob, event: SchedulerEvent) -> None:
        try:
            remote.job.emit(event)
        except Exception:
            log.exception("delivering an event of job %s failed", remote.job.job_id)

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(self.watch_period_s)
            if not self.link.connected:
                continue  # nothing can be heard or sent; _on_connect restarts every clock
            now = time.monotonic()
            for node, seen in list(self.workers.items()):
                # A worker that vanished without a will (the broker restarted meanwhile) stops being listed.
                if now - seen.seen > max(self.silence_timeout_s, 3 * (seen.status.heartbeat_s or self.heartbeat_s)):
                    del self.workers[node]
                    self.model.forget(node)
            for remote in list(self._jobs.values()):
                if remote.worker is None:
                    due = remote.retry_at is not None and now >= remote.retry_at
                    if now - remote.created > self.busy_timeout_s:
                        self._finish(
                            remote,
                            Failed(
                                ErrorCode.BUSY,
                                f"no worker took the job in {self.busy_timeout_s:g} s: start more workers "
                                "(motionbridge worker --mqtt ...) or retry later",
                            ),
                        )
                    elif due or (remote.retry_at is None and now - remote.dispatched > self.accept_timeout_s):
                        remote.attempt += 1
                        self._dispatch(remote)
                elif now - remote.last_seen > self.silence_timeout_s:
                    self._redispatch(
                        remote, f"nothing heard from worker {remote.worker} for {self.silence_timeout_s:g} s"
                    )

    # ------------------------------------------------------------------ incoming

    async def _on_message(self, message: Any) -> None:
        topic = str(message.topic)
        node = self.topics.node_of_status(topic)
        if node is not None:
            data = payload_bytes(message)
            if data:  # an empty retained message clears a status: nothing to learn
                self._on_status(node, unpack(data, NodeStatus, "json"))
        elif topic.startswith(f"{self.topics.prefix}/replies/{self.gateway}/"):
            self._on_reply(unpack_reply(payload_bytes(message)))

    def _on_status(self, node: str, status: NodeStatus) -> None:
        if status.node != node or status.role not in (None, "worker"):
            return
        now = time.monotonic()
        if status.state == "online":
            self.workers[node] = WorkerSeen(status, now)
            self.model.learn(status)
            self._worker_seen.set()
            held = set(status.jobs)
            for remote in self._jobs.values():
                if remote.worker == node and remote.job.job_id in held:
                    remote.last_seen = now
            return
        self.model.forget(node)
        if self.workers.pop(node, None) is not None:
            log.info("worker %s went offline", node)
        for remote in list(self._jobs.values()):
            if remote.worker == node:
                self._redispatch(remote, f"worker {node} went offline")

    def _on_reply(self, reply: AnyReply) -> None:
        remote = self._jobs.get(reply.job)
        if remote is None:
            log.debug("%s for job %s dropped: the job is finished or unknown", reply.kind, reply.job)
            if isinstance(reply, AcceptedReply) and reply.job in self._closed:
                self.duplicates_cancelled += 1
                self.link.publish(
                    self.topics.cancel(reply.job), pack(CancelRequest(job=reply.job, worker=reply.worker))
                )
            elif isinstance(reply, ResultReply):
                self.late_results_dropped += 1
            return
        now = time.monotonic()
        current = reply.attempt == remote.attempt
        bound = current and reply.worker == remote.worker
        if isinstance(reply, AcceptedReply):
            if current and remote.worker is None:
                remote.worker, remote.last_seen = reply.worker, now
            elif not bound:
                # A duplicate delivery, or an old attempt that surfaced late: one copy runs, not two.
                self.duplicates_cancelled += 1
                cancel = CancelRequest(job=reply.job, worker=reply.worker, attempt=reply.attempt)
                self.link.publish(self.topics.cancel(reply.job), pack(cancel))
        elif isinstance(reply, RejectedReply):
            if current and remote.worker is None and remote.retry_at is None:
                remote.retry_at = now + 0.2  # another worker of the group may have room
        elif isinstance(reply, (ProgressReply, PreviewReply)):
            if bound:
                remote.last_seen, remote.started = now, True
                if isinstance(reply, ProgressReply):
                    self._emit(remote, Progress(reply.step, reply.steps, reply.eta_ms))
                else:
                    self._emit(remote, Preview(reply.step, [m.to_motion() for m in reply.motions]))
        elif isinstance(reply, ResultReply):
            # Any attempt's result is the job's result: the first one wins, later ones find no open job.
            motions = [m.to_motion() for m in reply.motions]
            if remote.attempt > 0:
                self.link.publish(self.topics.cancel(reply.job), pack(CancelRequest(job=reply.job)))
            self._finish(remote, Finished(motions, dict(reply.timings), cached=reply.cached))
        elif isinstance(reply, ErrorReply) and (bound or (current and remote.worker is None)):
            if reply.code in ("cancelled", "busy") and not remote.job.cancelled:
                # The worker shut down or filled up under the job: it is not the client's error.
                self._redispatch(remote, f"worker {reply.worker} gave it back ({reply.code})")
            else:
                self._finish(remote, Failed(ErrorCode(reply.code), reply.message))


# ---------------------------------------------------------------------------------------------- serve --workers


def serve_workers(
    url: str,
    config: ServerConfig,
    events_url: str | None = None,
    gateway_id: str | None = None,
    wait_for_worker_s: float = 5.0,
) -> int:
    """Run `motionbridge serve --workers URL` until SIGINT/SIGTERM: a gateway server without a local model.

    `events_url` (`--mqtt`) additionally publishes the gateway's job events like a daemon does.
    """
    try:
        broker = BrokerUrl.parse(url)
        gateway = MqttGateway(broker, gateway=gateway_id)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        print(f"gateway {gateway.gateway}: waiting for workers on {broker.redacted()} ...", file=sys.stderr)
        await gateway.start(wait_for_worker_s=wait_for_worker_s)
        server = MotionBridgeServer(gateway.model, config, scheduler=gateway)
        describe = f"jobs on {len(gateway.workers)} worker(s) of {broker.redacted()}, model {gateway.model.name}"
        return await serve_until_signal(server, describe, events_url=events_url)

    return asyncio.run(main())
