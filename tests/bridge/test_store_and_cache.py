"""Result store (one atomic file per job, former layouts, retention, reload) and the LRU cache, without a server."""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading

import numpy as np
import pytest

from bridge.bench import ZeroCostModel
from bridge.cache import ExportCache, MotionCache
from bridge.scheduler import compatible
from bridge.store import ResultStore, StoreError, decode_job
from engine.core.motion import Motion
from engine.model.generation import GenerationRequest
from engine.post import clip_ops


def motions(seed: int = 0, samples: int = 2, seconds: float = 1.0) -> list[Motion]:
    model = ZeroCostModel()
    request = GenerationRequest("a person walks", seconds=seconds, seed=seed, samples=samples)
    return [model.motion(request, s) for s in range(samples)]


def test_saved_job_reloads_from_disk_in_a_fresh_store(tmp_path) -> None:
    original = motions(seed=4)
    ResultStore(tmp_path).save("j1", original, {"prompt": "a person walks", "target": "unity", "fps": 30})
    # The hot path writes one file of raw arrays; the upstream .npz is made on its first download.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j1.mbjob"]
    fresh = ResultStore(tmp_path)
    reloaded = fresh.load("j1")
    assert reloaded is not None
    assert reloaded.meta["target"] == "unity" and reloaded.meta["samples"] == 2
    for a, b in zip(original, reloaded.motions, strict=True):
        np.testing.assert_array_equal(a.root, b.root)
        np.testing.assert_array_equal(a.rotations, b.rotations)
        assert (a.text, a.seed, a.model, a.fps) == (b.text, b.seed, b.model, b.fps)
    assert fresh.sample_file("j1", 0) == tmp_path / "j1" / "0.npz"
    # It is the upstream file: the same rotations as axis-angle, and what a Motion carries.
    upstream = Motion.load_npz(tmp_path / "j1" / "0.npz")
    np.testing.assert_allclose(np.abs(np.sum(upstream.rotations * original[0].rotations, axis=-1)), 1.0, atol=1e-5)
    assert (upstream.text, upstream.seed, upstream.model) == (original[0].text, original[0].seed, original[0].model)
    assert fresh.sample_file("j1", 2) is None  # no such sample


def test_jobs_stored_in_the_former_layouts_still_load(tmp_path) -> None:
    """Before 2026-12-07 a job was <sample>.npz + <sample>.rotations.npy (no root.npy, no per-sample meta); then,
    until the one-file layout the same evening, a folder of <sample>.root.npy + <sample>.rotations.npy + job.json."""
    original = motions(seed=3, samples=1)
    folder = tmp_path / "old1"
    folder.mkdir()
    original[0].save_npz(folder / "0.npz")
    np.save(folder / "0.rotations.npy", np.ascontiguousarray(original[0].rotations, "<f4"))
    (folder / "job.json").write_text(json.dumps({"job": "old1", "samples": 1, "created": 1.0}))
    raw = tmp_path / "old2"
    raw.mkdir()
    np.save(raw / "0.root.npy", np.ascontiguousarray(original[0].root, "<f4"))
    np.save(raw / "0.rotations.npy", np.ascontiguousarray(original[0].rotations, "<f4"))
    sample_meta = [{"text": "t", "seed": 5, "model": "m", "fps": 30.0}]
    (raw / "job.json").write_text(json.dumps({"job": "old2", "samples": 1, "created": 2.0, "sample_meta": sample_meta}))
    store = ResultStore(tmp_path)
    assert len(store) == 2
    reloaded = store.load("old1")
    assert reloaded is not None
    np.testing.assert_array_equal(reloaded.motions[0].rotations, original[0].rotations)
    np.testing.assert_allclose(reloaded.motions[0].root, original[0].root, atol=1e-6)
    assert store.sample_file("old1", 0) == folder / "0.npz"
    exact = store.load("old2")
    assert exact is not None and (exact.motions[0].text, exact.motions[0].seed) == ("t", 5)
    assert exact.motions[0].root.tobytes() == original[0].root.tobytes()
    assert store.sample_file("old2", 0) == raw / "0.npz"
    for i in range(500):  # retention removes a job of a former layout like any other (its folder)
        store.put(f"n{i}", original, {})
    store.flush()
    assert not folder.exists() and not raw.exists() and len(store) == 500


def test_recent_jobs_come_back_exactly_from_memory(tmp_path) -> None:
    store = ResultStore(tmp_path)
    original = motions()
    store.save("j2", original, {})
    assert store.load("j2").motions[0] is original[0]


def test_retention_keeps_only_the_newest_jobs(tmp_path) -> None:
    store = ResultStore(tmp_path, retention=3, memory=0)
    for i in range(5):
        store.save(f"j{i}", motions(samples=1), {})
    store.save("j5", motions(samples=1), {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j3.mbjob", "j4.mbjob", "j5.mbjob"]
    assert store.load("j0") is None and store.load("j5") is not None


def test_half_written_jobs_are_invisible_and_cleaned_on_start(tmp_path) -> None:
    leftover = tmp_path / ".tmp-j9.mbjob"
    leftover.write_bytes(b"partial")
    old_leftover = tmp_path / ".tmp-j7-abc"  # the former layout wrote a temporary folder
    old_leftover.mkdir()
    (old_leftover / "0.npz").write_bytes(b"partial")
    (tmp_path / "j8").mkdir()  # a folder without job.json is not a job (a job file's downloads, say)
    store = ResultStore(tmp_path)
    assert not leftover.exists() and not old_leftover.exists()
    assert store.load("j9") is None and store.load("j8") is None and store.load("j7") is None
    assert store.load("../etc") is None and len(store) == 0


def test_a_damaged_or_foreign_job_file_is_unreadable_never_half_loaded(tmp_path, caplog) -> None:
    import pickle

    ResultStore(tmp_path).save("whole", motions(samples=2), {"prompt": "p"})
    data = (tmp_path / "whole.mbjob").read_bytes()
    (tmp_path / "short.mbjob").write_bytes(data[:-4])  # truncated by a full disk
    (tmp_path / "long.mbjob").write_bytes(data + b"\0" * 8)
    (tmp_path / "pickled.mbjob").write_bytes(pickle.dumps({"samples": 1}))  # never unpickled: not a job file
    header_end = data.index(b"\n", data.index(b"\n") + 1)
    huge = data[:header_end].replace(b'"frames":30', b'"frames":1000000000')
    (tmp_path / "huge.mbjob").write_bytes(huge + data[header_end:])  # claims 1e9 frames: refused, not allocated
    store = ResultStore(tmp_path)
    assert store.load("whole") is not None
    for name in ("short", "long", "pickled", "huge"):
        assert store.load(name) is None, name
        assert store.sample_file(name, 0) is None, name
        assert f"stored job {name} is unreadable" in caplog.text


def test_unwritable_output_dir_is_a_clear_error(tmp_path) -> None:
    target = tmp_path / "file"
    target.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create output directory"):
        ResultStore(target / "jobs")


def test_metadata_is_json_with_the_request(tmp_path) -> None:
    ResultStore(tmp_path).save("j3", motions(samples=1), {"prompt": "p", "seconds": 1.0, "steps": 10})
    meta, _ = decode_job((tmp_path / "j3.mbjob").read_bytes())
    assert meta["job"] == "j3" and meta["steps"] == 10 and meta["created"] > 0


def test_cache_evicts_the_least_recently_used_entry() -> None:
    cache = MotionCache(capacity=2)
    a, b, c = motions(1, 1), motions(2, 1), motions(3, 1)
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # a is now the most recent
    cache.put("c", c)
    assert cache.get("b") is None and cache.get("a") is a and cache.get("c") is c
    assert (cache.hits, cache.misses) == (3, 1)
    disabled = MotionCache(capacity=0)
    disabled.put("a", a)
    assert disabled.get("a") is None


def test_batch_compatibility_needs_same_steps_cfg_and_similar_length() -> None:
    from bridge.protocol import Generate, Limits, ModelDefaults, validate_generate

    def job(**kw):
        return validate_generate(Generate(op="generate", id="x", prompt="p", **kw), Limits(), ModelDefaults("m"))

    assert compatible(job(seconds=4.0), job(seconds=4.8))
    assert not compatible(job(seconds=4.0), job(seconds=6.0))
    assert not compatible(job(steps=10), job(steps=20))
    assert not compatible(job(cfg=2.0), job(cfg=3.0))


def test_clip_options_use_engine_clip_ops() -> None:
    (motion,) = motions(samples=1, seconds=2.0)
    shaped = clip_ops.apply_options(motion, remove_travel=True, make_loop=True)
    np.testing.assert_allclose(shaped.root[:, [0, 2]], 0.0, atol=1e-6)
    np.testing.assert_allclose(np.abs(np.sum(shaped.rotations[-1] * shaped.rotations[0], axis=-1)), 1.0, atol=1e-5)
    assert clip_ops.apply_options(motion) is motion


def test_the_filesystem_work_of_a_save_does_not_grow_with_the_jobs_kept(tmp_path, monkeypatch) -> None:
    def filesystem_calls_of_one_save(store: ResultStore, job: str) -> int:
        calls = 0
        real = {name: getattr(os, name) for name in ("stat", "lstat", "listdir", "scandir")}

        def counted(name):
            def call(*args, **kwargs):
                nonlocal calls
                calls += 1
                return real[name](*args, **kwargs)

            return call

        for name in real:
            monkeypatch.setattr(os, name, counted(name))
        try:
            store.save(job, motions(samples=1), {})
        finally:
            for name, fn in real.items():
                monkeypatch.setattr(os, name, fn)
        return calls

    few = ResultStore(tmp_path / "few", retention=3, memory=0)
    many = ResultStore(tmp_path / "many", retention=40, memory=0)
    for i in range(40):
        few.save(f"j{i}", motions(samples=1), {})
        many.save(f"j{i}", motions(samples=1), {})
    # Both stores are full, so both saves also evict one job: only the number kept differs.
    assert filesystem_calls_of_one_save(many, "new") == filesystem_calls_of_one_save(few, "new")
    assert len(many) == 40 and len(few) == 3
    assert many.load("j0") is None and many.load("j1") is not None


def test_retention_after_a_restart_evicts_the_oldest_jobs_first(tmp_path) -> None:
    first = ResultStore(tmp_path, retention=3, memory=0)
    for i in range(3):
        first.save(f"j{i}", motions(samples=1), {})
    first.close()
    second = ResultStore(tmp_path, retention=3, memory=0)
    second.save("j3", motions(samples=1), {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j1.mbjob", "j2.mbjob", "j3.mbjob"]


def test_a_job_is_loadable_while_its_write_is_pending_and_on_disk_after_flush(tmp_path) -> None:
    store = ResultStore(tmp_path, memory=0)
    disk_free = threading.Event()
    store.writer.submit(disk_free.wait)
    original = motions(samples=2)
    store.put("j1", original, {"prompt": "p"})
    pending = store.load("j1")
    assert pending is not None and pending.motions[0] is original[0] and pending.meta["prompt"] == "p"
    assert not list(tmp_path.iterdir())
    sample_file = concurrent.futures.ThreadPoolExecutor(1).submit(store.sample_file, "j1", 1)
    disk_free.set()
    assert sample_file.result(timeout=10) == tmp_path / "j1" / "1.npz"
    store.flush()
    assert (tmp_path / "j1.mbjob").is_file()


def test_a_reloaded_job_has_bit_identical_rotations(tmp_path) -> None:
    original = motions(seed=9, samples=2)
    ResultStore(tmp_path).save("j1", original, {})
    reloaded = ResultStore(tmp_path).load("j1")
    for a, b in zip(original, reloaded.motions, strict=True):
        assert a.rotations.tobytes() == b.rotations.tobytes() and a.root.tobytes() == b.root.tobytes()


def test_export_cache_keeps_recent_files_within_its_byte_budget() -> None:
    cache = ExportCache(capacity_bytes=10)
    cache.put(("j", 0, "glb", "unity"), b"12345")
    cache.put(("j", 1, "glb", "unity"), b"6789")
    assert cache.get(("j", 0, "glb", "unity")) == b"12345"  # now the most recent
    cache.put(("j", 0, "bvh", "unity"), b"abc")
    assert cache.get(("j", 1, "glb", "unity")) is None
    assert cache.get(("j", 0, "glb", "unity")) == b"12345" and cache.get(("j", 0, "bvh", "unity")) == b"abc"
    cache.put(("j", 2, "glb", "unity"), b"x" * 11)  # larger than the whole budget: not kept
    assert cache.get(("j", 2, "glb", "unity")) is None and cache.size_bytes == 8
