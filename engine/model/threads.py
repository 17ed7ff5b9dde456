"""`ModelThread`: the one OS thread that loads a torch model and runs every call on it.

On the CPU, torch parallelises each op over an OpenMP thread team, and every OS thread that calls into torch
gets a team of its own. A daemon that loads its model on the main thread and samples on a worker thread
therefore owns two teams, and on a quiet 2-core machine the sampling team's second thread stopped helping (a
5 s clip of the embedded model: 298 ms with everything on one thread, 379 ms in that split layout). Loading and
sampling on the same thread, with the team size set there before anything runs, keeps one team of a chosen
size. `motionbridge bench threads` measures both layouts and the thread counts (`docs/benchmarks.md`).
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")


def default_threads(cores: int | None = None) -> int:
    """The intra-op thread count the daemon uses unless told otherwise: half the cores, at least one.

    A team as wide as the machine is fastest only while nothing else runs: each op waits for its slowest
    thread, so one core taken by another process (a game editor, a training job) stalls every op. On a 2-core
    machine (`docs/benchmarks.md`): quiet, 2 threads gained about 1.3× (issue 21: 298 vs 379 ms); with one
    other busy process, 2 threads were 11–22× slower than 1 (`motionbridge bench threads`). Half the cores
    keeps that headroom on bigger machines (not measured there)."""
    return max(1, (cores if cores is not None else (os.cpu_count() or 1)) // 2)


class ModelThread:
    """A single worker thread that owns the model: `call` (blocking) and `executor` (for an event loop).

    `threads` sets torch's intra-op thread count on that thread before anything else runs there; None leaves
    torch's default."""

    def __init__(self, threads: int | None = None, name: str = "motionbridge-model") -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.threads = threads
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=name, initializer=self._configure
        )
        self.ident: int = self.call(_current_thread_ident)

    def _configure(self) -> None:
        if self.threads is not None:
            torch.set_num_threads(self.threads)

    def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run `fn` on the model thread and return its result (exceptions propagate)."""
        return self.executor.submit(fn, *args, **kwargs).result()

    def shutdown(self, wait: bool = True) -> None:
        self.executor.shutdown(wait=wait)


def _current_thread_ident() -> int:
    return threading.get_ident()
