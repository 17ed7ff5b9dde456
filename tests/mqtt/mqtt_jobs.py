"""Submitting scheduler `Job`s to an `MqttGateway` and recording every event each one receives."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from bridge.mqtt.gateway import MqttGateway
from bridge.protocol import GenerateJob
from bridge.scheduler import Failed, Finished, Job, JobEvent


def spec(i: int, seconds: float = 1.0, steps: int = 6, samples: int = 1, preview_every: int = 0) -> GenerateJob:
    return GenerateJob(
        id=f"r{i}",
        prompt=f"a person walks, take {i}",
        seconds=seconds,
        frames=int(round(seconds * 30)),
        seed=i,
        samples=samples,
        steps=steps,
        cfg=1.0,
        target="smplh",
        preview_every=preview_every,
        chunk_frames=0,
        loop=False,
        in_place=False,
    )


class Recorder:
    """Every event per job id, in arrival order."""

    def __init__(self) -> None:
        self.events: dict[str, list[JobEvent]] = defaultdict(list)

    def submit(self, gateway: MqttGateway, job_id: str, job_spec: GenerateJob, owner: str = "c1") -> Job:
        job = Job(job_id, job_spec, owner=owner, emit=lambda e: self.events[job_id].append(e))
        gateway.submit(job)
        return job

    def terminal(self, job_id: str) -> list[JobEvent]:
        return [e for e in self.events[job_id] if isinstance(e, (Finished, Failed))]

    async def wait_terminal(self, job_ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(self.terminal(j) for j in job_ids):
            if time.monotonic() > deadline:
                missing = [j for j in job_ids if not self.terminal(j)]
                raise AssertionError(f"no terminal event in {timeout} s for {missing}")
            await asyncio.sleep(0.05)
