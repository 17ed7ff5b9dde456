"""`load_model`: one entry point for every model backend, and the embedded-model file format.

`load_model(path_or_name)` accepts
- a HY-Motion 1.0 / Lite folder (config.yml + latest.ckpt or latest.safetensors), see `engine.io.checkpoint`;
- `"tiny"`: the embedded model shipped in `engine/weights/tiny.safetensors` (MiniLM text encoder);
- a path to an embedded-model `.safetensors` file;
- `"random:<config>"` (full, lite, small, test): random weights of a named config with a hash text encoder,
  for benchmarks and development.

Embedded model file (format version 1): ONE safetensors file holding
- `network.<name>`: the DiT state dict (parameter names of `engine.model.dit.HunyuanMotionMMDiT`);
- `mean`, `std`: (201,) float32 normalisation statistics;
- `null_vtxt` (1, 1, Dv) and `null_ctxt` (1, 1, Dc): learned unconditional text features for CFG;
and in the safetensors metadata: `format` = "motionbridge-embedded", `format_version` = "1", and `config`, a
JSON object: `name`, `network` (upstream-style network args), `text_encoder` ("minilm", "hash", ...),
`text_encoder_options` (dict, passed to the encoder's constructor), `text_max_length`, `train_frames`, `fps`,
`max_seconds`, `default_steps`, `default_cfg`, `enable_ctxt_null_feat`, `overlap_frames`, optional
`postprocess` (`engine.post.postprocess.PostProcess` fields; upstream's steps when absent), plus free-form
`meta` (training data, licence, ...).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.core.skeleton import FPS
from engine.io.checkpoint import (
    CheckpointError,
    load_network_weights,
    load_state,
    load_stats,
    locate,
    read_config,
    split_state,
)
from engine.model.configs import CONFIGS, ModelConfig
from engine.model.device import resolve_device, resolve_dtype
from engine.model.dit import HunyuanMotionMMDiT
from engine.model.pipeline import DiTMotionModel
from engine.model.representation import Normalizer
from engine.model.text_encoders import HashTextEncoder, TextEncoder, TextEncoderError
from engine.post.postprocess import PostProcess

EMBEDDED_FORMAT = "motionbridge-embedded"
EMBEDDED_VERSION = "1"
TINY_PATH = Path(__file__).resolve().parents[1] / "weights" / "tiny.safetensors"


class ModelNotFoundError(CheckpointError):
    """A model name or path that does not exist; the message says how to get it."""


def load_model(
    path_or_name: str | Path,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    load_text_encoder: bool = True,
    *,
    text_device: str | torch.device | None = None,
    verify_stats: bool = True,
) -> DiTMotionModel:
    """Load a model by folder, file or name (see module docstring); device/dtype default to auto.

    `text_device` puts HY-Motion's text encoders elsewhere (e.g. "cpu" on a small GPU; prompts are cached).
    `verify_stats=False` accepts a HY-Motion folder's statistics that are not the published files (a model you
    trained yourself).
    """
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    text = str(path_or_name)
    if text == "tiny":
        if not TINY_PATH.is_file():
            raise ModelNotFoundError(
                f"the embedded tiny model is not built yet ({TINY_PATH} is missing): train it with "
                "`motionbridge train` or pass a HY-Motion folder with --model"
            )
        return load_embedded_model(TINY_PATH, dev, dt, load_text_encoder)
    if text.startswith("random:"):
        from engine.model.testing import random_model

        name = text.split(":", 1)[1]
        if name not in CONFIGS:
            raise ModelNotFoundError(f"unknown config {name!r} in {text!r}; choose one of {', '.join(CONFIGS)}")
        return random_model(CONFIGS[name], device=str(dev), dtype=dt)
    path = Path(path_or_name).expanduser()
    if path.is_file() and path.suffix == ".safetensors":
        return load_embedded_model(path, dev, dt, load_text_encoder)
    if path.is_dir():
        return load_hymotion(path, dev, dt, load_text_encoder, text_device=text_device, verify_stats=verify_stats)
    raise ModelNotFoundError(
        f"no model at {text!r}: pass a HY-Motion folder (with config.yml), an embedded .safetensors file, "
        "'tiny', or 'random:<config>'"
    )


# ---------------------------------------------------------------- HY-Motion folders


def load_hymotion(
    model_dir: str | Path,
    device: torch.device,
    dtype: torch.dtype,
    load_text_encoder: bool = True,
    text_device: str | torch.device | None = None,
    verify_stats: bool = True,
) -> DiTMotionModel:
    """Build the network on the meta device, fill it from the checkpoint, then cast and move it."""
    files = locate(model_dir)
    config = read_config(files.config)
    state = load_state(files.weights)
    weights, extras, _ignored = split_state(state)
    missing_null = [k for k in ("null_vtxt_feat", "null_ctxt_input") if k not in extras]
    if missing_null:
        raise CheckpointError(f"{files.weights} lacks the learned null text features: {', '.join(missing_null)}")
    with torch.device("meta"):
        network = HunyuanMotionMMDiT(config.network)
    load_network_weights(network, weights)
    network = network.to(device=device, dtype=dtype)
    mean, std = load_stats(files.stats, extras, verify=verify_stats)
    encoder: TextEncoder | None = None
    if load_text_encoder:
        if files.qwen is None or files.clip is None:
            raise TextEncoderError(
                f"text encoders not found next to {files.root}: expected Qwen3-8B/ and clip-vit-large-patch14/ "
                f"beside it or one level up; get them with `motionbridge fetch-weights --dir {files.root.parent}`, "
                "or load with load_text_encoder=False"
            )
        from engine.model.text_encoders import HYMotionTextEncoder

        encoder = HYMotionTextEncoder(
            files.qwen, files.clip, device=text_device or device, max_length=config.text_max_length
        )
    return DiTMotionModel(
        network,
        config,
        Normalizer.from_arrays(mean, std),
        extras["null_vtxt_feat"],
        extras["null_ctxt_input"],
        encoder,
        name=config.name,
        device=device,
    )


# ---------------------------------------------------------------- embedded single-file models


def save_embedded_model(model: DiTMotionModel, path: str | Path, meta: dict | None = None) -> Path:
    """Write `model` as one embedded-model safetensors file (see module docstring)."""
    from safetensors.torch import save_file

    path = Path(path)
    cfg = model.config
    network_cfg = getattr(model.network, "config", None)
    network_args = network_cfg.to_dict() if network_cfg is not None else dict(cfg.network)
    encoder = model.text_encoder.inner if model.text_encoder is not None else None
    config = {
        "name": model.name,
        "network": network_args,
        "text_encoder": cfg.text_encoder if encoder is None else getattr(encoder, "name", cfg.text_encoder),
        "text_encoder_options": dict(cfg.meta.get("text_encoder_options", {})),
        "text_max_length": cfg.text_max_length,
        "train_frames": cfg.train_frames,
        "fps": cfg.fps,
        "max_seconds": model.max_seconds,
        "default_steps": cfg.default_steps,
        "default_cfg": cfg.default_cfg,
        "enable_ctxt_null_feat": cfg.enable_ctxt_null_feat,
        "overlap_frames": model.overlap_frames,
        "postprocess": model.postprocess.to_dict(),
        "meta": {**cfg.meta, **(meta or {})},
    }
    tensors = {f"network.{k}": v.detach().float().cpu().contiguous() for k, v in model.network.state_dict().items()}
    tensors["mean"] = model.normalizer.mean.float().cpu().contiguous()
    tensors["std"] = model.normalizer.std.float().cpu().contiguous()
    tensors["null_vtxt"] = model.null_vtxt.float().cpu().contiguous()
    tensors["null_ctxt"] = model.null_ctxt.float().cpu().contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(
        tensors,
        str(tmp),
        metadata={"format": EMBEDDED_FORMAT, "format_version": EMBEDDED_VERSION, "config": json.dumps(config)},
    )
    tmp.replace(path)
    return path


def read_embedded_config(path: str | Path) -> dict:
    """The JSON config from an embedded model file's metadata (no tensors are read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    if metadata.get("format") != EMBEDDED_FORMAT:
        raise CheckpointError(f"{path} is not a MotionBridge embedded model (metadata format is missing)")
    if metadata.get("format_version") != EMBEDDED_VERSION:
        raise CheckpointError(
            f"{path} has embedded format version {metadata.get('format_version')!r}; this build reads "
            f"{EMBEDDED_VERSION!r}"
        )
    return json.loads(metadata["config"])


def embedded_postprocess(config: dict, path: str | Path) -> PostProcess:
    """The post-processing an embedded model file asks for (upstream's when it says nothing)."""
    try:
        return PostProcess.from_dict(dict(config.get("postprocess", {})))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad post-processing settings: {exc}") from exc


def embedded_text_encoder(config: dict) -> TextEncoder:
    """The text encoder an embedded model names (imported lazily)."""
    kind = config.get("text_encoder", "minilm")
    options = dict(config.get("text_encoder_options", {}))
    if kind == "minilm":
        try:
            from engine.model.text_minilm import MiniLMTextEncoder
        except ImportError as exc:
            raise TextEncoderError(f"the MiniLM text encoder is unavailable: {exc}") from exc
        return MiniLMTextEncoder(**options)
    if kind == "hash":
        net = config["network"]
        return HashTextEncoder(int(net["ctxt_input_dim"]), int(net["vtxt_input_dim"]), int(config["text_max_length"]))
    raise TextEncoderError(f"unknown text encoder {kind!r} in embedded model config")


def load_embedded_model(
    path: str | Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    load_text_encoder: bool = True,
) -> DiTMotionModel:
    """Load an embedded single-file model written by `save_embedded_model`."""
    config = read_embedded_config(path)
    state = load_state(Path(path))
    weights = {k[len("network.") :]: v for k, v in state.items() if k.startswith("network.")}
    for key in ("mean", "std", "null_vtxt", "null_ctxt"):
        if key not in state:
            raise CheckpointError(f"embedded model {path} lacks tensor {key!r}")
    model_config = ModelConfig(
        name=str(config.get("name", Path(path).stem)),
        network=dict(config["network"]),
        train_frames=int(config.get("train_frames", 360)),
        text_max_length=int(config.get("text_max_length", 128)),
        default_steps=int(config.get("default_steps", 50)),
        default_cfg=float(config.get("default_cfg", 5.0)),
        fps=int(config.get("fps", FPS)),
        enable_ctxt_null_feat=bool(config.get("enable_ctxt_null_feat", True)),
        text_encoder=str(config.get("text_encoder", "minilm")),
        meta={**dict(config.get("meta", {})), "text_encoder_options": dict(config.get("text_encoder_options", {}))},
        postprocess=embedded_postprocess(config, path),
    )
    with torch.device("meta"):  # no random initialisation: every weight comes from the file
        network = HunyuanMotionMMDiT(model_config.network)
    load_network_weights(network, weights)
    dev = torch.device(device)
    encoder = embedded_text_encoder(config) if load_text_encoder else None
    return DiTMotionModel(
        network.to(device=dev, dtype=dtype),
        model_config,
        Normalizer.from_arrays(state["mean"], state["std"]),
        state["null_vtxt"],
        state["null_ctxt"],
        encoder,
        name=model_config.name,
        device=dev,
        max_seconds=float(config.get("max_seconds", 60.0)),
        overlap_frames=int(config.get("overlap_frames", 60)),
    )
