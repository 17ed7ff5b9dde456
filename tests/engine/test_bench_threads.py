"""`motionbridge bench threads`: the per-layout measurement runs, and the recommendation rule."""

from __future__ import annotations

import torch

from engine.commands import bench_threads


def test_one_layout_is_measured_in_this_process():
    torch.set_num_threads(1)
    runs = bench_threads.measure("random:test", "one-thread", 1, seconds=1.0, repeats=2)
    assert len(runs) == 2 and all(ms > 0 for ms in runs)


def test_recommendation_is_the_count_whose_worse_slowdown_is_smallest():
    def rows(one: float, two: float) -> dict:
        return {"one-thread/1": {"median_ms": one}, "one-thread/2": {"median_ms": two}}

    # Two threads 1.3× faster idle but 10× slower under load: one thread.
    assert bench_threads.recommend({"idle": rows(390, 300), "under_load": rows(1200, 12000)}, 2) == 1
    # Two threads faster in both conditions: two.
    assert bench_threads.recommend({"idle": rows(390, 300), "under_load": rows(1200, 1100)}, 2) == 2
