"""The engine benchmark program (smoke run on the test config) and the text-encoder plumbing."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from engine.commands import bench
from engine.model.text_encoders import CachedTextEncoder, HashTextEncoder, TextFeatures

torch.set_num_threads(1)


def test_bench_engine_measures_both_paths_in_one_run(capsys):
    parser = argparse.ArgumentParser()
    bench.configure_parser(parser)
    args = parser.parse_args(
        ["--config", "test", "--device", "cpu", "--steps", "4", "--repeats", "3", "--batches", "1,4", "--json"]
    )
    assert bench.run(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["config"] == "test" and result["device"] == "cpu" and result["dtype"] == "fp32"
    assert set(result["latency_s"]) == {"fast", "upstream_style"}
    # Timings are the benchmark's output, not something a unit test on a shared machine can bound.
    assert result["speedup_vs_upstream"] > 0 and result["first_preview_ms"] > 0
    assert set(result["throughput_clips_per_s"]) == {"1", "4"}
    assert result["peak_memory_mb"]["fast"] > 0


def test_human_readable_report_names_the_ratio():
    result = bench.run_bench("test", "cpu", None, steps=2, repeats=1, batches=(1,), warmup=0)
    text = bench.format_report(result)
    assert "speed-up" in text and "upstream-style" in text and result["config"] in text


def test_hash_encoder_is_deterministic_and_prompt_dependent():
    enc = HashTextEncoder(ctxt_dim=6, vtxt_dim=4, max_length=5)
    a, b = enc.encode(["walk forward", "run"]), enc.encode(["walk forward"])
    assert a.ctxt.shape == (2, 5, 6) and a.vtxt.shape == (2, 1, 4) and a.ctxt_length.tolist() == [3, 2]
    assert torch.equal(a.ctxt[0], b.ctxt[0]) and not torch.equal(a.vtxt[0], a.vtxt[1])
    assert torch.count_nonzero(a.ctxt[1, 2:]) == 0  # right padding stays zero


def test_cached_encoder_reuses_and_evicts_least_recently_used():
    calls = []

    class Counting(HashTextEncoder):
        def encode(self, prompts):
            calls.append(list(prompts))
            return super().encode(prompts)

    cache = CachedTextEncoder(Counting(4, 4, 3), capacity=2)
    first = cache.encode(["a", "b", "a"])
    assert calls == [["a", "b"]] and torch.equal(first.ctxt[0], first.ctxt[2])
    cache.encode(["a"])
    assert (cache.hits, cache.misses) == (2, 2) and len(calls) == 1
    cache.encode(["c"])  # evicts "b", the least recently used
    cache.encode(["b"])
    assert calls[-1] == ["b"]
    assert torch.equal(cache.encode(["a"]).vtxt, Counting(4, 4, 3).encode(["a"]).vtxt)


def test_text_features_validate_their_shapes():
    with pytest.raises(ValueError, match="TextFeatures"):
        TextFeatures(torch.zeros(2, 4, 3), torch.zeros(3, dtype=torch.long), torch.zeros(2, 1, 3))
    f = TextFeatures(torch.zeros(2, 4, 3), torch.tensor([1, 2]), torch.zeros(2, 1, 5))
    assert f.select([1]).ctxt_length.tolist() == [2] and TextFeatures.cat([f, f]).batch == 4
