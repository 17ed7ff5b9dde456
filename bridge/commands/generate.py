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

DIRECTING_HELP = """\
directing (protocol v1.1; all in the SMPL-H convention: metres, Y up, facing +Z; times in seconds):
  --start-from walk.npz              continue a saved clip: frame 0 is its last frame
  --key 2.5:pose.npz[:FRAME]         at 2.5 s, the body pose of frame FRAME (default: the last) of a clip;
                                     repeat for more keys
  --path "1,0,2;3,1.5,4,1.57"        root waypoints "t,x,z[,facing]" separated by ';' (facing: radians
                                     about +Y, 0 = +Z)
  --timeline "walk forward:3|sit down:2"
                                     a timeline of "prompt:seconds" separated by '|'; the prompt argument
                                     may then be left out and --seconds is the sum
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = DIRECTING_HELP
    parser.add_argument(
        "prompt", nargs="?", default="", help="what the character does, e.g. 'a person walks forward'"
    )
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
    parser.add_argument("--start-from", metavar="CLIP.npz", default=None, help="continue from a saved clip's end")
    parser.add_argument(
        "--key", metavar="TIME:CLIP.npz[:FRAME]", action="append", default=[], help="a pose key (repeatable)"
    )
    parser.add_argument("--path", metavar='"t,x,z[,facing];..."', default=None, help="root waypoints")
    parser.add_argument(
        "--timeline", metavar='"prompt:seconds|..."', default=None, help="a timeline of prompts (see below)"
    )


def _load_clip(path: str) -> Any:
    from engine.core.motion import Motion

    try:
        return Motion.load_npz(path)
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"error: cannot read clip {path!r}: {exc}") from None


def directing_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The protocol v1.1 fields of --start-from, --key, --path and --timeline (SMPL-H convention)."""
    from bridge.client import pose_key, segment, start_from, waypoint

    fields: dict[str, Any] = {}
    if args.start_from:
        clip = _load_clip(args.start_from)
        fields["start"] = start_from(clip.root, clip.rotations)
    keys = []
    for spec in args.key:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            raise SystemExit(f"error: --key {spec!r}: use TIME:CLIP.npz or TIME:CLIP.npz:FRAME")
        try:
            time_s = float(parts[0])
            frame = int(parts[2]) if len(parts) == 3 else -1
        except ValueError:
            raise SystemExit(f"error: --key {spec!r}: TIME must be seconds and FRAME a frame number") from None
        clip = _load_clip(parts[1])
        if not -clip.frames <= frame < clip.frames:
            raise SystemExit(f"error: --key {spec!r}: {parts[1]} has frames 0 to {clip.frames - 1}")
        keys.append(pose_key(time_s, clip.rotations[frame]))
    if keys:
        fields["keys"] = keys
    if args.path:
        points = []
        for item in filter(None, (p.strip() for p in args.path.split(";"))):
            try:
                numbers = [float(v) for v in item.split(",")]
            except ValueError:
                raise SystemExit(f"error: --path point {item!r}: use t,x,z or t,x,z,facing") from None
            if len(numbers) not in (3, 4):
                raise SystemExit(f"error: --path point {item!r}: use t,x,z or t,x,z,facing")
            t, x, z = numbers[:3]
            points.append(waypoint(t, (x, 0.0, z), numbers[3] if len(numbers) == 4 else None))
        fields["path"] = points
    if args.timeline:
        segments = []
        for item in filter(None, (p.strip() for p in args.timeline.split("|"))):
            prompt, _, seconds = item.rpartition(":")
            try:
                segments.append(segment(prompt.strip(), float(seconds)))
            except ValueError:
                raise SystemExit(f"error: --timeline part {item!r}: use 'prompt:seconds'") from None
            if not prompt.strip():
                raise SystemExit(f"error: --timeline part {item!r}: use 'prompt:seconds'")
        fields["segments"] = segments
    return fields


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


def write_motions(motions: list[Any], output: str, target: str) -> list[Path]:
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
    args.directing = directing_fields(args)
    if not args.prompt.strip() and "segments" not in args.directing:
        print("error: give a prompt (or a --timeline)", file=sys.stderr)
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
    paths = write_motions(motions, args.output, args.target)
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
                **args.directing,
            )
            model = str(client.hello.get("model", {}).get("name", ""))
    except HandshakeRefused as exc:
        raise SystemExit(f"error: the daemon at {url} refused the connection: {exc}") from None
    except ConnectionLost as exc:
        raise SystemExit(f"error: {exc.message}") from None
    except MotionBridgeError as exc:
        raise SystemExit(f"error: the daemon refused the request ({exc.code}): {exc.message}") from None
    return [s.to_motion(text=_text(args), model=model) for s in result.samples]


def _text(args: argparse.Namespace) -> str:
    segments = args.directing.get("segments")
    return " | ".join(s["prompt"] for s in segments) if segments and not args.prompt else args.prompt


def _constraints(args: argparse.Namespace) -> Any:
    """The in-process path: the same v1.1 fields through the daemon's decoding and checks."""
    if not args.directing:
        return None
    from bridge.codec import RequestError
    from bridge.directing import resolve_start
    from bridge.protocol import Generate, Limits, decode_directions

    try:
        request = Generate.model_validate({"op": "generate", "id": "cli", "prompt": args.prompt, **args.directing})
        directions = decode_directions(request, Limits())
        assert directions is not None
        return resolve_start(directions, lambda job: None, "cli")
    except (ValueError, RequestError) as exc:
        raise SystemExit(f"error: {exc}") from None


def _generate_in_process(args: argparse.Namespace, bar: ProgressBar) -> list[Any]:
    from engine.model.generation import GenerationError

    print(f"generating in-process: loading model {args.model!r} ...", file=sys.stderr)
    model = load_model_spec(args.model, args.device, None)
    params = _generation_params(args)
    constraints = _constraints(args)
    if constraints is not None and constraints.segments:
        params["seconds"] = constraints.clip_seconds(args.seconds)
    if not 0 < params["seconds"] <= model.max_seconds:
        raise SystemExit(f"error: --seconds must be in (0, {model.max_seconds:g}]")
    try:
        return model.generate(
            args.prompt,
            on_step=lambda ev: bar.update(ev.step, ev.steps),
            in_place=args.in_place,
            loop=args.loop,
            constraints=constraints,
            **params,
        )
    except GenerationError as exc:
        raise SystemExit(f"error: {exc}") from None


# ---------------------------------------------------------------------------------------------- status
