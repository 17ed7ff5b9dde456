"""`motionbridge worker`: a model behind an MQTT broker, taking jobs that gateways put on `<prefix>/requests`.

Workers of one group share the MQTT 5 subscription `$share/<group>/<prefix>/requests`, so the broker hands
every job to exactly one of them. A worker answers on `<prefix>/replies/<gateway>/<job>` (accepted,
progress, previews, the result or an error), publishes the job's events like a daemon does, and keeps its
retained status fresh as a heartbeat; its last will marks it offline so gateways re-dispatch its jobs.
The model runs on one thread that owns it; the event loop only moves messages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import time
import uuid
from collections import OrderedDict
from typing import Any

from pydantic import ValidationError

from bridge.cache import MotionCache
from bridge.codec import ErrorCode, RequestError
from bridge.mqtt.events import LoadMeter, NodePresence
from bridge.mqtt.link import MqttLink, payload_bytes
from bridge.mqtt.schema import (
    AcceptedReply,
    BadPayload,
    BrokerUrl,
    CancelRequest,
    ErrorReply,
    JobEvent,
    JobRequest,
    MotionPayload,
    PreviewReply,
    ProgressReply,
    RejectedReply,
    ResultReply,
    Topics,
    check_name,
    default_node_id,
    pack,
    to_json,
    unpack,
)
from bridge.protocol import Generate, GenerateJob, Limits, ModelDefaults, serving_limits, validate_generate
from bridge.scheduler import Failed, Finished, Job, NotAccepting, Preview, Progress, QueueFull, Scheduler
from bridge.scheduler import JobEvent as SchedulerEvent
from bridge.serving import add_model_arguments, load_on_model_thread, model_threads
from engine.model.generation import MotionModel
from engine.model.threads import ModelThread

log = logging.getLogger("motionbridge.worker")

DEFAULT_GROUP = "motionbridge"


class Worker:
    """Takes jobs from the broker, runs them on the daemon's `Scheduler` (queue, batching, cancel, cache)
    over its own model, and answers the gateway that sent each one."""

    def __init__(
        self,
        url: BrokerUrl | str,
        model: MotionModel,
        *,
        node: str | None = None,
        group: str = DEFAULT_GROUP,
        heartbeat_s: float = 2.0,
        max_queue: int = 16,
        max_batch: int = 4,
        cache_size: int = 64,
        remember_finished: int = 4096,
        model_thread: ModelThread | None = None,
    ):
        self.url = BrokerUrl.parse(url) if isinstance(url, str) else url
        self.model = model
        self.node = check_name("node id", node or default_node_id("worker"))
        self.group = check_name("group", group)
        self.topics = Topics(self.url.prefix)
        self.scheduler = Scheduler(
            model, max_batch=max_batch, max_queue=max_queue, cache=MotionCache(cache_size), model_thread=model_thread
        )
        # The same rule and numbers as a daemon serving this model: jobs beyond them are refused before they
        # are accepted, never failed inside a batch beside other jobs.
        self.limits = serving_limits(Limits(max_queue=max_queue), model.max_seconds, max_batch)
        self.defaults = ModelDefaults(model.name, int(model.fps), model.default_steps, model.default_cfg)
        self.meter = LoadMeter(lambda: self.scheduler.running > 0)
        self.presence = NodePresence(self.topics, self.node, "worker", self._status_fields, heartbeat_s)
        self.link = MqttLink(
            self.url,
            client_id=f"{self.node}-{uuid.uuid4().hex[:6]}",
            subscriptions=[self.topics.shared_requests(self.group), self.topics.cancel()],
            on_message=self._on_message,
            on_connect=self._on_connect,
            will=self.presence.will(),
        )
        # The request each held job answers to; replaced when a gateway re-sends a job we already hold.
        self.jobs: dict[str, JobRequest] = {}
        self._finished: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._remember = remember_finished
        self.completed = 0
        self.duplicates_dropped = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.scheduler.start()
        self.meter.start()
        self.link.start()
        self.presence.start(self.link)

    async def stop(self, deadline_s: float = 0.0) -> None:
        """Stop cleanly: jobs not finished by the deadline are cancelled (gateways re-dispatch them), then
        the worker says offline and disconnects."""
        await self.scheduler.shutdown(deadline_s)
        await self.presence.stop()
        await self.meter.stop()
        await self.link.flush(timeout=2.0)
        await self.link.stop(final=[self.presence.offline_message()])

    async def serve_forever(self) -> None:
        """Run until cancelled or SIGTERM/SIGINT, then stop cleanly."""
        main = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, main.cancel)  # type: ignore[union-attr]
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def _on_connect(self) -> None:
        self.presence.publish(self.link)

    def _status_fields(self) -> dict[str, Any]:
        return {
            "model": self.model.name,
            "device": str(self.model.device),
            "queue": self.scheduler.queued,
            "running": self.scheduler.running,
            "load": self.meter.read(),
            "jobs": list(self.jobs),
            "model_info": self.model.info(),
            "limits": self.limits.to_wire(),
        }

    # ------------------------------------------------------------------ incoming

    async def _on_message(self, message: Any) -> None:
        topic = str(message.topic)
        if topic == self.topics.requests:
            self._on_request(unpack(payload_bytes(message), JobRequest))
        elif topic.startswith(self.topics.prefix + "/cancel/"):
            self._on_cancel(unpack(payload_bytes(message), CancelRequest))

    def _on_request(self, request: JobRequest) -> None:
        held = self.jobs.get(request.job)
        if held is not None:
            if request.attempt > held.attempt:
                # The gateway gave up waiting and re-sent it: answer for the newer attempt, still run it once.
                self.jobs[request.job] = request
                self._reply(request, AcceptedReply, queue_position=0, model=self.model.name)
            else:
                self.duplicates_dropped += 1
            return
        if (request.job, request.attempt) in self._finished:
            log.info("duplicate delivery of job %s attempt %d dropped", request.job, request.attempt)
            self.duplicates_dropped += 1
            return
        try:
            spec = self._spec(request)
        except RequestError as exc:
            self._reply(request, ErrorReply, code=exc.code.value, message=exc.message)
            return
        job = Job(request.job, spec, owner=request.gateway, emit=lambda event: self._on_job_event(request.job, event))
        self.jobs[request.job] = request
        try:
            position = self.scheduler.submit(job)
        except (QueueFull, NotAccepting) as exc:
            del self.jobs[request.job]
            self._reply(request, RejectedReply, reason=str(exc))
            return
        self._reply(request, AcceptedReply, queue_position=position, model=self.model.name)
        self._event("accepted", request.job, queue_position=position)

    def _spec(self, r: JobRequest) -> GenerateJob:
        """The job as this worker runs it, checked as the daemon checks a `generate` (RequestError if not).

        This worker's model decides the clip length from the seconds (as it will when sampling), so the cache
        key and batching agree with the real clip whatever the gateway computed. The target stays smplh:
        conversion to the client's target happens on the gateway, at the edge.
        """
        try:
            request = Generate(
                op="generate",
                id=r.job,
                prompt=r.prompt,
                seconds=r.seconds,
                seed=r.seed,
                samples=r.samples,
                steps=r.steps,
                cfg=r.cfg,
                preview_every=r.preview_every,
                loop=r.loop,
                in_place=r.in_place,
            )
        except ValidationError as exc:
            raise RequestError(ErrorCode.BAD_REQUEST, f"invalid job: {exc.errors()[0]['msg']}", r.job) from None
        return validate_generate(request, self.limits, self.defaults)

    def _on_cancel(self, cancel: CancelRequest) -> None:
        if cancel.worker is not None and cancel.worker != self.node:
            return
        held = self.jobs.get(cancel.job)
        if held is not None and (cancel.attempt is None or held.attempt <= cancel.attempt):
            self.scheduler.cancel(cancel.job)

    # ------------------------------------------------------------------ outgoing

    def _on_job_event(self, job: str, event: SchedulerEvent) -> None:
        request = self.jobs.get(job)
        if request is None:
            return
        if isinstance(event, Progress):
            eta = None if event.eta_ms is None else int(event.eta_ms)
            self._reply(request, ProgressReply, step=event.step, steps=event.steps, eta_ms=eta)
            self._event("progress", job, step=event.step, steps=event.steps, eta_ms=eta)
        elif isinstance(event, Preview):
            motions = [MotionPayload.from_motion(m) for m in event.motions]
            self._reply(request, PreviewReply, step=event.step, motions=motions)
        elif isinstance(event, Finished):
            self._finish(request)
            timings = {k: round(float(v), 3) for k, v in event.timings.items()}
            motions = [MotionPayload.from_motion(m) for m in event.motions]
            self._reply(request, ResultReply, motions=motions, timings=timings, cached=event.cached)
            first = event.motions[0]
            self._event(
                "done",
                job,
                samples=len(event.motions),
                frames=first.frames,
                seconds=first.seconds,
                cached=event.cached,
                timings=timings,
            )
            self.completed += 1
        elif isinstance(event, Failed):
            self._finish(request)
            code = event.code.value if hasattr(event.code, "value") else str(event.code)
            self._reply(request, ErrorReply, code=code, message=event.message)
            self._event("error", job, code=code, message=event.message)

    def _reply(self, request: JobRequest, kind: type, **fields: Any) -> None:
        reply = kind(job=request.job, attempt=request.attempt, worker=self.node, **fields)
        self.link.publish(self.topics.replies(request.gateway, request.job), pack(reply))

    def _event(self, event: str, job: str, **fields: Any) -> None:
        payload = JobEvent(event=event, job=job, node=self.node, ts=time.time(), **fields)  # type: ignore[arg-type]
        self.link.publish(self.topics.events(job), to_json(payload))

    def _finish(self, request: JobRequest) -> None:
        self.jobs.pop(request.job, None)
        self._finished[(request.job, request.attempt)] = None
        while len(self._finished) > self._remember:
            self._finished.popitem(last=False)


# ---------------------------------------------------------------------------------------------- CLI


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mqtt", required=True, metavar="URL", help="broker: mqtt[s]://[user:pass@]host[:port][/prefix]"
    )
    add_model_arguments(parser)
    parser.add_argument("--group", default=DEFAULT_GROUP, help="shared-subscription group (workers of one pool)")
    parser.add_argument("--node", default=None, help="node id in topics (default worker-<host>-<pid>)")
    parser.add_argument("--heartbeat", type=float, default=2.0, metavar="SECONDS", help="status heartbeat period")
    parser.add_argument("--max-queue", type=int, default=16, help="jobs held at once; more are handed back")
    parser.add_argument("--max-batch", type=int, default=4, help="samples run together in one model batch")
    parser.add_argument("--log-level", default="INFO")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        url = BrokerUrl.parse(args.mqtt)
        if args.threads is not None and args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        model, model_thread = load_on_model_thread(args.model, args.device, args.dtype, model_threads(args))
        worker = Worker(
            url,
            model,
            model_thread=model_thread,
            node=args.node,
            group=args.group,
            heartbeat_s=args.heartbeat,
            max_queue=args.max_queue,
            max_batch=args.max_batch,
        )
    except (ValueError, BadPayload) as exc:
        log.error("%s", exc)
        return 2
    log.info("worker %s serving %s from %s (group %s)", worker.node, args.model, url.redacted(), args.group)
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(worker.serve_forever())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motionbridge worker", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
