"""`motionbridge generate PROMPT -o OUT`: a clip from a running daemon (at --url, or the default one if it
answers), else in-process."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from bridge.client import DEFAULT_URL, TOKEN_ENV
from bridge.serving import load_model_spec
from engine.core.targets import EXPORT_TARGETS
from engine.io.formats import EXPORT_FORMATS


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="what the character does, e.g. 'a person walks forward'")
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=1, help="variations with seeds seed, seed+1, ...")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--cfg", type=float, default=None, help="guidance scale (default: the model's)")
    parser.add_argument("--loop", action="store_true", help="make the clip loop")
    parser.add_argument("--in-place", action="store_true", help="remove horizontal root travel")
    parser.add_argument(
        "-o",
        "--output",
        default="motion.npz",
        help="output file: .npz (SMPL-H), .bvh or .glb; several samples get _<k> suffixes",
    )
    parser.add_argument("--target", default="smplh", help="skeleton for .bvh/.glb: smplh, unity, unreal, mixamo")
    parser.add_argument(
        "--url", default=None, help=f"daemon to use (default {DEFAULT_URL} if one is running, else generate in-process)"
    )
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV), help=f"daemon token (default ${TOKEN_ENV})")
    parser.add_argument("--in-process", action="store_true", help="never use a daemon; load the model here")
    parser.add_argument("--model", default="tiny", help="model for in-process generation (as for serve)")
    parser.add_argument("--device", default=None)


class ProgressBar:
    """A one-line progress bar on stderr."""

    def __init__(self, stream: Any = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.drawn = False

    def update(self, step: int, steps: int, eta_ms: float | None = None) -> None:
        filled = int(self.width * step / max(1, steps))
        eta = f"  eta {eta_ms / 1000:.1f}s" if eta_ms is not None else ""
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {step}/{steps} steps{eta}   ")
        self.stream.flush()
        self.drawn = True

    def finish(self, text: str) -> None:
        if self.drawn:
            self.stream.write("\n")
        self.stream.write(text + "\n")
        self.stream.flush()


def _output_paths(output: str, samples: int) -> list[Path]:
    path = Path(output)
    if samples == 1:
        return [path]
    return [path.with_name(f"{path.stem}_{k}{path.suffix}") for k in range(samples)]


def _write_motions(motions: list[Any], output: str, target: str) -> list[Path]:
    fmt = Path(output).suffix.lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise SystemExit(f"error: output must end in .npz, .bvh or .glb, got {output!r}")
    paths = _output_paths(output, len(motions))
    for path, motion in zip(paths, motions, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "npz":
            motion.save_npz(path)
            continue
        try:
            from engine.io.exporters import export_bytes
        except ImportError:
            raise SystemExit(f"error: {fmt} export is not available in this build; use -o file.npz") from None
        path.write_bytes(export_bytes(motion, fmt, target))
    return paths


def _daemon_reachable(url: str) -> bool:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=0.5):
            return True
    except OSError:
        return False


def run(args: argparse.Namespace) -> int:
    if args.target not in EXPORT_TARGETS:
        print(f"error: unknown --target {args.target!r}: use smplh, unity, unreal or mixamo", file=sys.stderr)
        return 2
    if Path(args.output).suffix.lower() == ".npz" and args.target != "smplh":
        print("note: .npz files are always SMPL-H (upstream format); --target applies to .bvh/.glb", file=sys.stderr)
    if Path(args.output).suffix.lower().lstrip(".") not in EXPORT_FORMATS:
        print(f"error: output must end in .npz, .bvh or .glb, got {args.output!r}", file=sys.stderr)
        return 2
    if args.in_process and args.url:
        print("error: --in-process and --url exclude each other", file=sys.stderr)
        return 2
    url = args.url
    if url is None and not args.in_process and _daemon_reachable(DEFAULT_URL):
        url = DEFAULT_URL
    bar = ProgressBar()
    start = time.perf_counter()
    if url is not None:
        motions, where = _generate_with_daemon(args, url, bar), f"daemon {url}"
    else:
        motions, where = _generate_in_process(args, bar), f"in-process model {args.model}"
    paths = _write_motions(motions, args.output, args.target)
    seconds = time.perf_counter() - start
    bar.finish(
        f"{len(motions)} motion(s) of {motions[0].frames} frames from {where} in {seconds:.1f} s → "
        + ", ".join(str(p) for p in paths)
    )
    return 0


def _generation_params(args: argparse.Namespace) -> dict[str, Any]:
    return {"seconds": args.seconds, "seed": args.seed, "samples": args.samples, "steps": args.steps, "cfg": args.cfg}


def _generate_with_daemon(args: argparse.Namespace, url: str, bar: ProgressBar) -> list[Any]:
    from bridge.client import ConnectionLost, HandshakeRefused, MotionBridgeError, MotionBridgeSyncClient

    def on_event(event: dict[str, Any]) -> None:
        if event.get("op") == "progress":
            bar.update(event["step"], event["steps"], event.get("eta_ms"))

    try:
        with MotionBridgeSyncClient(url, token=args.token, client_name="motionbridge-cli", connect_retries=2) as client:
            result = client.generate(
                args.prompt,
                on_event=on_event,
                loop=args.loop or None,
                in_place=args.in_place or None,
                target="smplh",
                **_generation_params(args),
            )
            model = str(client.hello.get("model", {}).get("name", ""))
    except HandshakeRefused as exc:
        raise SystemExit(f"error: the daemon at {url} refused the connection: {exc}") from None
    except ConnectionLost as exc:
        raise SystemExit(f"error: {exc.message}") from None
    except MotionBridgeError as exc:
        raise SystemExit(f"error: the daemon refused the request ({exc.code}): {exc.message}") from None
    return [s.to_motion(text=args.prompt, model=model) for s in result.samples]


def _generate_in_process(args: argparse.Namespace, bar: ProgressBar) -> list[Any]:
    from engine.model.generation import GenerationError

    print(f"generating in-process: loading model {args.model!r} ...", file=sys.stderr)
    model = load_model_spec(args.model, args.device, None)
    params = _generation_params(args)
    if not 0 < args.seconds <= model.max_seconds:
        raise SystemExit(f"error: --seconds must be in (0, {model.max_seconds:g}]")
    try:
        return model.generate(
            args.prompt,
            on_step=lambda ev: bar.update(ev.step, ev.steps),
            in_place=args.in_place,
            loop=args.loop,
            **params,
        )
    except GenerationError as exc:
        raise SystemExit(f"error: {exc}") from None


# ---------------------------------------------------------------------------------------------- status
