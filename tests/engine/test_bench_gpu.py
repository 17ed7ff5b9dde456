"""`motionbridge bench gpu` / scripts/gpu-check.sh: the whole GPU check runs on a CPU in its smoke mode."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import torch

from engine.commands import bench_gpu

REPO = Path(__file__).resolve().parents[2]


def test_smoke_run_of_the_gpu_check_script_writes_one_json_and_one_markdown_report(tmp_path):
    proc = subprocess.run(
        [str(REPO / "scripts" / "gpu-check.sh"), "--smoke", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "gpu-check.json").read_text())
    assert report["smoke"] and report["skipped_for_budget"] == []
    assert report["weights"].startswith("random weights of the published shapes")
    engine = report["sections"]["engine"]
    assert set(engine) == {"HY-Motion-1.0", "HY-Motion-1.0-Lite"}
    for figures in engine.values():
        assert figures["latency_s"]["fast"] > 0 and figures["latency_s"]["upstream_style"] > 0
        assert figures["first_preview_ms"] > 0 and set(figures["throughput_clips_per_s"]) == {"1", "2"}
        assert figures["peak_memory_mb"]["fast"] > 0 and figures["bf16_vs_fp32_mean_rotation_deg"] >= 0
    text = report["sections"]["text_encoders"]
    assert text["encode_s"]["on_device"] > 0 and text["encode_s"]["on_cpu"] > 0
    markdown = (tmp_path / "gpu-check.md").read_text()
    assert "random weights of the published shapes" in markdown and "| HY-Motion-1.0-Lite |" in markdown


def test_no_section_starts_once_the_time_budget_is_spent():
    torch.set_num_threads(1)
    report = bench_gpu.run_check("cpu", smoke=True, weights=None, budget_s=-1.0)
    assert report["skipped_for_budget"] == ["engine/HY-Motion-1.0", "engine/HY-Motion-1.0-Lite", "text_encoders"]
    assert "Skipped for the time budget" in bench_gpu.format_markdown(report)


def test_targets_are_checked_against_the_documented_bounds():
    full = {
        "latency_s": {"fast": 0.25, "upstream_style": 2.5},
        "speedup_vs_upstream": 10.0,
        "first_preview_ms": 140.0,
        "batching_gain": {"batch8_vs_batch1": 3.5},
        "peak_memory_mb": {"fast": 5 * 1024, "upstream_style": 9000},
        "bf16_vs_fp32_mean_rotation_deg": 0.4,
    }
    targets = bench_gpu.check_targets({"engine": {"HY-Motion-1.0": full}})
    assert {name: t["met"] for name, t in targets.items()} == {
        "full_fast_latency_s": True,
        "full_speedup_vs_upstream": True,
        "full_first_preview_ms": False,
        "full_batch8_vs_batch1": True,
        "full_peak_dit_memory_gb_bf16": True,
        "full_bf16_vs_fp32_rotation_deg": True,
    }
