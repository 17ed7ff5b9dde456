"""LRU cache of finished generations: an identical request (prompt, length, seed, samples, steps, cfg,
model) is answered from memory in milliseconds with `cached: true` instead of running the model again.

Only the event loop touches it, so it needs no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from engine.motion import Motion


class MotionCache:
    """Least-recently-used map from a request's cache key to its motions (one per sample)."""

    def __init__(self, capacity: int = 128) -> None:
        if capacity < 0:
            raise ValueError(f"cache capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, list[Motion]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> list[Motion] | None:
        motions = self._entries.get(key)
        if motions is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return motions

    def put(self, key: Hashable, motions: list[Motion]) -> None:
        if self.capacity == 0:
            return
        self._entries[key] = motions
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
