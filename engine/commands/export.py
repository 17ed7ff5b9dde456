"""`motionbridge export IN.npz -o OUT.bvh|.glb|.fbx|.npz`: convert a generated motion for a DCC or engine.

Options apply in this order: trim (--start/--end, seconds), resample (--fps), in-place, loop; then the
motion is retargeted to --target's rig and written in the format of OUT's extension.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.core.motion import Motion
from engine.io.exporters import ExportError, export_file
from engine.post import clip_ops
from engine.retarget.rigs import RIG_BUILDERS

OUTPUT_SUFFIXES = (".bvh", ".glb", ".fbx", ".npz")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="motion .npz (written by motionbridge or upstream HY-Motion)")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output file; its extension picks the format: " + ", ".join(OUTPUT_SUFFIXES))
    parser.add_argument("--target", default="smplh", choices=sorted(RIG_BUILDERS),
                        help="rig to retarget onto (default: smplh, our own T-pose skeleton)")
    parser.add_argument("--fps", type=float, default=None, help="resample to this frame rate (e.g. 24, 30, 60)")
    parser.add_argument("--in-place", action="store_true", help="remove horizontal root travel")
    parser.add_argument("--loop", action="store_true", help="blend the end into the start so the clip loops")
    parser.add_argument("--start", type=float, default=None, help="trim: first second to keep")
    parser.add_argument("--end", type=float, default=None, help="trim: last second to keep")


def prepare(motion: Motion, args: argparse.Namespace) -> Motion:
    """Apply the clip options of `args` to a motion (trim, resample, in-place, loop)."""
    if args.start is not None or args.end is not None:
        motion = clip_ops.trim(motion, args.start, args.end)
    if args.fps is not None:
        motion = clip_ops.resample(motion, args.fps)
    return clip_ops.apply_options(motion, args.in_place, args.loop)


def run(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() not in OUTPUT_SUFFIXES:
        print(f"error: cannot tell the format from {args.output.name!r}: use one of {', '.join(OUTPUT_SUFFIXES)}",
              file=sys.stderr)
        return 2
    if not args.input.is_file():
        print(f"error: input file {args.input} does not exist", file=sys.stderr)
        return 2
    try:
        motion = Motion.load_npz(args.input)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {args.input} is not a motion .npz (needs 'poses' and 'trans'): {exc}", file=sys.stderr)
        return 2
    try:
        motion = prepare(motion, args)
        path = export_file(motion, args.output, args.target)
    except (ExportError, clip_ops.ClipError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({motion.frames} frames at {motion.fps:g} fps, target {args.target})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motionbridge export", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
