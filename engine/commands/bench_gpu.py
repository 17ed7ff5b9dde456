"""`motionbridge bench gpu` (`scripts/gpu-check.sh`): every GPU figure the docs ask for, in one run, written as
one JSON file and one markdown report.

1. `engine`, for HY-Motion-1.0 and -Lite (`engine.commands.bench.run_bench`, 50 steps, CFG 5): the fast path
   (bf16) against the upstream-style path (fp32, 360-frame padding, one request at a time): 5 s clip latency
   and speed-up, first preview, throughput at batch 1 and 8 (mixed lengths), peak DiT memory, and the
   bf16-vs-fp32 mean joint rotation difference.
2. `text_encoders`: Qwen3-8B + CLIP ViT-L/14 encoding one prompt with the encoders on the GPU and on the CPU,
   and the peak GPU memory of the whole stack (full DiT in bf16 + encoders, one encode and one clip) both ways.

Without `--weights` every network has random weights of the published shapes: the same FLOPs and memory, so
the times and sizes hold, but the rotation difference then describes a random network, not the trained one
(the report says which). With `--weights DIR` (a folder from `motionbridge fetch-weights`) the real DiTs,
statistics and text encoders are used. The run starts no new section once `--budget-s` is spent, so it ends
within the device time it was given. `--smoke` runs the same code with tiny networks on the CPU in seconds.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from engine.commands.bench import PROMPT, run_bench
from engine.model.configs import FULL, LITE, TEST, ModelConfig
from engine.model.pipeline import DiTMotionModel
from engine.model.text_encoders import CachedTextEncoder

# Published configs of the text encoders (their config.json on the hub), for random-weight stand-ins.
QWEN3_8B = {
    "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936, "max_position_embeddings": 40960,
    "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": False,
}
CLIP_L14_TEXT = {
    "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
    "vocab_size": 49408, "max_position_embeddings": 77, "projection_dim": 768,
}
SMOKE_QWEN = {**QWEN3_8B, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 1000}
SMOKE_CLIP = {**CLIP_L14_TEXT, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 2, "vocab_size": 1000, "projection_dim": 32, "bos_token_id": 0,
              "eos_token_id": 1, "pad_token_id": 1}
QWEN_TOKENS = 256
"""Tokens Qwen reads per prompt: upstream's chat template with its system prompt (~120) plus 128 of user text."""

TARGETS = {
    "full_fast_latency_s": ("≤", 0.3),
    "full_speedup_vs_upstream": ("≥", 8.0),
    "full_first_preview_ms": ("≤", 100.0),
    "full_batch8_vs_batch1": ("≥", 3.0),
    "full_peak_dit_memory_gb_bf16": ("≤", 6.0),
    "full_bf16_vs_fp32_rotation_deg": ("≤", 1.0),
}
"""The GPU targets of docs/benchmarks.md: name → (comparison, bound)."""


class RandomTextStack:
    """Qwen3 base model + CLIP text model with random weights of the given configs, fed random token ids of
    upstream's lengths: the encoders' cost without their weight files."""

    def __init__(self, qwen: dict, clip: dict, device: torch.device) -> None:
        import transformers as tf

        with torch.device(device):
            previous = torch.get_default_dtype()
            torch.set_default_dtype(torch.bfloat16)
            try:
                self.llm = tf.Qwen3Model(tf.Qwen3Config(**qwen)).eval()
            finally:
                torch.set_default_dtype(previous)
            self.clip = tf.CLIPTextModel(tf.CLIPTextConfig(**clip)).eval()
        self.vocab = (int(qwen["vocab_size"]), int(clip["vocab_size"]))
        self.device = device

    def to(self, device: torch.device) -> RandomTextStack:
        self.llm.to(device)
        self.clip.to(device)
        self.device = device
        return self

    @torch.no_grad()
    def encode(self) -> None:
        gen = torch.Generator().manual_seed(0)
        ids = torch.randint(self.vocab[0], (1, QWEN_TOKENS), generator=gen).to(self.device)
        self.llm(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.float().cpu()
        clip_ids = torch.randint(self.vocab[1], (1, 77), generator=gen).to(self.device)
        self.clip(input_ids=clip_ids, attention_mask=torch.ones_like(clip_ids)).pooler_output.float().cpu()


class RealTextStack:
    """A loaded model's HY-Motion encoders (Qwen3-8B + CLIP), called past the model's prompt cache."""

    def __init__(self, model: DiTMotionModel) -> None:
        encoder = model.text_encoder
        self.inner = encoder.inner if isinstance(encoder, CachedTextEncoder) else encoder
        if self.inner is None:
            raise ValueError("the model was loaded without its text encoders")

    def to(self, device: torch.device) -> RealTextStack:
        self.inner.to(device)
        return self

    def encode(self) -> None:
        self.inner.encode([PROMPT])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], device: torch.device, repeats: int, warmup: bool = True) -> float:
    """Median seconds of `repeats` calls, after one warm-up call unless `warmup` is False."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _peak_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def engine_section(config: ModelConfig, device: torch.device, smoke: bool, weights: Path | None) -> dict:
    base = None
    if weights is not None:
        from engine.io.loading import load_model

        base = load_model(weights / config.name, device=device, dtype=torch.float32, load_text_encoder=False)
    dtype = "fp32" if device.type == "cpu" and not smoke else "bf16"
    return run_bench(
        config.name,
        str(device),
        dtype,
        steps=2 if smoke else 50,
        repeats=1 if smoke else 3,
        batches=(1, 2) if smoke else (1, 8),
        warmup=0 if smoke else 1,
        config=config,
        base=base,
    )


def text_section(device: torch.device, smoke: bool, weights: Path | None) -> dict:
    from engine.model.generation import GenerationRequest
    from engine.model.testing import random_model

    dit_config = TEST if smoke else FULL
    cpu = torch.device("cpu")
    _reset_peak(device)
    if weights is not None:
        from engine.io.loading import load_model

        dit = load_model(weights / FULL.name, device=device, dtype=torch.bfloat16)
        stack: RandomTextStack | RealTextStack = RealTextStack(dit)
    else:
        dit = random_model(dit_config, device=str(device), dtype=torch.bfloat16)
        stack = RandomTextStack(SMOKE_QWEN if smoke else QWEN3_8B, SMOKE_CLIP if smoke else CLIP_L14_TEXT, device)
    steps = 2 if smoke else 50
    clip = [GenerationRequest(PROMPT, 5.0, 0, 1, steps, 5.0)]
    repeats = 1 if smoke else 3
    on_device = _timed(stack.encode, device, repeats)
    dit.generate_batch(clip)
    peak_on_device = _peak_gb(device)
    stack.to(cpu)
    _reset_peak(device)
    on_cpu = _timed(stack.encode, cpu, 1, warmup=False)  # an 8B model on a CPU: one call says enough
    dit.generate_batch(clip)
    peak_encoders_on_cpu = _peak_gb(device)
    return {
        "encoders": "HY-Motion's Qwen3-8B + CLIP ViT-L/14" if weights else "random Qwen3-8B + CLIP ViT-L/14 shapes",
        "qwen_tokens": None if weights else QWEN_TOKENS,
        "encode_s": {"on_device": on_device, "on_cpu": on_cpu},
        "stack_peak_gpu_gb": {"encoders_on_device": peak_on_device, "encoders_on_cpu": peak_encoders_on_cpu},
        "dit": f"{dit_config.name} bf16, one 5 s clip at {steps} steps",
    }


def check_targets(sections: dict) -> dict[str, dict[str, Any]]:
    full = sections.get("engine", {}).get(FULL.name, {})
    if "latency_s" not in full:
        return {}
    measured = {
        "full_fast_latency_s": full["latency_s"]["fast"],
        "full_speedup_vs_upstream": full["speedup_vs_upstream"],
        "full_first_preview_ms": full["first_preview_ms"],
        "full_batch8_vs_batch1": next(iter(full.get("batching_gain", {}).values()), None),
        "full_peak_dit_memory_gb_bf16": full["peak_memory_mb"]["fast"] / 1024,
        "full_bf16_vs_fp32_rotation_deg": full.get("bf16_vs_fp32_mean_rotation_deg"),
    }
    out = {}
    for name, (op, bound) in TARGETS.items():
        value = measured[name]
        ok = None if value is None else (value <= bound if op == "≤" else value >= bound)
        out[name] = {"measured": value, "target": f"{op} {bound:g}", "met": ok}
    return out


def run_check(
    device_name: str | None,
    smoke: bool,
    weights: Path | None,
    budget_s: float,
    on_section: Callable[[dict], None] | None = None,
) -> dict:
    """Run every section that the budget allows; `on_section(report so far)` after each one, so a run cut off
    from outside still leaves the sections it finished."""
    from engine.model.device import resolve_device

    device = resolve_device(device_name or ("cpu" if smoke else "cuda"))
    start = time.perf_counter()
    sections: dict[str, Any] = {"engine": {}}
    skipped: list[str] = []

    def report() -> dict:
        return {
            "benchmark": "gpu-check",
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "smoke": smoke,
            "weights": str(weights) if weights else "random weights of the published shapes (no weights folder given)",
            "sections": sections,
            "targets": {} if smoke else check_targets(sections),
            "skipped_for_budget": skipped,
            "elapsed_s": time.perf_counter() - start,
        }

    plan: list[tuple[str, Callable[[], dict]]] = [
        (f"engine/{cfg.name}", lambda cfg=cfg: engine_section(cfg, device, smoke, weights))
        for cfg in ((TEST.with_(name=FULL.name), TEST.with_(name=LITE.name)) if smoke else (FULL, LITE))
    ]
    plan.append(("text_encoders", lambda: text_section(device, smoke, weights)))
    for name, fn in plan:
        if time.perf_counter() - start > budget_s:
            skipped.append(name)
            continue
        section_start = time.perf_counter()
        result = fn()
        result["section_seconds"] = time.perf_counter() - section_start
        if name.startswith("engine/"):
            sections["engine"][name.split("/", 1)[1]] = result
        else:
            sections[name] = result
        if on_section is not None:
            on_section(report())
    return report()


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def format_markdown(r: dict) -> str:
    lines = [
        f"# GPU check — {r['device_name']} ({r['device']}), torch {r['torch']}, CUDA {r['cuda']}, {r['date']}",
        "",
        f"- Weights: {r['weights']}." + (" Smoke run: tiny networks, figures mean nothing." if r["smoke"] else ""),
        f"- Elapsed: {r['elapsed_s']:.0f} s." + (
            f" Skipped for the time budget: {', '.join(r['skipped_for_budget'])}." if r["skipped_for_budget"] else ""
        ),
        "",
    ]
    if r["targets"]:
        lines += ["## Targets (docs/benchmarks.md)", "", "| figure | measured | target | met |", "|---|---|---|---|"]
        for name, t in r["targets"].items():
            met = {True: "yes", False: "**no**", None: "—"}[t["met"]]
            lines.append(f"| {name} | {_fmt(t['measured'])} | {t['target']} | {met} |")
        lines.append("")
    lines += [
        "## DiT, 5 s clip (fast: ours, bf16; upstream-style: fp32, 360-frame padding, serial)",
        "",
        "| model | params | steps | fast | upstream-style | speed-up | first preview | clips/s by batch | "
        "peak DiT memory fast / upstream | bf16 vs fp32 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in r["sections"]["engine"].items():
        batches = " / ".join(f"{k}: {v:.2f}" for k, v in e["throughput_clips_per_s"].items())
        rot = e.get("bf16_vs_fp32_mean_rotation_deg")
        lines.append(
            f"| {name} | {e['parameters']:,} | {e['steps']} | {e['latency_s']['fast']:.3f} s | "
            f"{e['latency_s']['upstream_style']:.3f} s | {e['speedup_vs_upstream']:.2f}× | "
            f"{e['first_preview_ms']:.1f} ms | {batches} | {e['peak_memory_mb']['fast'] / 1024:.2f} / "
            f"{e['peak_memory_mb']['upstream_style'] / 1024:.2f} GB | {'—' if rot is None else f'{rot:.3f}°'} |"
        )
    text = r["sections"].get("text_encoders")
    if text:
        peaks = text["stack_peak_gpu_gb"]
        lines += [
            "",
            f"## Text encoders ({text['encoders']}), one prompt",
            "",
            "| encoders on | encode | peak GPU memory of the whole stack |",
            "|---|---|---|",
            f"| GPU | {text['encode_s']['on_device']:.3f} s | {_fmt(peaks['encoders_on_device'])} GB |",
            f"| CPU | {text['encode_s']['on_cpu']:.3f} s | {_fmt(peaks['encoders_on_cpu'])} GB |",
            "",
            f"Whole stack: {text['dit']}, plus the encoders.",
        ]
    return "\n".join(lines) + "\n"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None, help="folder holding HY-Motion-1.0/, -Lite/, stats/, encoders")
    parser.add_argument("--device", default=None, help="default cuda (cpu with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="tiny networks on the CPU: checks the script itself")
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no section after this (default 420)")
    parser.add_argument("--out-dir", default="gpu-check", help="where gpu-check.json and gpu-check.md go")


def run(args: argparse.Namespace) -> int:
    weights = Path(args.weights).expanduser() if args.weights else None
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def write(result: dict) -> None:
        (out / "gpu-check.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "gpu-check.md").write_text(format_markdown(result))

    result = run_check(args.device, args.smoke, weights, args.budget_s, on_section=write)
    write(result)
    print(format_markdown(result))
    print(f"wrote {out / 'gpu-check.json'} and {out / 'gpu-check.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motionbridge bench gpu", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
