"""The one model interface every backend implements (HY-Motion full, Lite, the embedded tiny model).

The daemon's scheduler only ever talks to `MotionModel`; backends differ in config and weights, not in
code paths. Everything here is synchronous and runs on the thread that owns the model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.core.motion import Motion
from engine.core.skeleton import FPS, SMPLH_BODY, Skeleton
from engine.model.errors import Cancelled
from engine.model.errors import GenerationError as GenerationError  # re-exported: the interface's error

if TYPE_CHECKING:
    from engine.core.constraints import Constraints


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to generate; `samples` > 1 gives variations with seeds seed, seed+1, ...

    `in_place` removes horizontal root travel and `loop` matches the last pose to the first
    (engine.post.clip_ops.apply_options), as the protocol's generate options of the same names. `constraints`
    (`engine.model.directing.Constraints`) directs the motion: start, keys, path, end pose, a timeline of prompts.
    """

    prompt: str
    seconds: float = 5.0
    seed: int = 0
    samples: int = 1
    steps: int | None = None
    cfg: float | None = None
    in_place: bool = False
    loop: bool = False
    constraints: Constraints | None = None


@dataclass(frozen=True)
class StepEvent:
    """Reported after every sampler step.

    `preview(i)` decodes the current clean-motion estimate of request i (one Motion per sample); it is
    computed only when called, so a step without a due preview costs nothing extra.
    """

    step: int
    steps: int
    preview: Callable[[int], list[Motion]]


StepCallback = Callable[[StepEvent], None]
CancelCheck = Callable[[int], bool]
"""Asked before each step with a request index; True drops that request from the batch."""


INFO_FIELDS: tuple[str, ...] = ("name", "fps", "max_seconds", "default_steps", "default_cfg", "device")
"""What a model tells clients about itself: the `model` object of the protocol's hello, in this order."""


def model_info(model: object) -> dict[str, Any]:
    """The hello's `model` object of anything that describes a model (a `MotionModel`, the MQTT pool's)."""
    return {name: getattr(model, name) for name in INFO_FIELDS}


class MotionModel(ABC):
    """A text-to-motion model kept warm by the daemon."""

    name: str
    fps: int = FPS
    skeleton: Skeleton = SMPLH_BODY
    max_seconds: float
    default_steps: int
    default_cfg: float
    device: str = "cpu"

    def info(self) -> dict:
        """The `model` object of the protocol's hello message."""
        return model_info(self)

    @abstractmethod
    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        on_step: StepCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[list[Motion] | None]:
        """Generate several requests in one batch; all must share steps and cfg.

        Returns one entry per request: its motions (one per sample), or None if it was cancelled.
        Raises `Cancelled` if every request was cancelled.
        """

    def generate(
        self,
        prompt: str,
        seconds: float = 5.0,
        seed: int = 0,
        samples: int = 1,
        steps: int | None = None,
        cfg: float | None = None,
        on_step: StepCallback | None = None,
        cancel: Callable[[], bool] | None = None,
        in_place: bool = False,
        loop: bool = False,
        constraints: Constraints | None = None,
    ) -> list[Motion]:
        request = GenerationRequest(
            prompt, seconds, seed, samples, steps, cfg, in_place=in_place, loop=loop, constraints=constraints
        )
        check = (lambda _i: cancel()) if cancel is not None else None
        result = self.generate_batch([request], on_step=on_step, cancelled=check)[0]
        if result is None:
            raise Cancelled("generation was cancelled")
        return result
