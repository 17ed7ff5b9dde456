"""Result store: every finished job on disk as upstream-compatible .npz files plus JSON metadata.

Layout of `--output-dir`:

    <job>/job.json        metadata: request, frames, fps, timings, created (written last)
    <job>/<sample>.npz    one per sample (`Motion.save_npz`)

A job is written into a hidden temporary folder and renamed into place, so a reader (a `fetch` after a
reconnect, an HTTP download, a restarted daemon) sees either the whole job or nothing. A retention limit
deletes the oldest jobs. Recent jobs are also kept in memory with their exact float32 arrays, so a fetch
right after a reconnect does not even touch the disk. Methods are thread-safe: the daemon calls `save`
from a worker thread.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.motion import Motion

log = logging.getLogger("motionbridge.store")

JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
METADATA_FILE = "job.json"


class StoreError(Exception):
    """The store cannot be used (folder not writable, bad job id)."""


@dataclass(frozen=True)
class StoredJob:
    """A finished job: one Motion per sample (source convention) and its metadata."""

    job: str
    motions: list[Motion]
    meta: dict[str, Any]


class ResultStore:
    """Finished jobs in `directory` (None: memory only), at most `retention` of them on disk."""

    def __init__(self, directory: str | os.PathLike | None, retention: int = 500, memory: int = 64) -> None:
        if retention < 1:
            raise StoreError(f"retention must be at least 1 job, got {retention}")
        self.directory = Path(directory).expanduser() if directory is not None else None
        self.retention = retention
        self.memory = memory
        self._recent: OrderedDict[str, StoredJob] = OrderedDict()
        self._lock = threading.Lock()
        if self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create output directory {self.directory}: {exc}") from None
            if not os.access(self.directory, os.W_OK):
                raise StoreError(f"output directory {self.directory} is not writable: pass --output-dir DIR")
            self._remove_leftovers()

    @property
    def persistent(self) -> bool:
        return self.directory is not None

    def _job_dir(self, job: str) -> Path:
        if not JOB_ID_PATTERN.match(job):
            raise StoreError(f"invalid job id {job!r}")
        assert self.directory is not None
        return self.directory / job

    def _remove_leftovers(self) -> None:
        # A daemon killed mid-write leaves a hidden temporary folder; it never became a job.
        assert self.directory is not None
        for tmp in self.directory.glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)

    def save(self, job: str, motions: list[Motion], meta: dict[str, Any]) -> None:
        """Store a finished job atomically, then apply the retention limit."""
        stored = StoredJob(job, list(motions), dict(meta, job=job, samples=len(motions), created=time.time()))
        with self._lock:
            self._recent[job] = stored
            self._recent.move_to_end(job)
            while len(self._recent) > self.memory:
                self._recent.popitem(last=False)
        if self.directory is None:
            return
        final = self._job_dir(job)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{job}-", dir=self.directory))
        try:
            for sample, motion in enumerate(motions):
                motion.save_npz(tmp / f"{sample}.npz")
            (tmp / METADATA_FILE).write_text(json.dumps(stored.meta, indent=1, default=str))
            with self._lock:
                if final.exists():
                    shutil.rmtree(final)
                os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._apply_retention()

    def _apply_retention(self) -> None:
        assert self.directory is not None
        with self._lock:
            jobs = [p for p in self.directory.iterdir() if p.is_dir() and not p.name.startswith(".")]
            if len(jobs) <= self.retention:
                return
            jobs.sort(key=lambda p: p.stat().st_mtime_ns)
            for old in jobs[: len(jobs) - self.retention]:
                shutil.rmtree(old, ignore_errors=True)
                self._recent.pop(old.name, None)

    def load(self, job: str) -> StoredJob | None:
        """The stored job, or None if it is unknown (or was removed by retention)."""
        if not JOB_ID_PATTERN.match(job):
            return None
        with self._lock:
            recent = self._recent.get(job)
        if recent is not None:
            return recent
        if self.directory is None:
            return None
        folder = self.directory / job
        meta_path = folder / METADATA_FILE
        try:
            meta = json.loads(meta_path.read_text())
            motions = [Motion.load_npz(folder / f"{s}.npz") for s in range(int(meta["samples"]))]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as exc:
            log.warning("stored job %s is unreadable: %s", job, exc)
            return None
        return StoredJob(job, motions, meta)

    def sample_file(self, job: str, sample: int) -> Path | None:
        """Path of a stored sample's .npz, or None."""
        if self.directory is None or not JOB_ID_PATTERN.match(job) or sample < 0:
            return None
        path = self.directory / job / f"{sample}.npz"
        return path if path.is_file() else None

    def __len__(self) -> int:
        if self.directory is None:
            return len(self._recent)
        return sum(1 for p in self.directory.iterdir() if p.is_dir() and not p.name.startswith("."))
