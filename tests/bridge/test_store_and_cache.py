"""Result store (atomic job folders, retention, reload) and the LRU cache, without a server."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bridge.bench import ZeroCostModel
from bridge.cache import MotionCache
from bridge.scheduler import compatible
from bridge.store import ResultStore, StoreError
from engine import clip_ops
from engine.generation import GenerationRequest
from engine.motion import Motion


def motions(seed: int = 0, samples: int = 2, seconds: float = 1.0) -> list[Motion]:
    model = ZeroCostModel()
    request = GenerationRequest("a person walks", seconds=seconds, seed=seed, samples=samples)
    return [model.motion(request, s) for s in range(samples)]


def test_saved_job_reloads_from_disk_in_a_fresh_store(tmp_path) -> None:
    original = motions(seed=4)
    ResultStore(tmp_path).save("j1", original, {"prompt": "a person walks", "target": "unity", "fps": 30})
    assert sorted(p.name for p in (tmp_path / "j1").iterdir()) == ["0.npz", "1.npz", "job.json"]
    reloaded = ResultStore(tmp_path).load("j1")
    assert reloaded is not None
    assert reloaded.meta["target"] == "unity" and reloaded.meta["samples"] == 2
    for a, b in zip(original, reloaded.motions, strict=True):
        np.testing.assert_allclose(a.root, b.root, atol=1e-6)
        dots = np.abs(np.sum(a.rotations * b.rotations, axis=-1))
        np.testing.assert_allclose(dots, 1.0, atol=1e-5)


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j3", "j4", "j5"]
    assert store.load("j0") is None and store.load("j5") is not None


def test_half_written_jobs_are_invisible_and_cleaned_on_start(tmp_path) -> None:
    leftover = tmp_path / ".tmp-j9-abc"
    leftover.mkdir()
    (leftover / "0.npz").write_bytes(b"partial")
    (tmp_path / "j8").mkdir()  # a folder without job.json is not a job
    store = ResultStore(tmp_path)
    assert not leftover.exists()
    assert store.load("j9") is None and store.load("j8") is None
    assert store.load("../etc") is None


def test_unwritable_output_dir_is_a_clear_error(tmp_path) -> None:
    target = tmp_path / "file"
    target.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create output directory"):
        ResultStore(target / "jobs")


def test_metadata_is_json_with_the_request(tmp_path) -> None:
    ResultStore(tmp_path).save("j3", motions(samples=1), {"prompt": "p", "seconds": 1.0, "steps": 10})
    meta = json.loads((tmp_path / "j3" / "job.json").read_text())
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
