"""The scheduler: the one place that owns the model.

Jobs wait in per-connection queues; the dispatcher takes them round-robin across connections (so one
client queueing 100 prompts never starves another's live preview), packs compatible ones (same steps and
cfg, similar length) into a batch of at most `max_batch` samples, and runs the batch on a single dedicated
model thread, so the event loop never blocks on a tensor. A batch the model fails on is run again job by
job, so one bad job never fails another client's. Cancellation (explicit or on disconnect) is a
flag the model reads before every sampler step. Events go back to the loop with `call_soon_threadsafe`
and are delivered to the job's `emit` callback; every job gets exactly one terminal event
(`Finished` or `Failed`).

Long module: the one model thread's queue, batching, cancellation and fairness, whose invariants are checked
together.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge.cache import MotionCache
from bridge.codec import ErrorCode
from bridge.protocol import GenerateJob, Limits
from engine.core.motion import Motion
from engine.model.directing import Constraints
from engine.model.errors import GenerationError
from engine.model.generation import Cancelled, GenerationRequest, MotionModel, StepEvent
from engine.model.threads import ModelThread
from engine.post import clip_ops

log = logging.getLogger("motionbridge.scheduler")

SIMILAR_LENGTH_RATIO = 1.25
"""Jobs whose frame counts differ by more than this factor are not batched (padding would waste compute)."""


class QueueFull(Exception):
    """The queue holds `max_queue` jobs; the client should retry later."""


class NotAccepting(Exception):
    """The daemon is shutting down."""


# ---------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Progress:
    step: int
    steps: int
    eta_ms: float | None


@dataclass(frozen=True)
class Preview:
    step: int
    motions: list[Motion]


@dataclass(frozen=True)
class Finished:
    motions: list[Motion]
    timings: dict[str, float]
    cached: bool


@dataclass(frozen=True)
class Failed:
    code: ErrorCode
    message: str


JobEvent = Progress | Preview | Finished | Failed


@dataclass(eq=False)
class LiveChunk:
    """One chunk of a live session (`bridge.live`): a request run ahead of every queued job, and between the
    sampler steps of a running batch, so a live stream never waits for a batch to finish. `cancelled` is read
    between steps (a prompt change drops the chunk being made for the old prompt)."""

    request: GenerationRequest
    future: asyncio.Future[Motion]
    cancelled: bool = False
    seconds: float = 0.0
    """Model time it took (set on the model thread before the future settles)."""


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"


@dataclass(eq=False)
class Job:
    """One accepted `generate`. `emit` is called on the event loop with every event of the job."""

    job_id: str
    spec: GenerateJob
    owner: Hashable
    emit: Callable[[JobEvent], None]
    accepted_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None
    state: JobState = JobState.QUEUED
    # Written by the loop, read by the model thread between steps; a plain bool is enough under the GIL.
    cancelled: bool = False
    constraints: Constraints | None = None
    """The request's directing (protocol v1.1), built and validated by the server before acceptance."""




# ---------------------------------------------------------------------------------------------- scheduler


def compatible(lead: GenerateJob, other: GenerateJob) -> bool:
    """Can `other` share a batch with `lead`: same steps and cfg, similar length."""
    if lead.steps != other.steps or lead.cfg != other.cfg:
        return False
    short, long_ = sorted((lead.frames, other.frames))
    return long_ <= short * SIMILAR_LENGTH_RATIO


def _cancel_check(chunk: LiveChunk) -> Callable[[int], bool]:
    return lambda _request: chunk.cancelled


class JobBackend(Protocol):
    """What the server needs from whatever runs its jobs: the local `Scheduler` or an `MqttGateway`."""

    model: Any

    @property
    def queued(self) -> int: ...

    @property
    def running(self) -> int: ...

    @property
    def jobs_done(self) -> int: ...

    @property
    def accepting(self) -> bool: ...

    @property
    def limits(self) -> Limits | None:
        """Job limits narrower than the server's (a worker pool's), or None where the server's are the rule."""
        ...

    async def start(self) -> None: ...

    async def shutdown(self, deadline_s: float) -> None: ...

    def submit(self, job: Job) -> int: ...

    def cancel(self, job_id: str) -> bool: ...

    def cancel_owner(self, owner: Hashable) -> int: ...



class Scheduler:
    """Queue, batching, cancellation and the model thread."""

    limits: Limits | None = None  # the server validates against the limits it serves this model with

    def __init__(
        self,
        model: MotionModel,
        *,
        max_batch: int = 4,
        max_queue: int = 64,
        cache: MotionCache | None = None,
        model_thread: ModelThread | None = None,
    ) -> None:
        """`model_thread`: the thread the model was loaded on (`engine.model.threads`), so sampling runs on it too;
        by default the scheduler starts a thread of its own."""
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        self.model = model
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.cache = cache
        self._queues: OrderedDict[Hashable, deque[Job]] = OrderedDict()
        self._jobs: dict[str, Job] = {}
        self._running: list[Job] = []
        # Appended on the loop, popped on the model thread (deque's append/popleft are atomic).
        self._live: deque[LiveChunk] = deque()
        self.live_chunks_run = 0
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._accepting = True
        self.model_thread = model_thread or ModelThread()
        self._executor = self.model_thread.executor
        self._dispatcher: asyncio.Task | None = None
        self._shaping: set[asyncio.Task] = set()  # jobs whose clip options are being applied off the loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self.jobs_done = 0
        self.batches_run = 0
        self.largest_batch = 0

    # ------------------------------------------------------------------ counts

    @property
    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def accepting(self) -> bool:
        return self._accepting

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._dispatcher = asyncio.create_task(self._dispatch(), name="motionbridge-dispatcher")

    async def shutdown(self, deadline_s: float) -> None:
        """Stop accepting; let queued and running jobs finish until the deadline, then cancel the rest."""
        self._accepting = False
        try:
            await asyncio.wait_for(self._wait_idle(), timeout=deadline_s)
        except TimeoutError:
            log.warning(
                "shutdown deadline of %.1f s reached: cancelling %d queued and %d running jobs",
                deadline_s,
                self.queued,
                self.running,
            )
            for job in list(self._jobs.values()):
                self.cancel(job.job_id)
            await self._wait_idle()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            try:
                await self._dispatcher
            except asyncio.CancelledError:
                pass
        while self._live:  # the dispatcher is gone: no chunk may be left awaited for ever
            self._settle(self._live.popleft(), None, Cancelled("the daemon is shutting down"))
        self._executor.shutdown(wait=True)

    async def _wait_idle(self) -> None:
        while self._jobs:
            self._idle.clear()
            await self._idle.wait()

    # ------------------------------------------------------------------ submit / cancel

    def submit(self, job: Job) -> int:
        """Queue a job (or answer it from the cache); returns its queue position (jobs ahead of it)."""
        if not self._accepting:
            raise NotAccepting("the daemon is shutting down: reconnect later")
        assert self._loop is not None, "Scheduler.start() was not awaited"
        cached = self.cache.get(job.spec.cache_key(self.model.name)) if self.cache is not None else None
        if cached is not None:
            self._jobs[job.job_id] = job
            finished = Finished(list(cached), self._cached_timings(job), cached=True)
            self._loop.call_soon(self._deliver_finished, job, finished)
            return 0
        if self.queued >= self.max_queue:
            raise QueueFull(f"the queue is full ({self.max_queue} jobs waiting): retry later")
        position = self._position_for(job.owner)
        self._queues.setdefault(job.owner, deque()).append(job)
        self._jobs[job.job_id] = job
        self._wakeup.set()
        return position

    def _position_for(self, owner: Hashable) -> int:
        # Round-robin: the k-th queued job of an owner runs in round k; owners earlier in the rotation
        # get their round-k job first.
        own = self._queues.get(owner)
        k = len(own) if own is not None else 0
        ahead = k
        before = True
        for other, queue in self._queues.items():
            if other == owner:
                before = False
                continue
            ahead += min(len(queue), k + (1 if before or own is None else 0))
        return ahead

    @staticmethod
    def _cached_timings(job: Job) -> dict[str, float]:
        total = (time.perf_counter() - job.accepted_at) * 1000.0
        return {"queue_ms": 0.0, "text_ms": 0.0, "sample_ms": 0.0, "decode_ms": 0.0, "total_ms": total}

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job at once or a running one at its next sampler step. False if unknown."""
        job = self._jobs.get(job_id)
        if job is None or job.cancelled or job.state is JobState.FINISHED:
            return False
        job.cancelled = True
        if job.state is JobState.QUEUED:
            queue = self._queues.get(job.owner)
            if queue is not None and job in queue:
                queue.remove(job)
                if not queue:
                    del self._queues[job.owner]
                self._deliver(job, Failed(ErrorCode.CANCELLED, "cancelled before it started"))
        return True

    def cancel_owner(self, owner: Hashable) -> int:
        """Cancel every job of a connection (it went away); returns how many."""
        return sum(self.cancel(job.job_id) for job in list(self._jobs.values()) if job.owner == owner)

    # ------------------------------------------------------------------ delivery (event loop)

    def _deliver(self, job: Job, event: JobEvent) -> None:
        if job.state is JobState.FINISHED:
            return
        if isinstance(event, (Progress, Preview)) and job.cancelled:
            return
        if isinstance(event, (Finished, Failed)):
            job.state = JobState.FINISHED
            self._jobs.pop(job.job_id, None)
            self.jobs_done += isinstance(event, Finished)
            if not self._jobs:
                self._idle.set()
        try:
            job.emit(event)
        except Exception:
            log.exception("delivering an event of job %s failed", job.job_id)

    def _deliver_finished(self, job: Job, event: Finished) -> None:
        """Deliver raw motions with the job's `in_place`/`loop` applied. Those cost ~11 ms per 12 s sample, so
        they run on the default executor: the loop keeps serving other clients meanwhile."""
        if not (job.spec.in_place or job.spec.loop):
            self._deliver(job, event)
            return
        task = asyncio.ensure_future(self._shape_and_deliver(job, event))
        self._shaping.add(task)
        task.add_done_callback(self._shaping.discard)

    async def _shape_and_deliver(self, job: Job, event: Finished) -> None:
        assert self._loop is not None
        spec = job.spec
        try:
            motions = await self._loop.run_in_executor(
                None, lambda: [clip_ops.apply_options(m, spec.in_place, spec.loop) for m in event.motions]
            )
        except Exception as exc:
            log.exception("applying in_place/loop to job %s failed", job.job_id)
            self._deliver(job, Failed(ErrorCode.INTERNAL, f"internal error applying in_place/loop: {exc}"))
            return
        self._deliver(job, Finished(motions, event.timings, event.cached))

    def _post(self, job: Job, event: JobEvent) -> None:
        """From the model thread: hand an event to the loop."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._deliver, job, event)

    # ------------------------------------------------------------------ live chunks

    def generate_live(self, request: GenerationRequest) -> LiveChunk:
        """Queue one live chunk ahead of every job; await `chunk.future` for its motion (raises `Cancelled` when
        `chunk.cancelled` was set in time, `GenerationError` or the model's exception when it fails)."""
        if not self._accepting:
            raise NotAccepting("the daemon is shutting down: reconnect later")
        assert self._loop is not None, "Scheduler.start() was not awaited"
        chunk = LiveChunk(request, self._loop.create_future())
        self._live.append(chunk)
        self._wakeup.set()
        return chunk

    def _run_live(self) -> None:
        """Runs on the model thread: every live chunk waiting, one at a time (each is one window)."""
        while self._live:
            chunk = self._live.popleft()
            if chunk.cancelled:
                self._settle(chunk, None, Cancelled("cancelled"))
                continue
            self.live_chunks_run += 1
            began = time.perf_counter()
            try:
                motion = self.model.generate_batch([chunk.request], cancelled=_cancel_check(chunk))[0]
            except Exception as exc:  # Cancelled included: the session is told, the daemon goes on
                self._settle(chunk, None, exc)
                continue
            finally:
                chunk.seconds = time.perf_counter() - began
            if motion is None:
                self._settle(chunk, None, Cancelled("cancelled"))
            else:
                self._settle(chunk, motion[0], None)

    def _settle(self, chunk: LiveChunk, motion: Motion | None, error: BaseException | None) -> None:
        assert self._loop is not None

        def settle() -> None:
            if chunk.future.done():
                return
            if error is not None:
                chunk.future.set_exception(error)
            else:
                chunk.future.set_result(motion)  # type: ignore[arg-type]

        self._loop.call_soon_threadsafe(settle)

    # ------------------------------------------------------------------ batching

    def _take_batch(self) -> list[Job]:
        if not self._queues:
            return []
        lead_owner, lead_queue = next(iter(self._queues.items()))
        lead = lead_queue.popleft()
        self._queues.move_to_end(lead_owner)
        batch, size = [lead], lead.spec.samples
        added = True
        while added and size < self.max_batch:
            added = False
            for queue in self._queues.values():
                for job in queue:
                    if compatible(lead.spec, job.spec) and size + job.spec.samples <= self.max_batch:
                        queue.remove(job)
                        batch.append(job)
                        size += job.spec.samples
                        added = True
                        break
                if size >= self.max_batch:
                    break
        for owner in [o for o, q in self._queues.items() if not q]:
            del self._queues[owner]
        return batch

    async def _dispatch(self) -> None:
        assert self._loop is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queues or self._live:
                if self._live:
                    await self._loop.run_in_executor(self._executor, self._run_live)
                    continue
                batch = self._take_batch()
                now = time.perf_counter()
                for job in batch:
                    job.state = JobState.RUNNING
                    job.started_at = now
                self._running = batch
                try:
                    outcome = await self._loop.run_in_executor(self._executor, self._run_batch, batch)
                except Exception as exc:  # the executor itself failed, never the model (caught inside)
                    log.exception("batch failed outside the model")
                    outcome = [Failed(ErrorCode.INTERNAL, f"internal error: {exc}")] * len(batch)
                finally:
                    self._running = []
                for job, event in zip(batch, outcome, strict=True):
                    if isinstance(event, Finished) and self.cache is not None:
                        self.cache.put(job.spec.cache_key(self.model.name), event.motions)
                    if isinstance(event, Finished):
                        self._deliver_finished(job, event)
                    else:
                        self._deliver(job, event)

    def _run_batch(self, batch: list[Job]) -> list[Finished | Failed]:
        """Runs on the model thread. Returns the terminal event of every job (raw motions for Finished)."""
        self.batches_run += 1
        self.largest_batch = max(self.largest_batch, sum(j.spec.samples for j in batch))
        t0 = time.perf_counter()
        step_times: list[float] = []
        # in_place/loop stay off here: the cache keeps raw motions and the options are applied on delivery,
        # so requests differing only in those options share one cache entry.
        requests = [
            GenerationRequest(
                j.spec.prompt, j.spec.seconds, j.spec.seed, j.spec.samples, j.spec.steps, j.spec.cfg,
                constraints=j.constraints,
            )
            for j in batch
        ]

        def on_step(event: StepEvent) -> None:
            if self._live:
                # A live stream never waits for this batch: its chunks run between our steps. Their time is not
                # this batch's, so the steps timed so far move later by it (ETA and timings stay per step).
                paused = time.perf_counter()
                self._run_live()
                step_times[:] = [t + time.perf_counter() - paused for t in step_times]
            now = time.perf_counter()
            step_times.append(now)
            eta = None
            if len(step_times) >= 2:
                per_step = (now - step_times[0]) / (len(step_times) - 1)
                eta = per_step * (event.steps - event.step) * 1000.0
            for i, job in enumerate(batch):
                if job.cancelled:
                    continue
                self._post(job, Progress(event.step, event.steps, eta))
                every = job.spec.preview_every
                if every > 0 and event.step % every == 0 and event.step < event.steps:
                    self._post(job, Preview(event.step, event.preview(i)))

        try:
            results: list[list[Motion] | None] = self.model.generate_batch(
                requests, on_step=on_step, cancelled=lambda i: batch[i].cancelled
            )
        except Cancelled:
            results = [None] * len(batch)
        except Exception as exc:
            if len(batch) > 1:
                # One job can break a whole batch (a prompt the tokenizer rejects, a batch too big for the GPU):
                # run each job alone so that only the culprit fails, never another client's job beside it.
                log.warning("model failed on a batch of %d jobs (%s): running them one by one", len(batch), exc)
                return [self._run_batch([job])[0] for job in batch]
            if isinstance(exc, GenerationError):
                # The request itself cannot be served as given (a constraint the server's checks let through).
                log.warning("job %s refused by the model: %s", batch[0].job_id, exc)
                return [Failed(ErrorCode.BAD_REQUEST, f"invalid generate: {exc}")]
            # A model failure (CUDA out of memory, a bug in a backend) fails this job, not the daemon.
            log.exception("model failed on job %s", batch[0].job_id)
            return [Failed(ErrorCode.MODEL_ERROR, f"the model failed: {type(exc).__name__}: {exc}")]
        if len(results) != len(batch):
            message = f"the model returned {len(results)} results for {len(batch)} requests"
            return [Failed(ErrorCode.MODEL_ERROR, message)] * len(batch)
        end = time.perf_counter()
        # The first callback comes after the first step, so one average step moves from text to sampling.
        per_step = (step_times[-1] - step_times[0]) / (len(step_times) - 1) if len(step_times) >= 2 else 0.0
        first = max(t0, step_times[0] - per_step) if step_times else end
        last = step_times[-1] if step_times else end
        outcome: list[Finished | Failed] = []
        for job, motions in zip(batch, results, strict=True):
            if motions is None or job.cancelled:
                outcome.append(Failed(ErrorCode.CANCELLED, "cancelled"))
                continue
            timings = {
                "queue_ms": ((job.started_at or t0) - job.accepted_at) * 1000.0,
                "text_ms": (first - t0) * 1000.0,
                "sample_ms": (last - first) * 1000.0,
                "decode_ms": (end - last) * 1000.0,
                "total_ms": (end - job.accepted_at) * 1000.0,
            }
            outcome.append(Finished(list(motions), timings, cached=False))
        return outcome
