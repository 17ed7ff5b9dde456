"""`motionbridge train`: train the embedded text-to-motion model on a built data set (`motionbridge dataset build`).

    motionbridge train --data DIR --config tiny --out DIR [--device cuda|cpu] [--resume] [--steps N] [--minutes M]

Recipe (flow matching, as HY-Motion): x_t = (1 − t)·noise + t·data with t ~ U[0, 1]; the DiT predicts the
velocity data − noise; mean squared error over the valid frames of normalised 201-d features. Text features
come from MiniLM (`engine.text_minilm`), computed once for every caption and cached in the output folder.
With probability `cond_drop` a sample's text is replaced by the learned null features, which is what
classifier-free guidance needs at sampling time. An exponential moving average of the weights is what gets
exported.

Training windows: every clip is cut into windows of `train_frames` frames (shorter clips are one shorter
window, padded and masked), each window re-canonicalised (origin, facing +Z) as generated clips are.
A batch draws clips uniformly, then one window and one caption of that clip.

Outputs in `--out`: `checkpoint.pt` (tensors only; `--resume` continues from it), `loss.csv`, `train.json`
(recipe, data summary, hardware, timings) and `<config>.safetensors`, the embedded model file, refreshed
at every checkpoint so an interrupted run still leaves a usable model.
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from engine.configs import SMALL, TEST, ModelConfig
from engine.dataset import load_index
from engine.dit import HunyuanMotionMMDiT, count_parameters
from engine.loading import save_embedded_model
from engine.mocap.clip import MocapClip, canonicalize
from engine.pipeline import DiTMotionModel
from engine.representation import FEATURE_DIM, Normalizer, encode_features
from engine.text_encoders import HashTextEncoder, TextEncoder, TextFeatures

TINY = ModelConfig(
    name="tiny",
    network={**SMALL.network, "feat_dim": 128, "num_heads": 2, "num_layers": 3, "text_refiner_cfg": {"num_layers": 1}},
    train_frames=150,
    text_max_length=24,
    default_steps=20,
    default_cfg=3.0,
    text_encoder="minilm",
    meta={"text_encoder_options": {"max_length": 24}},
)
"""The shipped embedded model: 128-d, 3 blocks (1 double + 2 single), 5 s windows, MiniLM text.
Chosen by measurement on the 2-core CPU this was trained on (see docs/model-tiny.md)."""

SMOKE = TEST.with_(name="smoke", train_frames=40, text_encoder="hash")
"""A very small network with hash text features, for the CI smoke run (seconds, no MiniLM)."""

TRAIN_CONFIGS: dict[str, ModelConfig] = {"tiny": TINY, "smoke": SMOKE}


@dataclass(frozen=True)
class Recipe:
    """Optimisation settings (recorded in train.json)."""

    batch_size: int = 32
    lr: float = 5e-4
    warmup_steps: int = 50
    weight_decay: float = 0.01
    cond_drop: float = 0.1
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    window_stride: int = 15
    seed: int = 0


# ---------------------------------------------------------------- data


@dataclass
class TrainingSet:
    """Windows (N, T, 201) raw features, their valid lengths, owning clip, and per-clip caption indices."""

    windows: Tensor
    lengths: Tensor
    clip_of_window: np.ndarray
    clip_windows: list[np.ndarray]
    clip_captions: list[list[int]]
    captions: list[str]

    @property
    def frames(self) -> int:
        return int(self.windows.shape[1])


def canonical_windows(root: np.ndarray, rotations: np.ndarray, frames: int, stride: int) -> list[Tensor]:
    """Feature windows of `frames` frames every `stride` frames, each restarted at the origin facing +Z."""
    total = root.shape[0]
    starts = [0] if total <= frames else list(range(0, total - frames + 1, stride))
    out = []
    for s in starts:
        part = slice(s, s + frames)
        clip = MocapClip("window", root[part].astype(np.float64), rotations[part].astype(np.float64), 30.0)
        clip = canonicalize(clip)
        out.append(encode_features(clip.root, clip.rotations))
    return out


def load_training_set(data: Path, frames: int, stride: int, limit: int | None = None) -> TrainingSet:
    """Read a built data set and cut it into canonical training windows."""
    index = load_index(data)
    clips = index["clips"][:limit] if limit else index["clips"]
    if not clips:
        raise ValueError(f"{data}: the data set has no clips")
    captions: list[str] = []
    caption_id: dict[str, int] = {}
    windows, lengths, owner, clip_windows, clip_captions = [], [], [], [], []
    for c, entry in enumerate(clips):
        with np.load(Path(data) / entry["file"]) as npz:
            root, rot = npz["root"], npz["rotations"]
        wins = canonical_windows(root, rot, frames, stride)
        first = len(windows)
        for w in wins:
            padded = torch.zeros(frames, FEATURE_DIM)
            padded[: w.shape[0]] = w
            windows.append(padded)
            lengths.append(w.shape[0])
            owner.append(c)
        clip_windows.append(np.arange(first, len(windows)))
        ids = []
        for text in entry["captions"]:
            if text not in caption_id:
                caption_id[text] = len(captions)
                captions.append(text)
            ids.append(caption_id[text])
        clip_captions.append(ids)
    return TrainingSet(torch.stack(windows), torch.tensor(lengths), np.array(owner), clip_windows, clip_captions,
                       captions)


def feature_statistics(data: TrainingSet) -> Normalizer:
    """Mean and std of every feature over the valid frames of all windows."""
    valid = torch.arange(data.frames)[None] < data.lengths[:, None]
    frames = data.windows[valid].double()
    return Normalizer.from_arrays(frames.mean(0).float(), frames.std(0).float())


def text_encoder_for(config: ModelConfig) -> TextEncoder:
    if config.text_encoder == "minilm":
        from engine.text_minilm import MiniLMTextEncoder

        return MiniLMTextEncoder(**config.meta.get("text_encoder_options", {}))
    if config.text_encoder == "hash":
        net = config.network
        return HashTextEncoder(int(net["ctxt_input_dim"]), int(net["vtxt_input_dim"]), config.text_max_length)
    raise ValueError(f"config {config.name}: no training text encoder {config.text_encoder!r}")


def encode_captions(captions: list[str], config: ModelConfig, cache: Path | None) -> TextFeatures:
    """Text features of every caption, computed once (in batches) and cached by content hash."""
    key = hashlib.sha256(json.dumps([config.text_encoder, config.meta.get("text_encoder_options"), captions])
                         .encode()).hexdigest()[:16]
    path = cache / f"text-{key}.pt" if cache else None
    if path is not None and path.exists():
        saved = torch.load(path, weights_only=True)
        return TextFeatures(saved["ctxt"], saved["ctxt_length"], saved["vtxt"])
    encoder = text_encoder_for(config)
    feats = TextFeatures.cat([encoder.encode(captions[i : i + 64]) for i in range(0, len(captions), 64)])
    if path is not None:
        torch.save({"ctxt": feats.ctxt, "ctxt_length": feats.ctxt_length, "vtxt": feats.vtxt}, path)
    return feats


# ---------------------------------------------------------------- model


class Trainee(nn.Module):
    """The DiT plus the learned unconditional text features that classifier-free guidance needs."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.network = HunyuanMotionMMDiT(config.network)
        net = self.network.config
        self.null_ctxt = nn.Parameter(torch.randn(1, 1, net.ctxt_input_dim) * 0.02)
        self.null_vtxt = nn.Parameter(torch.randn(1, 1, net.vtxt_input_dim) * 0.02)
        # adaLN-zero: every modulation and the output layer start at zero, so each block starts as identity.
        for name, module in self.network.named_modules():
            if isinstance(module, nn.Linear) and (name.endswith(("mod.linear", "modulation.linear"))
                                                  or name.startswith("final_layer")):
                nn.init.zeros_(module.weight)
                nn.init.zeros_(module.bias)


def batch_loss(trainee: Trainee, config: ModelConfig, x1: Tensor, lengths: Tensor, text: TextFeatures,
               gen: torch.Generator, cond_drop: float) -> Tensor:
    """Flow-matching loss of one batch of normalised windows x1 (B, T, 201)."""
    batch, frames, _ = x1.shape
    device = x1.device
    noise = torch.randn(x1.shape, generator=gen).to(device)
    t = torch.rand(batch, generator=gen).to(device)
    xt = (1 - t[:, None, None]) * noise + t[:, None, None] * x1
    drop = (torch.rand(batch, generator=gen) < cond_drop).to(device)
    text_len = max(1, int(text.ctxt_length.max()))
    ctxt = text.ctxt[:, :text_len].to(device)
    vtxt = text.vtxt.to(device)
    ctxt = torch.where(drop[:, None, None], trainee.null_ctxt.expand_as(ctxt), ctxt)
    vtxt = torch.where(drop[:, None, None], trainee.null_vtxt.expand_as(vtxt), vtxt)
    text_mask = torch.arange(text_len, device=device)[None] < text.ctxt_length.to(device)[:, None]
    motion_mask = torch.arange(frames, device=device)[None] < lengths.to(device)[:, None]
    pred = trainee.network(x=xt, ctxt_input=ctxt, vtxt_input=vtxt, timesteps=t, x_mask_temporal=motion_mask,
                           ctxt_mask_temporal=text_mask, text_position_offset=config.train_frames)
    err = (pred.float() - (x1 - noise)).pow(2).mean(-1)
    return (err * motion_mask).sum() / motion_mask.sum()


def draw_batch(
    data: TrainingSet, text: TextFeatures, rng: np.random.Generator, size: int
) -> tuple[Tensor, Tensor, TextFeatures]:
    """Clips uniformly, then a window and a caption of each."""
    clips = rng.integers(0, len(data.clip_windows), size)
    win = np.array([rng.choice(data.clip_windows[c]) for c in clips])
    caps = [int(rng.choice(data.clip_captions[c])) for c in clips]
    return data.windows[win], data.lengths[win], text.select(caps)


def to_embedded(trainee: Trainee, config: ModelConfig, normalizer: Normalizer) -> DiTMotionModel:
    """A `DiTMotionModel` (no text encoder loaded) holding a copy of these weights, for export."""
    network = copy.deepcopy(trainee.network).float().cpu()
    return DiTMotionModel(network, config, normalizer, trainee.null_vtxt.detach().cpu(),
                          trainee.null_ctxt.detach().cpu(), None, name=config.name, max_seconds=20.0,
                          overlap_frames=min(60, config.train_frames // 3))


# ---------------------------------------------------------------- the loop


def hardware() -> dict:
    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def train(data_dir: Path, config: ModelConfig, out: Path, device: str = "cpu", steps: int | None = None,
          minutes: float | None = None, resume: bool = False, recipe: Recipe | None = None,
          save_every_s: float = 300.0, limit: int | None = None, log=print) -> dict:
    """Train and export; returns the summary written to train.json."""
    recipe = recipe or Recipe()
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    start = time.time()
    data = load_training_set(data_dir, config.train_frames, recipe.window_stride, limit)
    normalizer = feature_statistics(data)
    text = encode_captions(data.captions, config, out)
    prep_s = time.time() - start
    log(f"{len(data.clip_windows)} clips, {len(data.windows)} windows of ≤{data.frames} frames, "
        f"{len(data.captions)} captions; prepared in {prep_s:.0f} s")

    dev = torch.device(device)
    trainee = Trainee(config).to(dev)
    ema = copy.deepcopy(trainee).requires_grad_(False)
    opt = torch.optim.AdamW(trainee.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    gen = torch.Generator().manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    step, trained_s = 0, 0.0
    ckpt_path = out / "checkpoint.pt"
    if resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=True)  # our own file, but never unpickle code
        trainee.load_state_dict(ckpt["model"])
        ema.load_state_dict(ckpt["ema"])
        opt.load_state_dict(ckpt["optimizer"])
        gen.set_state(ckpt["torch_rng"])
        rng.bit_generator.state = ckpt["numpy_rng"]
        step, trained_s = int(ckpt["step"]), float(ckpt["trained_s"])
        log(f"resumed at step {step}")
    normalizer = normalizer.to(dev)
    loss_log = out / "loss.csv"
    new_log = not (resume and loss_log.exists())
    summary: dict = {}

    def save() -> None:
        torch.save({"model": trainee.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                    "torch_rng": gen.get_state(), "numpy_rng": rng.bit_generator.state, "step": step,
                    "trained_s": trained_s}, out / "checkpoint.pt.tmp")
        (out / "checkpoint.pt.tmp").replace(ckpt_path)
        model = to_embedded(ema, config, normalizer.to("cpu"))
        summary.update({
            "config": config.name, "network": dict(config.network), "train_frames": config.train_frames,
            "parameters": count_parameters(trainee.network), "recipe": recipe.__dict__, "steps": step,
            "train_seconds": round(trained_s, 1), "prepare_seconds": round(prep_s, 1), "hardware": hardware(),
            "data": {"folder": str(data_dir), "clips": len(data.clip_windows), "windows": len(data.windows),
                     "captions": len(data.captions)},
        })
        save_embedded_model(model, out / f"{config.name}.safetensors", meta={"training": summary})
        (out / "train.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")

    trainee.train()
    last_save = time.time()
    with loss_log.open("w" if new_log else "a", newline="") as f:
        writer = csv.writer(f)
        if new_log:
            writer.writerow(["step", "loss", "lr", "seconds"])
        while True:
            if steps is not None and step >= steps:
                break
            if minutes is not None and trained_s >= minutes * 60:
                break
            t0 = time.time()
            x, lengths, caps = draw_batch(data, text, rng, recipe.batch_size)
            x1 = normalizer.normalize(x.to(dev))
            lr = recipe.lr * min(1.0, (step + 1) / recipe.warmup_steps)
            for group in opt.param_groups:
                group["lr"] = lr
            loss = batch_loss(trainee, config, x1, lengths, caps, gen, recipe.cond_drop)
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"loss became {loss.item()} at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(trainee.parameters(), recipe.grad_clip)
            opt.step()
            decay = min(recipe.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for e, p in zip(ema.parameters(), trainee.parameters(), strict=True):
                    e.lerp_(p, 1 - decay)
            step += 1
            trained_s += time.time() - t0
            writer.writerow([step, f"{loss.item():.5f}", f"{lr:.2e}", f"{trained_s:.1f}"])
            f.flush()
            if step % 20 == 0:
                log(f"step {step} loss {loss.item():.4f} ({trained_s / step:.2f} s/step)")
            if time.time() - last_save >= save_every_s:
                save()
                last_save = time.time()
    save()
    log(f"done: {step} steps in {trained_s / 60:.1f} min → {out / f'{config.name}.safetensors'}")
    return summary


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="a folder built by `motionbridge dataset build`")
    parser.add_argument("--config", default="tiny", choices=sorted(TRAIN_CONFIGS), help="model size")
    parser.add_argument("--out", type=Path, required=True, help="folder for checkpoints, logs and the model file")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many optimiser steps in total")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much training time in total")
    parser.add_argument("--batch-size", type=int, default=Recipe.batch_size)
    parser.add_argument("--lr", type=float, default=Recipe.lr)
    parser.add_argument("--seed", type=int, default=Recipe.seed)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--save-every", type=float, default=300.0, help="seconds between checkpoints")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N clips (smoke runs)")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steps is None and args.minutes is None:
        print("give --steps or --minutes so the run knows when to stop")
        return 2
    recipe = Recipe(batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    train(args.data, TRAIN_CONFIGS[args.config], args.out, args.device, args.steps, args.minutes, args.resume,
          recipe, args.save_every, args.limit)
    return 0
