"""`motionbridge convert DIR`: turn a HY-Motion `latest.ckpt` into `latest.safetensors` for fast, safe loading.

The pickle is read with `weights_only=True` (refused if it needs code), every tensor is kept under its
upstream key, and the network keys are checked against the folder's config.yml before anything is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from engine.io.checkpoint import (
    CheckpointError,
    load_network_weights,
    load_torch_checkpoint,
    read_config,
    split_state,
)
from engine.model.dit import HunyuanMotionMMDiT


def convert(model_dir: str | Path, out: str | Path | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write `latest.safetensors` (or `out`) from `model_dir/latest.ckpt`; returns the written path."""
    from safetensors.torch import save_file

    root = Path(model_dir).expanduser()
    ckpt = root / "latest.ckpt"
    if not root.is_dir():
        raise CheckpointError(f"{root} is not a directory: pass the HY-Motion folder that holds latest.ckpt")
    if not ckpt.is_file():
        raise CheckpointError(f"{root} has no latest.ckpt to convert")
    config = read_config(root / "config.yml")
    state = load_torch_checkpoint(ckpt)
    weights, _extras, _ignored = split_state(state)
    with torch.device("meta"):
        network = HunyuanMotionMMDiT(config.network)
    load_network_weights(network, weights)
    target = Path(out) if out is not None else root / "latest.safetensors"
    tensors = {
        k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous() for k, v in state.items()
    }
    tmp = target.with_name(f".{target.name}.tmp")
    save_file(tensors, str(tmp), metadata={"source": ckpt.name, "format": "hymotion-state-dict"})
    tmp.replace(target)
    return target


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="HY-Motion model folder holding config.yml and latest.ckpt")
    parser.add_argument("--out", help="output file (default DIR/latest.safetensors)")
    parser.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], help="cast floating tensors (default: keep)")


def run(args: argparse.Namespace) -> int:
    from engine.model.device import DTYPES

    try:
        path = convert(args.dir, args.out, DTYPES[args.dtype] if args.dtype else None)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motionbridge convert", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
