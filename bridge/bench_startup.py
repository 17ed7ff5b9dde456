"""`motionbridge bench startup`: cold start of `motionbridge serve`, from launch to healthy to the first clip.

Each run launches a fresh daemon process and measures, from the moment it is started:
- `healthy_s`: until `GET /health` first answers 200 with status "ok";
- `first_generate_s`: the first generate (5 s clip, the model's default steps), request to `done`;
- `second_generate_s`: the same request with another seed, for the warm figure beside it.
`--repo` starts the daemon from another checkout (e.g. an export of an older commit) with this interpreter,
so a before/after pair is measured with the same method on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPT = "a person walks forward and waves"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as response:
            return response.status == 200 and json.loads(response.read()).get("status") == "ok"
    except OSError:
        return False


async def _generate(url: str, seed: int) -> float:
    from bridge.client import MotionBridgeClient

    async with MotionBridgeClient(url, connect_retries=0) as client:
        start = time.perf_counter()
        await client.generate_motion(PROMPT, seconds=5.0, seed=seed)
        return time.perf_counter() - start


def one_start(repo: Path, model: str, extra: list[str], timeout_s: float = 120.0) -> dict[str, float]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "bridge.cli", "serve", "--port", str(port), "--model", model,
               "--output-dir", out, "--log-level", "warning", *extra]
        env = {**os.environ, "PYTHONPATH": str(repo)}
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            while not _healthy(port):
                if proc.poll() is not None:
                    raise RuntimeError(f"the daemon exited with {proc.returncode}: {proc.communicate()[1].decode()}")
                if time.perf_counter() - start > timeout_s:
                    raise RuntimeError(f"no healthy daemon after {timeout_s:.0f} s")
                time.sleep(0.01)
            healthy = time.perf_counter() - start
            url = f"ws://127.0.0.1:{port}/v1"
            first = asyncio.run(_generate(url, 0))
            second = asyncio.run(_generate(url, 1))
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {"healthy_s": healthy, "first_generate_s": first, "second_generate_s": second}


def run_bench(repo: Path, model: str, repeats: int, extra: list[str]) -> dict:
    runs = [one_start(repo, model, extra) for _ in range(repeats)]
    keys = ("healthy_s", "first_generate_s", "second_generate_s")
    return {
        "benchmark": "startup",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "repo": str(repo),
        "model": model,
        "serve_args": extra,
        "cores": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "runs": runs,
        "median": {k: statistics.median(r[k] for r in runs) for k in keys},
        "min": {k: min(r[k] for r in runs) for k in keys},
    }


def format_report(r: dict) -> str:
    med, low = r["median"], r["min"]
    return "\n".join(
        [
            f"startup bench — serve --model {r['model']} from {r['repo']}, {len(r['runs'])} starts, "
            f"{r['cores']} cores, load average {r['load_average_1min']:.1f}, {r['date']}",
            *(
                f"  {label:<22}median {med[key]:.2f} s   (best {low[key]:.2f} s)"
                for label, key in (
                    ("launch → healthy", "healthy_s"),
                    ("first generate (5 s)", "first_generate_s"),
                    ("second generate", "second_generate_s"),
                )
            ),
        ]
    )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="tiny", help="model to serve (default tiny)")
    parser.add_argument("--repeats", type=int, default=5, help="daemon starts (default 5)")
    parser.add_argument("--repo", default=str(REPO), help="checkout to start the daemon from (default this one)")
    parser.add_argument("--serve-arg", action="append", default=[], metavar="ARG", help="extra serve argument")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", help="also write the JSON result to this file")


def run(args: argparse.Namespace) -> int:
    result = run_bench(Path(args.repo).resolve(), args.model, args.repeats, list(args.serve_arg))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motionbridge bench startup", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
