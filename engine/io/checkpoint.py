"""Safe loading of HY-Motion 1.0 checkpoints from the directory layout users download.

```
HY-Motion-1.0/              (the folder passed to load_model / --model)
  config.yml                network_module_args + train_pipeline_args
  latest.ckpt               torch pickle {"model_state_dict": {...}}   (or)
  latest.safetensors        the same tensors, written by `motionbridge convert`
stats/Mean.npy, Std.npy     next to the folder, one or two levels up (or `mean`/`std` inside the checkpoint)
Qwen3-8B/, clip-vit-large-patch14/   text encoders, next to the folder or one level up
```

`latest.ckpt` is read with `torch.load(weights_only=True)` only: plain tensors and containers. A file whose
unpickling would need to import or call code is refused with `UnsafeCheckpointError` and nothing in it runs.
The statistics files must be the published ones, byte for byte (`PUBLISHED_STATS_SHA256`): a git-lfs pointer,
a truncated download or another release's statistics would denormalise every clip wrongly without any error.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import Tensor, nn

from engine.core.skeleton import FPS
from engine.model.configs import ModelConfig
from engine.model.representation import FEATURE_DIM

NETWORK_PREFIX = "motion_transformer."
NULL_KEYS = ("null_vtxt_feat", "null_ctxt_input")
PUBLISHED_STATS_SHA256 = {
    "Mean.npy": "a4bbe5f68881fe793d509f262ad3dc698a91f79158a9bde9d6f24d46ef9652bd",
    "Std.npy": "6cc86d1ca4b47fbd0e84b677c4397e51b6615abcb34e38fdd9daabbe6a5685cc",
}
"""SHA-256 of HY-Motion 1.0's stats/Mean.npy and Std.npy (1736 bytes each; the git-lfs object ids in
github.com/Tencent-Hunyuan/HY-Motion-1.0). Full and Lite share them."""


class CheckpointError(RuntimeError):
    """A checkpoint directory or file that cannot be used; the message says what is wrong and what to do."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint needs arbitrary code to unpickle; we refuse to run it."""


class StatsChecksumError(CheckpointError):
    """Normalisation statistics that are not the published files."""


class WeightsMismatchError(CheckpointError):
    """Missing or mis-shaped network weights, named one by one."""

    def __init__(self, missing: list[str], mis_shaped: list[tuple[str, tuple, tuple]]) -> None:
        self.missing = missing
        self.mis_shaped = mis_shaped
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: " + ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""))
        if mis_shaped:
            parts.append(
                f"{len(mis_shaped)} mis-shaped: "
                + ", ".join(f"{k} has {tuple(got)}, network wants {tuple(want)}" for k, got, want in mis_shaped[:20])
            )
        super().__init__("checkpoint does not fit the network config: " + "; ".join(parts))


@dataclass(frozen=True)
class HYMotionFiles:
    """Where the pieces of a HY-Motion installation are."""

    root: Path
    config: Path
    weights: Path
    stats: Path | None
    qwen: Path | None
    clip: Path | None


def _first_dir(candidates: list[Path], marker: str) -> Path | None:
    for c in candidates:
        if (c / marker).is_file():
            return c
    return None


def locate(model_dir: str | Path) -> HYMotionFiles:
    """Find config, weights, stats and text encoders for a HY-Motion folder."""
    root = Path(model_dir).expanduser()
    if not root.is_dir():
        raise CheckpointError(f"{root} is not a directory: pass the folder that holds config.yml and latest.ckpt")
    config = root / "config.yml"
    if not config.is_file():
        raise CheckpointError(
            f"model directory {root} has no config.yml: pass the folder that holds config.yml and latest.ckpt "
            "(e.g. .../HY-Motion-1.0 or .../HY-Motion-1.0-Lite)"
        )
    weights = next((root / n for n in ("latest.safetensors", "latest.ckpt") if (root / n).is_file()), None)
    if weights is None:
        raise CheckpointError(
            f"model directory {root} has neither latest.safetensors nor latest.ckpt; download the weights with "
            f"`motionbridge fetch-weights --dir {root.parent}`"
        )
    ups = [root, root.parent, root.parent.parent]
    stats = _first_dir([u / "stats" for u in ups], "Mean.npy")
    qwen = _first_dir([u / "Qwen3-8B" for u in ups], "config.json")
    clip = _first_dir([u / "clip-vit-large-patch14" for u in ups], "config.json")
    return HYMotionFiles(root, config, weights, stats, qwen, clip)


def _find_key(tree: object, key: str) -> object | None:
    """First value stored under `key` anywhere in nested dicts (config.yml nests pipeline settings)."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        for value in tree.values():
            found = _find_key(value, key)
            if found is not None:
                return found
    return None


def read_config(path: str | Path, name: str | None = None) -> ModelConfig:
    """An upstream config.yml → `ModelConfig` (network args + sampling settings)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CheckpointError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("network_module_args"), dict):
        raise CheckpointError(f"{path} has no network_module_args mapping; is it a HY-Motion config.yml?")
    module = str(data.get("network_module", "HunyuanMotionMMDiT"))
    if "HunyuanMotionMMDiT" not in module:
        raise CheckpointError(f"{path}: network_module {module!r} is not HunyuanMotionMMDiT")
    pipeline = data.get("train_pipeline_args", {}) or {}

    def setting(key: str, default: Any) -> Any:
        found = _find_key(pipeline, key)
        return default if found is None else found

    return ModelConfig(
        name=name or path.parent.name,
        network=dict(data["network_module_args"]),
        train_frames=int(setting("train_frames", 360)),
        text_max_length=int(setting("max_length_llm", 128)),
        default_steps=int(setting("validation_steps", 50)),
        default_cfg=float(setting("text_guidance_scale", 5.0)),
        fps=int(setting("output_mesh_fps", FPS)),
        enable_ctxt_null_feat=bool(setting("enable_ctxt_null_feat", True)),
        text_encoder="hymotion",
        meta={"random_generator_on_gpu": bool(setting("random_generator_on_gpu", False))},
    )


def load_torch_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """Read a torch pickle with `weights_only=True` and return its flat state dict (`model_state_dict` if any)."""
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"{path} needs code to unpickle, so it was refused (loading it could run arbitrary code). Only "
            "plain-tensor checkpoints are accepted. If you trust the file, convert it elsewhere to "
            f"safetensors and place latest.safetensors next to it. Detail: {str(exc).splitlines()[0]}"
        ) from None
    except RuntimeError as exc:
        if "mmap" in str(exc) or "zip" in str(exc):
            try:
                data = torch.load(path, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as exc2:
                raise UnsafeCheckpointError(f"{path} needs code to unpickle, so it was refused: {exc2}") from None
        else:
            raise CheckpointError(f"cannot read {path}: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("model_state_dict"), dict):
        data = data["model_state_dict"]
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a state dict (got {type(data).__name__})")
    return {k: v for k, v in data.items() if isinstance(v, Tensor)}


def load_safetensors(path: str | Path) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"cannot read safetensors file {path}: {exc}") from exc


def load_state(path: str | Path) -> dict[str, Tensor]:
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_safetensors(path)
    return load_torch_checkpoint(path)


def split_state(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor], list[str]]:
    """Upstream state dict → (network weights without prefix, top-level extras we use, ignored key names)."""
    network = {k[len(NETWORK_PREFIX) :]: v for k, v in state.items() if k.startswith(NETWORK_PREFIX)}
    extras = {k: v for k, v in state.items() if k in (*NULL_KEYS, "mean", "std")}
    ignored = sorted(k for k in state if not k.startswith(NETWORK_PREFIX) and k not in extras)
    return network, extras, ignored


def load_network_weights(network: nn.Module, weights: dict[str, Tensor]) -> list[str]:
    """Copy `weights` into `network`; every network key must be present with the right shape.

    Unknown keys are ignored and returned. Works on networks built on the meta device (tensors are assigned).
    """
    expected = network.state_dict()
    missing = [k for k in expected if k not in weights]
    mis_shaped = [
        (k, tuple(weights[k].shape), tuple(v.shape))
        for k, v in expected.items()
        if k in weights and tuple(weights[k].shape) != tuple(v.shape)
    ]
    if missing or mis_shaped:
        raise WeightsMismatchError(missing, mis_shaped)
    unknown = sorted(k for k in weights if k not in expected)
    dtype = next(iter(expected.values())).dtype if expected else torch.float32
    on_meta = any(v.is_meta for v in expected.values())
    target_dtype = torch.float32 if on_meta else dtype
    network.load_state_dict({k: weights[k].to(target_dtype) for k in expected}, strict=True, assign=on_meta)
    return unknown


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_stats(stats_dir: Path, expected: dict[str, str] = PUBLISHED_STATS_SHA256) -> None:
    """Raise `StatsChecksumError` unless Mean.npy and Std.npy in `stats_dir` hash to `expected`."""
    for name, digest in expected.items():
        got = sha256_of(stats_dir / name)
        if got != digest:
            raise StatsChecksumError(
                f"{stats_dir / name} is not HY-Motion 1.0's published file (SHA-256 {got}, expected {digest}); "
                "a git-lfs pointer or a partial download would give wrong motions. Fetch it again with "
                f"`motionbridge fetch-weights --dir {stats_dir.parent} --no-text-encoders`. Statistics of a model "
                "you trained yourself: load it with engine.load_model(..., verify_stats=False)"
            )


def load_stats(
    stats_dir: Path | None, extras: dict[str, Tensor], verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (201 each) from stats/Mean.npy + Std.npy (checked against the published files unless
    `verify` is False), else from the checkpoint's `mean`/`std`."""
    if stats_dir is not None:
        if verify:
            check_stats(stats_dir)
        mean = np.load(stats_dir / "Mean.npy", allow_pickle=False)
        std = np.load(stats_dir / "Std.npy", allow_pickle=False)
        return mean.reshape(-1), std.reshape(-1)
    if "mean" in extras and "std" in extras and extras["mean"].numel() == FEATURE_DIM:
        return extras["mean"].float().numpy().reshape(-1), extras["std"].float().numpy().reshape(-1)
    raise CheckpointError(
        "normalisation statistics not found: put stats/Mean.npy and stats/Std.npy (from the HY-Motion-1.0 "
        "repository) next to the model folder or one level up"
    )
