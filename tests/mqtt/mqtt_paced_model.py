"""Model factory for MQTT worker subprocesses (`--model tests.mqtt.mqtt_paced_model:make_model`).

The model is irrelevant to what the MQTT tests prove (delivery through a broker), but its pace matters: a
job must last long enough to kill its worker mid-way. This is `bridge.bench.ZeroCostModel` paced by the
environment variables PACED_STEP_S (seconds per sampler step) and PACED_STEPS (default steps).
"""

from __future__ import annotations

import os

from bridge.bench import ZeroCostModel


def make_model() -> ZeroCostModel:
    return ZeroCostModel(
        step_seconds=float(os.environ.get("PACED_STEP_S", "0.02")),
        default_steps=int(os.environ.get("PACED_STEPS", "8")),
    )
