"""`motionbridge bench engine`: speed and memory of our serving path against the upstream-style path, one run.

Both paths use the same random weights of a real config (same FLOPs as trained weights) and the same text
features (hash encoder, a 20-word prompt: 21 valid tokens of `text_max_length`):
- fast: our path — exact cropping (requested frames and valid text tokens only), CFG in one batch, requests
  batched together, the chosen dtype (bf16 on GPUs by default);
- upstream-style: fp32, 360-frame padding, all 128 text positions, one request at a time.
Figures: latency of a 5 s clip (50 steps; the tiny model at its own default steps and CFG), time to the first
step callback (first preview), throughput in clips/s at batch 1/4/8 (batch 4/8 with mixed lengths of 2–8 s,
capped at one window), peak memory, and the ratios between paths.
On a CPU with the full config use `--steps 2 --repeats 1 --batches 1` to keep it short; per-step times are
reported so 50-step figures can be read off.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from engine.model.configs import CONFIGS, TINY, ModelConfig
from engine.model.device import dtype_name, resolve_device, resolve_dtype
from engine.model.dit import count_parameters
from engine.model.generation import GenerationRequest
from engine.model.pipeline import DiTMotionModel
from engine.model.text_encoders import CachedTextEncoder, HashTextEncoder

PROMPT = "a person walks forward slowly then turns left raises both arms waves and sits down on a low chair nearby"
MIXED_SECONDS = (2.0, 8.0, 5.0, 3.0, 6.5, 4.0, 7.0, 2.5)


def bench_config(name: str) -> ModelConfig:
    """Named config; "tiny" is the embedded model's network when its weights exist, else the small config."""
    if name == "tiny":
        from engine.io.loading import TINY_PATH, embedded_postprocess, read_embedded_config

        if TINY_PATH.is_file():
            cfg = read_embedded_config(TINY_PATH)
            return ModelConfig(
                name="tiny",
                network=dict(cfg["network"]),
                train_frames=int(cfg.get("train_frames", 360)),
                text_max_length=int(cfg.get("text_max_length", 32)),
                default_steps=int(cfg.get("default_steps", 50)),
                default_cfg=float(cfg.get("default_cfg", 5.0)),
                text_encoder="hash",
                postprocess=embedded_postprocess(cfg, TINY_PATH),  # its foot lock is part of every clip's cost
            )
        return TINY.with_(text_encoder="hash")
    return CONFIGS[name].with_(text_encoder="hash")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _median_time(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def mean_rotation_difference_deg(a: list, b: list) -> float:
    """Mean angle (degrees) between corresponding joint rotations of two lists of Motions."""
    angles = []
    for ma, mb in zip(a, b, strict=True):
        dots = np.abs((ma.rotations.astype(np.float64) * mb.rotations.astype(np.float64)).sum(-1)).clip(0, 1)
        angles.append(np.degrees(2 * np.arccos(dots)).mean())
    return float(np.mean(angles))


def run_bench(
    config_name: str,
    device_name: str | None,
    dtype_arg: str | None,
    steps: int | None = None,
    repeats: int = 3,
    batches: tuple[int, ...] = (1, 4, 8),
    warmup: int = 1,
    *,
    config: ModelConfig | None = None,
    base: DiTMotionModel | None = None,
) -> dict:
    """`config` replaces the named config; `base` (an fp32 model on `device_name`, e.g. loaded trained weights)
    replaces the random network, and is given the hash text encoder like the random one."""
    from engine.model.testing import random_model

    device = resolve_device(device_name)
    dtype = resolve_dtype(dtype_arg, device)
    config = config or (base.config if base is not None else bench_config(config_name))
    # HY-Motion figures are quoted at 50 steps; the embedded model is measured at its own default.
    steps = steps or (config.default_steps if config_name == "tiny" else 50)
    if base is None:
        upstream = random_model(config, seed=0, device=str(device), dtype=torch.float32, name=config.name)
    else:
        net = base.network.config
        upstream = copy.copy(base)
        upstream.text_encoder = CachedTextEncoder(
            HashTextEncoder(net.ctxt_input_dim, net.vtxt_input_dim, config.text_max_length)
        )
    upstream.exact_crop = False
    fast = copy.copy(upstream)
    fast.network = copy.deepcopy(upstream.network).to(dtype) if dtype != torch.float32 else upstream.network
    fast.exact_crop = True
    cfg = config.default_cfg

    def req(seconds: float, seed: int = 0) -> GenerationRequest:
        return GenerationRequest(PROMPT, seconds, seed, 1, steps, cfg)

    def fast_batch(requests: list[GenerationRequest]) -> Callable[[], object]:
        return lambda: fast.generate_batch(requests)

    def upstream_serial(requests: list[GenerationRequest]) -> Callable[[], object]:
        return lambda: [upstream.generate_batch([r]) for r in requests]

    five = [req(5.0)]
    for _ in range(warmup):
        fast_batch(five)()
        upstream_serial(five)()

    _reset_peak(device)
    fast_latency = _median_time(fast_batch(five), repeats, device)
    fast_peak = _peak_mb(device)
    _reset_peak(device)
    upstream_latency = _median_time(upstream_serial(five), repeats, device)
    upstream_peak = _peak_mb(device)
    # The embedded model's speed bar is a 10 s clip: two overlapping windows, blended.
    ten_latency = _median_time(fast_batch([req(10.0)]), repeats, device)

    first: list[float] = []

    def first_preview() -> None:
        start = time.perf_counter()
        seen: list[float] = []

        def on_step(event) -> None:  # noqa: ANN001 - StepEvent
            if not seen:
                event.preview(0)
                seen.append(time.perf_counter() - start)

        fast.generate_batch(five, on_step=on_step)
        first.append(seen[0])

    for _ in range(repeats):
        first_preview()

    throughput: dict[str, float] = {}
    for size in batches:
        # Mixed lengths inside one window (longer clips would take the windowed path, not the batch).
        window = config.max_window_seconds
        mixed = [min(MIXED_SECONDS[i % len(MIXED_SECONDS)], window) for i in range(size)]
        requests = five if size == 1 else [req(s, i) for i, s in enumerate(mixed)]
        seconds = _median_time(fast_batch(requests), repeats, device)
        throughput[str(size)] = size / seconds
    upstream_throughput = 1.0 / upstream_latency

    result = {
        "benchmark": "engine",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "config": config.name,
        "parameters": count_parameters(fast.network),
        "dtype": dtype_name(dtype),
        "steps": steps,
        "cfg": cfg,
        "clip_seconds": 5.0,
        "latency_s": {"fast": fast_latency, "upstream_style": upstream_latency},
        "latency_10s_clip_s": ten_latency,
        "speedup_vs_upstream": upstream_latency / fast_latency,
        "per_step_ms": {"fast": 1000 * fast_latency / steps, "upstream_style": 1000 * upstream_latency / steps},
        "latency_50_steps_s_est": {"fast": 50 * fast_latency / steps, "upstream_style": 50 * upstream_latency / steps},
        "first_preview_ms": 1000 * statistics.median(first),
        "throughput_clips_per_s": throughput,
        "upstream_style_clips_per_s": upstream_throughput,
        "peak_memory_mb": {"fast": fast_peak, "upstream_style": upstream_peak},
        "peak_memory_kind": "cuda max_memory_allocated" if device.type == "cuda" else "process max RSS",
    }
    if "1" in throughput and len(throughput) > 1:
        biggest = max(throughput, key=int)
        result["batching_gain"] = {f"batch{biggest}_vs_batch1": throughput[biggest] / throughput["1"]}
        result["throughput_vs_upstream"] = throughput[biggest] / upstream_throughput
    if dtype != torch.float32:
        result["bf16_vs_fp32_mean_rotation_deg"] = mean_rotation_difference_deg(
            fast.generate_batch(five)[0], copy.copy(upstream).generate_batch(five)[0]
        )
    return result


def format_report(r: dict) -> str:
    lines = [
        f"engine bench — {r['config']} ({r['parameters']:,} params), {r['device']} {r['device_name']}, "
        f"{r['dtype']}, {r['threads']} threads, torch {r['torch']}, {r['date']}",
        f"5 s clip, {r['steps']} steps, CFG {r['cfg']}:",
        f"  fast            {r['latency_s']['fast']:.3f} s   ({r['per_step_ms']['fast']:.1f} ms/step)",
        f"  upstream-style  {r['latency_s']['upstream_style']:.3f} s   "
        f"({r['per_step_ms']['upstream_style']:.1f} ms/step)",
        f"  speed-up        {r['speedup_vs_upstream']:.2f}×",
        f"  10 s clip, fast {r['latency_10s_clip_s']:.3f} s",
        f"  first preview   {r['first_preview_ms']:.1f} ms",
        "throughput (clips/s): "
        + ", ".join(f"batch {k}: {v:.2f}" for k, v in r["throughput_clips_per_s"].items())
        + f"; upstream-style: {r['upstream_style_clips_per_s']:.2f}",
    ]
    if "batching_gain" in r:
        ((key, gain),) = r["batching_gain"].items()
        lines.append(f"  {key.replace('_', ' ')}: {gain:.2f}×, vs upstream-style: {r['throughput_vs_upstream']:.2f}×")
    lines.append(
        f"peak memory ({r['peak_memory_kind']}): fast {r['peak_memory_mb']['fast']:.0f} MB, "
        f"upstream-style {r['peak_memory_mb']['upstream_style']:.0f} MB"
    )
    if "bf16_vs_fp32_mean_rotation_deg" in r:
        lines.append(f"bf16 vs fp32 mean joint rotation difference: {r['bf16_vs_fp32_mean_rotation_deg']:.3f}°")
    return "\n".join(lines)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="full", choices=["full", "lite", "tiny", "small", "test"])
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: auto)")
    parser.add_argument("--dtype", default=None, choices=["fp32", "bf16", "fp16"], help="fast path dtype")
    parser.add_argument("--steps", type=int, default=None, help="default 50 (tiny: its own default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batches", default="1,4,8", help="comma-separated batch sizes for throughput")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--model", type=Path, default=None,
                        help="an embedded model file (.safetensors) to time instead of the config's random weights")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", help="also write the JSON result to this file")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = tuple(int(b) for b in str(args.batches).split(",") if b.strip())
    base = None
    if args.model is not None:
        from engine.io.loading import load_embedded_model

        base = load_embedded_model(args.model, load_text_encoder=False)
    config = args.config if base is None else "tiny"
    result = run_bench(config, args.device, args.dtype, args.steps, args.repeats, batches, args.warmup, base=base)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motionbridge bench engine", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
