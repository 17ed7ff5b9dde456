"""A cheap `MotionModel` for the MQTT tests: deterministic motions at a fixed pace per sampler step.

The model is irrelevant to what these tests prove (delivery through a broker), but the pace matters: a
job must last long enough to kill its worker mid-way. `make_model()` reads PACED_STEP_S and PACED_STEPS
so worker subprocesses (`--model tests.mqtt.mqtt_paced_model:make_model`) can be tuned from the test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np

from engine.generation import (
    CancelCheck,
    Cancelled,
    GenerationError,
    GenerationRequest,
    MotionModel,
    StepCallback,
    StepEvent,
    frames_for_seconds,
)
from engine.motion import Motion


class PacedModel(MotionModel):
    """Root walks forward at `seed` cm per frame; joint 1 turns about Y by the sample index."""

    name = "paced-test"
    max_seconds = 12.0
    default_steps = 8
    default_cfg = 1.0

    def __init__(self, step_s: float = 0.02, steps: int = 8):
        self.step_s = step_s
        self.default_steps = steps

    def _motion(self, request: GenerationRequest, sample: int, scale: float = 1.0) -> Motion:
        n = frames_for_seconds(request.seconds, int(self.max_seconds * self.fps))
        seed = request.seed + sample
        root = np.zeros((n, 3), np.float32)
        root[:, 2] = np.arange(n, dtype=np.float32) * 0.01 * seed * scale
        rot = np.zeros((n, len(self.skeleton.joints), 4), np.float32)
        rot[..., 3] = 1.0
        half = 0.05 * sample
        rot[:, 1] = [0.0, np.sin(half), 0.0, np.cos(half)]
        return Motion(root=root, rotations=rot, text=request.prompt, seed=seed, model=self.name)

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        on_step: StepCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[list[Motion] | None]:
        for r in requests:
            if r.seconds > self.max_seconds:
                raise GenerationError(f"{r.seconds} s is longer than {self.max_seconds} s")
        steps = requests[0].steps or self.default_steps
        live = set(range(len(requests)))
        for step in range(1, steps + 1):
            if cancelled is not None:
                live -= {i for i in live if cancelled(i)}
                if not live:
                    raise Cancelled("every request was cancelled")
            time.sleep(self.step_s)
            if on_step is not None:
                frac = step / steps
                on_step(
                    StepEvent(
                        step,
                        steps,
                        lambda i, f=frac: [self._motion(requests[i], s, f) for s in range(requests[i].samples)],
                    )
                )
        return [[self._motion(r, s) for s in range(r.samples)] if i in live else None for i, r in enumerate(requests)]


def make_model() -> PacedModel:
    return PacedModel(float(os.environ.get("PACED_STEP_S", "0.02")), int(os.environ.get("PACED_STEPS", "8")))
