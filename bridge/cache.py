"""LRU caches of the daemon's results, kept in memory.

- `MotionCache`: finished generations. An identical request (prompt, length, seed, samples, steps, cfg,
  model) is answered in milliseconds with `cached: true` instead of running the model again.
- `ExportCache`: downloaded files (.glb, .bvh) per (job, sample, format, target), within a byte budget, so
  downloading a clip again does not retarget and export it again (~0.1 s for a 12 s clip).

Only the event loop touches them, so they need no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from engine.core.motion import Motion


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


class ExportCache:
    """Least-recently-used map from (job, sample, format, target) to a file's bytes, at most `capacity_bytes`
    in all (a file larger than the whole budget is not kept)."""

    def __init__(self, capacity_bytes: int = 64 * 1024 * 1024) -> None:
        if capacity_bytes < 0:
            raise ValueError(f"export cache capacity must be >= 0 bytes, got {capacity_bytes}")
        self.capacity_bytes = capacity_bytes
        self.size_bytes = 0
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> bytes | None:
        data = self._entries.get(key)
        if data is not None:
            self._entries.move_to_end(key)
        return data

    def put(self, key: Hashable, data: bytes) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.size_bytes -= len(old)
        if len(data) > self.capacity_bytes:
            return
        self._entries[key] = data
        self.size_bytes += len(data)
        while self.size_bytes > self.capacity_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.size_bytes -= len(evicted)
