"""`motionbridge live`: record a live session of a running daemon to a file.

    motionbridge live "a person walks forward" --seconds 30 --change "10:a person waves" \
        --change "20:a person jumps" --area 3 -o live.npz

The session runs for `--seconds` of wall-clock time, changes the prompt at each `--change T:PROMPT`, and the
whole stream (or its last `--last` seconds) is written as one clip (.npz SMPL-H; .bvh/.glb exported for
`--target`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from bridge.client import DEFAULT_URL, TOKEN_ENV

MAX_SECONDS = 3600.0


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="what the character does first")
    parser.add_argument("-o", "--output", required=True, help="file to write: .npz, .bvh or .glb")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to record, wall-clock (default 20)")
    parser.add_argument("--change", action="append", default=[], metavar="T:PROMPT",
                        help="switch to PROMPT T seconds after the start (repeatable)")
    parser.add_argument("--last", type=float, default=None, help="keep only the last N seconds of the stream")
    parser.add_argument("--area", type=float, default=0.0, help="keep the root within this radius, metres (0: off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", default="smplh", help="skeleton for .bvh/.glb: smplh, unity, unreal, mixamo")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"daemon URL (default {DEFAULT_URL})")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV), help=f"daemon token (default ${TOKEN_ENV})")


def parse_changes(items: list[str], seconds: float) -> list[tuple[float, str]]:
    """`--change T:PROMPT` values → sorted (T, PROMPT); raises ValueError naming the bad one."""
    out = []
    for item in items:
        head, sep, prompt = item.partition(":")
        try:
            at = float(head)
        except ValueError:
            raise ValueError(f"--change {item!r}: expected T:PROMPT with T in seconds") from None
        if not sep or not prompt.strip():
            raise ValueError(f"--change {item!r}: the prompt after ':' is empty")
        if not 0 < at < seconds:
            raise ValueError(f"--change {item!r}: {at:g} s lies outside the recording (0 to {seconds:g} s)")
        out.append((at, prompt.strip()))
    return sorted(out)


async def record(url: str, token: str | None, prompt: str, seconds: float, changes: list[tuple[float, str]],
                 area: float, seed: int) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    """Run the session; returns (the recording as a SampleMotion in smplh, done, the live_state messages)."""
    from bridge.client import MotionBridgeClient
    from bridge.live_client import LiveSession

    states: list[dict[str, Any]] = []
    async with MotionBridgeClient(url, token=token, client_name="motionbridge-cli") as client:
        async with LiveSession(client, prompt, area=area, seed=seed, record_seconds=seconds + 5.0) as live:
            began = time.perf_counter()
            upcoming = list(changes)
            async for _chunk in live:
                elapsed = time.perf_counter() - began
                while upcoming and elapsed >= upcoming[0][0]:
                    await live.change_prompt(upcoming.pop(0)[1])
                if live.state is not None and (not states or states[-1] != live.state):
                    states.append(dict(live.state))
                if elapsed >= seconds:
                    break
            done = await live.stop()
            return live.recording(), done, states


def run(args: argparse.Namespace) -> int:
    from bridge.client import ConnectionLost, HandshakeRefused, MotionBridgeError

    if not 0 < args.seconds <= MAX_SECONDS:
        print(f"error: --seconds must be in (0, {MAX_SECONDS:g}]", file=sys.stderr)
        return 2
    suffix = Path(args.output).suffix.lower().lstrip(".")
    if suffix not in ("npz", "bvh", "glb"):
        print(f"error: output must end in .npz, .bvh or .glb, got {args.output!r}", file=sys.stderr)
        return 2
    try:
        changes = parse_changes(args.change, args.seconds)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        sample, done, states = asyncio.run(
            record(args.url, args.token, args.prompt, args.seconds, changes, args.area, args.seed))
    except (MotionBridgeError, ConnectionLost, HandshakeRefused, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    motion = sample.to_motion(text=" → ".join([args.prompt] + [p for _, p in changes]))
    if args.last is not None:
        n = max(1, int(round(args.last * motion.fps)))
        motion = motion.with_(root=motion.root[-n:], rotations=motion.rotations[-n:])
    from bridge.commands.generate import write_motions

    paths = write_motions([motion], args.output, args.target)
    followed = ", ".join(f"{s['prompt']!r} from frame {s['frame']}" for s in states)
    print(f"recorded {motion.frames} frames ({motion.frames / motion.fps:.1f} s; {done['frames']} streamed)"
          + (f"; followed {followed}" if followed else "") + " → " + ", ".join(str(p) for p in paths))
    return 0
