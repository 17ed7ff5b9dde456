"""Result store: every finished job on disk as one file, plus upstream-compatible .npz files made on demand.

Layout of `--output-dir`:

    <job>.mbjob                   the job: a magic line, its JSON metadata on one line (request, frames, fps,
                                  timings, created, per-sample text/seed/model/frames), then every sample's
                                  root (L, 3) and quaternions (L, 22, 4, x y z w) as raw little-endian float32
    <job>/<sample>.npz            the upstream-compatible file (`Motion.save_npz`, axis-angle), made on the
                                  first download of it
    <job>/job.json + arrays       jobs stored before the one-file layout (2026-12-07: per-sample .root.npy and
                                  .rotations.npy; earlier an .npz + .rotations.npy): still read, never written

The raw arrays round-trip bit for bit, so a `fetch` after a restart sends exactly the bytes that were
streamed. One file per job is what the writer can afford on the hot path: on this kind of disk creating a file
or a folder costs ~0.4 ms of kernel time each, and the writer's four (a folder and three files, a job behind
the request being served) were the daemon's worst latency (`motionbridge bench bridge`: p99 overhead 2.8–5.8 ms
with that layout, 1.7–1.9 ms with one file; an .npz per sample, a zip written by Python, cost more again).
A job that repeats another job's motions (a cache hit with the same options) is stored as metadata alone,
naming the job whose file holds the motions (`motions_of`).

`put` records a job in memory at once and writes it to disk on the store's own writer thread, so the
daemon answers `done` without waiting for the disk; `load` finds the job from the moment `put` returns.
A job is written to a hidden temporary file and renamed into place, so a reader (an HTTP download, a
restarted daemon) sees either the whole job or nothing; a file whose length disagrees with its metadata is
reported unreadable, never half-loaded. The retention limit keeps the newest `retention` jobs; their order
is scanned from the disk once at start and then kept in memory, so a save costs the same however many jobs
are kept. Methods are thread-safe.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.motion import Motion

log = logging.getLogger("motionbridge.store")

JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
JOB_SUFFIX = ".mbjob"
JOB_MAGIC = b"MotionBridge job 1\n"
"""First line of a job file; the second is its JSON metadata, the rest its arrays."""
METADATA_FILE = "job.json"  # the layouts before one file per job
ROTATIONS_SUFFIX = ".rotations.npy"
ROOT_SUFFIX = ".root.npy"
SAMPLES_META = "sample_meta"
"""Metadata key: per sample {text, seed, model, fps, frames, joints}, what its Motion carries besides the
arrays, and their shapes in a job file."""
MOTIONS_OF = "motions_of"
"""Metadata key of a job stored without motion files: the job whose files hold its motions."""


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
        self._pending: dict[str, tuple[StoredJob, concurrent.futures.Future]] = {}
        self._on_disk: OrderedDict[str, None] = OrderedDict()  # oldest first
        self._by_key: dict[Hashable, str] = {}
        self._key_of: dict[str, Hashable] = {}
        self._lock = threading.Lock()
        self.writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="motionbridge-store")
        """Writes jobs to disk one after another, in the order they were put."""
        if self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create output directory {self.directory}: {exc}") from None
            if not os.access(self.directory, os.W_OK):
                raise StoreError(f"output directory {self.directory} is not writable: pass --output-dir DIR")
            self._remove_leftovers()
            self._on_disk.update((job, None) for job in self._jobs_by_age())

    @property
    def persistent(self) -> bool:
        return self.directory is not None

    def _job_dir(self, job: str) -> Path:
        """The job's folder: its downloads (.npz made on demand), or the whole job in the former layouts."""
        if not JOB_ID_PATTERN.match(job):
            raise StoreError(f"invalid job id {job!r}")
        assert self.directory is not None
        return self.directory / job

    def _job_file(self, job: str) -> Path:
        return self._job_dir(job).with_name(job + JOB_SUFFIX)

    def _remove_leftovers(self) -> None:
        # A daemon killed mid-write leaves a hidden temporary file (or folder, in the former layout); it never
        # became a job.
        assert self.directory is not None
        for tmp in self.directory.glob(".tmp-*"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)

    def _jobs_by_age(self) -> list[str]:
        """Every stored job, oldest first: job files, and folders of the former layouts that hold a job."""
        assert self.directory is not None
        found: dict[str, int] = {}
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.is_file() and entry.name.endswith(JOB_SUFFIX):
                    job = entry.name[: -len(JOB_SUFFIX)]
                elif entry.is_dir() and os.path.isfile(os.path.join(entry.path, METADATA_FILE)):
                    job = entry.name
                else:
                    continue  # a download folder, a leftover, anything else in the folder
                if JOB_ID_PATTERN.match(job):
                    found[job] = entry.stat().st_mtime_ns
        return sorted(found, key=found.__getitem__)

    # ------------------------------------------------------------------ writing

    def put(
        self, job: str, motions: list[Motion], meta: dict[str, Any], key: Hashable | None = None
    ) -> concurrent.futures.Future:
        """Record a finished job now and write it to disk in the background; the future ends with the write.

        `key` names the result (the request fields that determine the motions): a later job put with the same
        key and bit-identical motions is stored as a reference to this one instead of a second copy.
        """
        if self.directory is not None:
            self._job_dir(job)  # refuse a bad id before anything is recorded
        sample_meta = [
            {"text": m.text, "seed": m.seed, "model": m.model, "fps": m.fps, "frames": m.frames,
             "joints": int(m.rotations.shape[1])}
            for m in motions
        ]
        stored = StoredJob(job, list(motions), dict(meta, job=job, samples=len(motions), created=time.time(),
                                                    **{SAMPLES_META: sample_meta}))
        with self._lock:
            self._recent[job] = stored
            self._recent.move_to_end(job)
            while len(self._recent) > self.memory:
                self._recent.popitem(last=False)
            if self.directory is None:
                done: concurrent.futures.Future = concurrent.futures.Future()
                done.set_result(None)
                return done
            written = self.writer.submit(self._write, stored, key)
            self._pending[job] = (stored, written)
        written.add_done_callback(lambda _: self._written(job))
        return written

    def save(self, job: str, motions: list[Motion], meta: dict[str, Any], key: Hashable | None = None) -> None:
        """`put` and wait until the job is on disk (raises what the write raised)."""
        self.put(job, motions, meta, key).result()

    def _written(self, job: str) -> None:
        with self._lock:
            self._pending.pop(job, None)

    def flush(self) -> None:
        """Wait until every job put so far is on disk."""
        with self._lock:
            pending = [written for _, written in self._pending.values()]
        concurrent.futures.wait(pending)

    def close(self) -> None:
        """Finish the pending writes and stop the writer thread."""
        self.writer.shutdown(wait=True)

    def _write(self, stored: StoredJob, key: Hashable | None) -> None:
        """On the writer thread: the job's file (one create and one rename), then the retention limit."""
        job = stored.job
        final = self._job_file(job)
        source = self._same_motions_on_disk(stored, key)
        if source is None:
            data = encode_job(stored.meta, stored.motions)
        else:
            data = encode_job(dict(stored.meta, **{MOTIONS_OF: source}), [])
        tmp = final.with_name(f".tmp-{job}{JOB_SUFFIX}")
        try:
            with open(tmp, "wb") as out:
                out.write(data)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            log.exception("could not store job %s", job)
            raise
        with self._lock:
            self._on_disk[job] = None
            self._on_disk.move_to_end(job)
            if source is not None:
                # The source must outlive the jobs that point at it: it becomes the newest job.
                self._on_disk.move_to_end(source)
            elif key is not None:
                self._forget_key(self._key_of.pop(job, None), job)
                self._by_key[key] = job
                self._key_of[job] = key
            evicted = []
            while len(self._on_disk) > self.retention:
                old, _ = self._on_disk.popitem(last=False)
                self._recent.pop(old, None)
                self._forget_key(self._key_of.pop(old, None), old)
                evicted.append(old)
        if source is not None:
            os.utime(self._job_file(source))  # the same order after a restart
        for old in evicted:
            self._job_file(old).unlink(missing_ok=True)
            shutil.rmtree(self._job_dir(old), ignore_errors=True)  # its downloads, or a job of a former layout

    def _forget_key(self, key: Hashable | None, job: str) -> None:
        if key is not None and self._by_key.get(key) == job:
            del self._by_key[key]

    def _same_motions_on_disk(self, stored: StoredJob, key: Hashable | None) -> str | None:
        """The stored job whose files hold exactly `stored`'s motions, if `key` names one (writer thread)."""
        if key is None:
            return None
        with self._lock:
            source = self._by_key.get(key)
            if source is None or source not in self._on_disk:
                return None
        earlier = self.load(source)
        if earlier is None or len(earlier.motions) != len(stored.motions):
            return None
        for a, b in zip(earlier.motions, stored.motions, strict=True):
            if not (np.array_equal(a.root, b.root) and np.array_equal(a.rotations, b.rotations) and a.fps == b.fps):
                return None
        return source

    # ------------------------------------------------------------------ reading

    def load(self, job: str) -> StoredJob | None:
        """The stored job, or None if it is unknown (or was removed by retention)."""
        if not JOB_ID_PATTERN.match(job):
            return None
        with self._lock:
            recent = self._recent.get(job)
            pending = self._pending.get(job)
        if recent is not None:
            return recent
        if pending is not None:
            return pending[0]
        if self.directory is None:
            return None
        try:
            meta, motions, _source = self._read_with_motions(job)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, StoreError) as exc:
            log.warning("stored job %s is unreadable: %s", job, exc)
            return None
        return StoredJob(job, motions, meta)

    def _read_with_motions(self, job: str) -> tuple[dict[str, Any], list[Motion], str]:
        """A job's metadata, its motions and the job whose files hold them (itself, or the one `motions_of`
        names) from the disk. Raises FileNotFoundError for an unknown job."""
        meta, motions = self._read(job)
        if motions is not None:
            return meta, motions, job
        source = str(meta[MOTIONS_OF])
        _, motions = self._read(source)
        if motions is None:
            raise StoreError(f"{source}, whose motions it names, names another job's")
        return meta, motions, source

    def _read(self, job: str) -> tuple[dict[str, Any], list[Motion] | None]:
        """A job's metadata and motions from the disk (None for a job that names another's motions): its job
        file, else its folder in a former layout. Raises FileNotFoundError for an unknown job."""
        try:
            data = self._job_file(job).read_bytes()
        except FileNotFoundError:
            folder = self._job_dir(job)
            meta = json.loads((folder / METADATA_FILE).read_text())
            if MOTIONS_OF in meta:
                return meta, None
            return meta, [self._load_sample(folder, s, meta) for s in range(int(meta["samples"]))]
        return decode_job(data)

    @staticmethod
    def _load_sample(folder: Path, sample: int, meta: dict[str, Any]) -> Motion:
        root_file = folder / f"{sample}{ROOT_SUFFIX}"
        exact = folder / f"{sample}{ROTATIONS_SUFFIX}"
        if root_file.is_file():
            info = meta[SAMPLES_META][sample]
            return Motion(
                np.load(root_file, allow_pickle=False).astype(np.float32, copy=False),
                np.load(exact, allow_pickle=False).astype(np.float32, copy=False),
                fps=float(info["fps"]), text=str(info["text"]), seed=int(info["seed"]), model=str(info["model"]),
            )
        motion = Motion.load_npz(folder / f"{sample}.npz")  # stored before the raw root was kept
        if not exact.is_file():
            return motion  # stored before the store kept quaternions: axis-angle is all there is
        return motion.with_(rotations=np.load(exact, allow_pickle=False).astype(np.float32, copy=False))

    def has(self, job: str) -> bool:
        """Whether `job` is stored (on disk, being written, or in memory only)."""
        with self._lock:
            return job in self._on_disk or job in self._pending or job in self._recent

    def sample_file(self, job: str, sample: int) -> Path | None:
        """Path of a stored sample's .npz (made on first use), or None; waits for the job's write if it is still
        pending. Blocking: call it off the event loop."""
        if self.directory is None or not JOB_ID_PATTERN.match(job) or sample < 0:
            return None
        with self._lock:
            pending = self._pending.get(job)
        if pending is not None:
            concurrent.futures.wait([pending[1]])
        with self._lock:
            if job not in self._on_disk:
                return None  # never written, or gone with retention (a copy in memory is no download)
        try:
            meta, motions, source = self._read_with_motions(job)
            if not sample < int(meta.get("samples", 0)):
                return None
            folder = self._job_dir(source)
            path = folder / f"{sample}.npz"
            if not path.is_file():
                # First download: the upstream file is made from the exact arrays (atomically, so two
                # downloads at once each see a whole file) and kept beside them, in the job's folder.
                folder.mkdir(exist_ok=True)
                motions[sample].save_npz(path)
        except (OSError, ValueError, KeyError, StoreError):
            return None
        return path

    def __len__(self) -> int:
        with self._lock:
            if self.directory is None:
                return len(self._recent)
            return len(self._on_disk) + sum(job not in self._on_disk for job in self._pending)


def encode_job(meta: dict[str, Any], motions: list[Motion]) -> bytes:
    """A job file's bytes: the magic line, `meta` as one line of JSON, then each motion's root and rotations as
    little-endian float32 (their shapes are in `meta[SAMPLES_META]`). No motions: a job naming another's."""
    # json.dumps escapes every newline inside strings, so the metadata is exactly one line.
    parts = [JOB_MAGIC, json.dumps(meta, default=str, separators=(",", ":")).encode(), b"\n"]
    for motion in motions:
        parts.append(np.ascontiguousarray(motion.root, "<f4").tobytes())
        parts.append(np.ascontiguousarray(motion.rotations, "<f4").tobytes())
    return b"".join(parts)


def decode_job(data: bytes) -> tuple[dict[str, Any], list[Motion] | None]:
    """`encode_job`'s inverse: (meta, motions), motions None for a job naming another's. Raises ValueError for a
    file that is not a job file or whose length disagrees with its metadata (truncated, corrupt)."""
    if not data.startswith(JOB_MAGIC):
        raise ValueError("not a MotionBridge job file")
    end = data.index(b"\n", len(JOB_MAGIC))
    meta = json.loads(data[len(JOB_MAGIC) : end])
    if not isinstance(meta, dict):
        raise ValueError("job metadata is not an object")
    offset = end + 1
    motions: list[Motion] | None = None
    if MOTIONS_OF not in meta:
        motions = []
        for info in meta[SAMPLES_META]:
            frames, joints = int(info["frames"]), int(info["joints"])
            if frames < 0 or joints < 1:
                raise ValueError(f"bad sample shape {frames} x {joints}")
            root = np.frombuffer(data, "<f4", frames * 3, offset)
            offset += root.nbytes
            rotations = np.frombuffer(data, "<f4", frames * joints * 4, offset)
            offset += rotations.nbytes
            motions.append(
                Motion(
                    root.astype(np.float32).reshape(frames, 3),
                    rotations.astype(np.float32).reshape(frames, joints, 4),
                    fps=float(info["fps"]), text=str(info["text"]), seed=int(info["seed"]), model=str(info["model"]),
                )
            )
    if offset != len(data):
        raise ValueError(f"job file is {len(data)} bytes, its metadata describes {offset}")
    return meta, motions
