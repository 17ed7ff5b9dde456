"""`motionbridge bench threads`: a clip's latency per torch thread layout and thread count, idle and under load.

Every configuration runs in a fresh process, because an OpenMP thread team, once started, lives as long as
the process:
- `one-thread`: the model is loaded and sampled on the same thread (`engine.model.threads.ModelThread`, the daemon);
- `split`: loaded on the main thread and sampled on another one (the daemon's layout before issue 21);
each with 1 … N intra-op threads. "Under load" repeats them while `--load` busy processes each keep one core
busy (a training job, a game editor beside the daemon). The report gives median latencies, each one's ratio
to the best of its condition, and the thread count whose worse slowdown (idle or under load, against the
best one-thread count of that condition) is smallest: `engine.model.threads.default_threads` should match it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROMPT = "a person walks forward and waves with the right hand"
LAYOUTS = ("one-thread", "split")


def measure(model_spec: str, layout: str, threads: int, seconds: float, repeats: int) -> list[float]:
    """Latencies (ms) of `repeats` clips after one warm-up, in this process, in `layout` with `threads`."""
    import torch

    from engine.io.loading import load_model
    from engine.model.threads import ModelThread

    runner = ModelThread(threads)
    if layout == "one-thread":
        model = runner.call(load_model, model_spec, "cpu")
    elif layout == "split":
        torch.set_num_threads(threads)
        model = load_model(model_spec, "cpu")
    else:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")

    def one(seed: int) -> float:
        start = time.perf_counter()
        model.generate(PROMPT, seconds, seed=seed)
        return (time.perf_counter() - start) * 1000.0

    runner.call(one, 0)
    try:
        return [runner.call(one, 1 + k) for k in range(repeats)]
    finally:
        runner.shutdown()


def _child(model_spec: str, layout: str, threads: int, seconds: float, repeats: int) -> list[float]:
    cmd = [sys.executable, "-m", "engine.commands.bench_threads", "--child", "--model", model_spec, "--layout", layout,
           "--threads", str(threads), "--seconds", str(seconds), "--repeats", str(repeats)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), *sys.path])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class BusyCores:
    """`count` processes that each keep one core busy until `stop`."""

    def __init__(self, count: int) -> None:
        self.procs = [
            subprocess.Popen([sys.executable, "-c", "while True:\n    pass"]) for _ in range(count)
        ]

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


def run_bench(model_spec: str, max_threads: int, load: int, seconds: float, repeats: int) -> dict:
    conditions: dict[str, dict[str, dict[str, float]]] = {}
    for condition in ("idle", "under_load"):
        busy = BusyCores(load) if condition == "under_load" else None
        try:
            rows: dict[str, dict[str, float]] = {}
            for layout in LAYOUTS:
                for n in range(1, max_threads + 1):
                    runs = _child(model_spec, layout, n, seconds, repeats)
                    rows[f"{layout}/{n}"] = {"median_ms": statistics.median(runs), "min_ms": min(runs)}
        finally:
            if busy is not None:
                busy.stop()
        best = min(r["median_ms"] for r in rows.values())
        for r in rows.values():
            r["vs_best"] = r["median_ms"] / best
        conditions[condition] = rows
    return {
        "benchmark": "threads",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "model": model_spec,
        "clip_seconds": seconds,
        "repeats": repeats,
        "cores": os.cpu_count(),
        "busy_processes_under_load": load,
        "conditions": conditions,
        "recommended_threads": recommend(conditions, max_threads),
    }


def recommend(conditions: dict[str, dict[str, dict[str, float]]], max_threads: int) -> int:
    """The one-thread layout's count whose worse slowdown, idle or under load, is smallest."""
    counts = range(1, max_threads + 1)
    slowdown = {n: 1.0 for n in counts}
    for rows in conditions.values():
        times = {n: rows[f"one-thread/{n}"]["median_ms"] for n in counts}
        for n in counts:
            slowdown[n] = max(slowdown[n], times[n] / min(times.values()))
    return min(counts, key=lambda n: (slowdown[n], n))


def format_report(r: dict) -> str:
    lines = [
        f"threads bench — {r['model']}, {r['clip_seconds']:g} s clip, median of {r['repeats']}, {r['cores']} cores, "
        f"{r['date']}; under load = {r['busy_processes_under_load']} busy process(es)",
        f"{'layout/threads':<16}{'idle ms':>10}{'×best':>8}{'loaded ms':>12}{'×best':>8}",
    ]
    for key, idle in r["conditions"]["idle"].items():
        loaded = r["conditions"]["under_load"][key]
        lines.append(
            f"{key:<16}{idle['median_ms']:>10.0f}{idle['vs_best']:>8.2f}{loaded['median_ms']:>12.0f}{loaded['vs_best']:>8.2f}"
        )
    lines.append(f"recommended --threads: {r['recommended_threads']}")
    return "\n".join(lines)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="tiny", help="tiny, random:<config>, a model folder or file (default tiny)")
    parser.add_argument("--max-threads", type=int, default=os.cpu_count() or 1, help="largest count tried")
    parser.add_argument("--load", type=int, default=1, help="busy processes for the under-load runs (default 1)")
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length (default 5)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", help="also write the JSON result to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--layout", choices=LAYOUTS, default="one-thread", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    if args.child:
        print(json.dumps(measure(args.model, args.layout, args.threads, args.seconds, args.repeats)))
        return 0
    result = run_bench(args.model, args.max_threads, args.load, args.seconds, args.repeats)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motionbridge bench threads", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
