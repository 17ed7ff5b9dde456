"""`motionbridge train`: train the embedded text-to-motion model on a built data set (`motionbridge dataset build`).

    motionbridge train --data DIR --config tiny --out DIR [--device cuda|cpu] [--resume] [--init FILE]
                       [--steps N] [--minutes M]

Recipe (flow matching, as HY-Motion): x_t = (1 − t)·noise + t·data with t ~ U[0, 1]; the DiT predicts the
velocity data − noise; mean squared error over the valid frames of normalised 201-d features. Added to it,
weighted by t²: joint positions by forward kinematics of the predicted rotations and root, joint velocities,
and the speed of feet where the data's feet are planted (`geometric_terms`). Text features come from MiniLM
(`engine.model.text_minilm`), computed once for every caption and cached in the output folder. With probability
`cond_drop` a sample's text is replaced by the learned null features, which is what classifier-free guidance
needs at sampling time; each caption token is also replaced by the null token with probability `token_drop`
(word dropout; the sentence vector is then re-pooled from the kept tokens, `repool`), and the sentence
vector is shaken by a little Gaussian noise (`vtxt_noise`). An exponential moving average of the weights is
what gets exported.

Training windows: every clip is cut into windows of `train_frames` frames (shorter clips are one shorter
window, padded and masked), each window re-canonicalised (origin, facing +Z) as generated clips are.
A batch draws clips (half of the rows uniformly, half with rare captions boosted, `clip_weights`), then one
window and one caption of each; a quarter of the rows are mirrored pairs of clips that say left or right
(`draw_batch`). `--init` fine-tunes an existing embedded model file instead of starting from random weights.

Outputs in `--out`: `checkpoint.pt` (tensors only; `--resume` continues from it), `loss.csv`, `train.json`
(recipe, data summary, hardware, timings) and `<config>.safetensors`, the embedded model file, refreshed
at every checkpoint so an interrupted run still leaves a usable model.

Long module: the training recipe (data windows, losses, schedule, checkpoints) and its command are one experiment
that is read and changed together.
"""

from __future__ import annotations

import argparse
import copy
import csv
import functools
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

from engine.core.skeleton import BODY_JOINTS, FPS, NUM_BODY_JOINTS, SMPLH_BODY
from engine.io.loading import save_embedded_model
from engine.model import tensor_rotations as R
from engine.model.configs import TEST, TINY, ModelConfig
from engine.model.dit import HunyuanMotionMMDiT, count_parameters
from engine.model.pipeline import DiTMotionModel
from engine.model.representation import FEATURE_DIM, JOINT_POS, ROOT_POS, Normalizer, encode_features
from engine.model.text_encoders import HashTextEncoder, TextEncoder, TextFeatures
from engine.train.checks import CONTACT_HEIGHT
from engine.train.dataset import load_index, mirror_twin_id
from engine.train.mocap.clip import MocapClip, canonicalize

SMOKE = TEST.with_(name="smoke", train_frames=40, text_encoder="hash")
"""A very small network with hash text features, for the CI smoke run (seconds, no MiniLM)."""

TINY6 = TINY.with_(network={**TINY.network, "num_layers": 6})
"""The v2 embedded model (whole CMU library): TINY's width with twice the blocks (2 double + 4 single),
grown from the shipped 3-block file by `grown_state` so training starts from what that model already did."""

TRAIN_CONFIGS: dict[str, ModelConfig] = {"tiny": TINY, "tiny6": TINY6, "smoke": SMOKE}


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
    balance: float = 0.5
    """Share of each batch drawn with rare captions boosted (`clip_weights`); the rest draws clips uniformly."""
    pos_weight: float = 20.0
    vel_weight: float = 0.03
    foot_weight: float = 0.03
    """Weights of the geometric terms (`geometric_terms`) added to the flow-matching loss."""
    pair_share: float = 0.25
    """Share of each batch given to mirrored pairs: a clip that says left or right and its mirror image, the
    same window and caption slot, the same noise, time and dropout. The two rows' inputs then differ only in
    the left/right word and in the mirrored motion under the shared noise, and their answers are mirror images,
    so the gradient says what that word must do; drawn independently, that signal drowns in the noise of
    everything else and the network ignores the word."""
    token_drop: float = 0.15
    """Share of caption tokens replaced by the learned null token (word dropout). With a few hundred captions
    the network otherwise keys on whole captions ("backwards" only ever came with "dribbling a ball") and a
    held-out phrasing of a known action misses."""
    repool: bool = True
    """Word dropout reaches the sentence vector too: it is recomputed from the kept tokens (where the encoder's
    sentence vector is their normalised mean, as MiniLM's is). Kept whole, that vector is a fixed tag of its
    caption that the network keys on: session 3's network, fed a held-out crawl prompt's tokens with a crawl
    caption's vector, crawled; fed the reverse, it walked upright. On its own this changed little (validation
    prompts 91 → 93 of 140 in 4,400 steps); with `vtxt_noise` it was 108 (docs/model-tiny.md)."""
    vtxt_noise: float = 0.5
    """Gaussian noise of about this norm added to the unit sentence vector (then renormalised; cosine to the
    original ≈ 0.89) in training, so that nearby sentences lead to nearby motion (conditioning augmentation).
    A few hundred captions are a few hundred isolated points in MiniLM's space, and an unseen phrasing lands
    between them: "someone creeps on all fours" sits at cosine 0.65 from the nearest crawl caption, and
    without the noise the network walked upright for it."""


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
    twins: np.ndarray
    """Per clip, the index of its left/right mirror image (same windows, captions with left/right swapped in
    the same order), or -1."""

    @property
    def frames(self) -> int:
        return int(self.windows.shape[1])

    @functools.cached_property
    def directional_clips(self) -> np.ndarray:
        """Clips whose mirror twin has different captions: those that say left or right (or clockwise)."""
        return np.array([c for c, twin in enumerate(self.twins)
                         if twin >= 0 and self.clip_captions[c] != self.clip_captions[twin]], dtype=np.int64)


def canonical_windows(root: np.ndarray, rotations: np.ndarray, frames: int, stride: int) -> list[Tensor]:
    """Feature windows of `frames` frames every `stride` frames, each restarted at the origin facing +Z."""
    total = root.shape[0]
    starts = [0] if total <= frames else list(range(0, total - frames + 1, stride))
    out = []
    for s in starts:
        part = slice(s, s + frames)
        clip = MocapClip(
            name="window", root=root[part].astype(np.float64), rotations=rotations[part].astype(np.float64), fps=30.0
        )
        clip = canonicalize(clip)
        out.append(encode_features(clip.root, clip.rotations))
    return out


def load_training_set(data: Path, frames: int, stride: int, limit: int | None = None) -> TrainingSet:
    """Read a built data set and cut it into canonical training windows."""
    index = load_index(data)
    # Clips of held-out subjects (`engine.train.mocap.sources.HELD_OUT_SUBJECTS`) are for evaluation only.
    clips = [c for c in index["clips"] if c.get("split", "train") == "train"]
    clips = clips[:limit] if limit else clips
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
    position = {entry["id"]: c for c, entry in enumerate(clips)}
    twins = np.array([position.get(mirror_twin_id(entry["id"]), -1) for entry in clips], dtype=np.int64)
    return TrainingSet(torch.stack(windows), torch.tensor(lengths), np.array(owner), clip_windows, clip_captions,
                       captions, twins)


def feature_statistics(data: TrainingSet) -> Normalizer:
    """Mean and std of every feature over the valid frames of all windows."""
    valid = torch.arange(data.frames)[None] < data.lengths[:, None]
    frames = data.windows[valid].double()
    return Normalizer.from_arrays(frames.mean(0).float(), frames.std(0).float())


def text_encoder_for(config: ModelConfig) -> TextEncoder:
    if config.text_encoder == "minilm":
        from engine.model.text_minilm import MiniLMTextEncoder

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


FOOT_CONTACT = [(BODY_JOINTS.index(name), height) for name, height in CONTACT_HEIGHT.items()]
CONTACT_MAX_SPEED = 1.0
"""A training foot counts as planted below the evaluation's contact heights and under this speed (m/s), so
the odd fast, low swing of the data is not pinned."""


def geometric_terms(pred: Tensor, true: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample geometric errors of denormalised predicted features against the data, (B,) each:
    joint positions by FK of the predicted rotations and root (m²), joint velocities ((m/s)²), and the
    horizontal speed of foot joints where the data's foot is planted ((m/s)²).

    These act on what the decoder actually uses (rotations and root, not the 66 position features), which
    the plain feature loss weighs as just numbers: a small network then slides its feet and jitters.
    """
    batch, frames, _ = pred.shape
    mats = R.rot6d_to_matrix(pred[..., 3:135].reshape(batch, frames, NUM_BODY_JOINTS, 6))
    offsets = torch.from_numpy(SMPLH_BODY.offsets).to(pred)
    pos_p = R.forward_kinematics_matrices(mats, pred[..., ROOT_POS], offsets, SMPLH_BODY.parents)
    pos_t = true[..., JOINT_POS].reshape(batch, frames, NUM_BODY_JOINTS, 3)
    m = mask.to(pred.dtype)
    pos_err = ((pos_p - pos_t) ** 2).sum(-1).mean(-1)
    pos_loss = (pos_err * m).sum(1) / m.sum(1).clamp_min(1)
    vel_p = (pos_p[:, 1:] - pos_p[:, :-1]) * FPS
    vel_t = (pos_t[:, 1:] - pos_t[:, :-1]) * FPS
    m2 = m[:, 1:] * m[:, :-1]
    vel_err = ((vel_p - vel_t) ** 2).sum(-1).mean(-1)
    vel_loss = (vel_err * m2).sum(1) / m2.sum(1).clamp_min(1)
    floor = torch.where(mask[..., None], pos_t[..., 1], torch.full_like(pos_t[..., 1], 1e9)).amin(dim=(1, 2))
    foot_sum = torch.zeros(batch, dtype=pred.dtype, device=pred.device)
    foot_count = torch.zeros_like(foot_sum)
    for joint, height in FOOT_CONTACT:
        h = pos_t[:, :, joint, 1] - floor[:, None]
        speed_t = vel_t[:, :, joint][..., [0, 2]].norm(dim=-1)
        planted = (h[:, 1:] < height) & (h[:, :-1] < height) & (speed_t < CONTACT_MAX_SPEED) & (m2 > 0)
        foot_sum = foot_sum + (vel_p[:, :, joint][..., [0, 2]].pow(2).sum(-1) * planted).sum(1)
        foot_count = foot_count + planted.sum(1)
    return pos_loss, vel_loss, foot_sum / foot_count.clamp_min(1)


def batch_loss(trainee: Trainee, config: ModelConfig, x1: Tensor, lengths: Tensor, text: TextFeatures,
               gen: torch.Generator, recipe: Recipe, normalizer: Normalizer,
               tied: Tensor | None = None, repool: bool = False) -> tuple[Tensor, dict[str, float]]:
    """Loss of one batch of normalised windows x1 (B, T, 201), and its parts for the log.

    Flow matching, plus the geometric terms on the clean motion the prediction implies
    (x̂1 = x_t + (1 − t)·v̂), weighted by t² because at small t that estimate is mostly the noise's mean.
    `tied[i]` names the row whose noise, time and dropout row i shares (mirrored pairs; default: its own).
    `repool`: the sentence vectors are their tokens' normalised means, so word dropout recomputes them.
    """
    batch, frames, _ = x1.shape
    device = x1.device
    tied = torch.arange(batch) if tied is None else tied.cpu()
    noise = torch.randn(x1.shape, generator=gen)[tied].to(device)
    t = torch.rand(batch, generator=gen)[tied].to(device)
    xt = (1 - t[:, None, None]) * noise + t[:, None, None] * x1
    drop = (torch.rand(batch, generator=gen) < recipe.cond_drop)[tied].to(device)
    text_len = max(1, int(text.ctxt_length.max()))
    ctxt = text.ctxt[:, :text_len].to(device)
    vtxt = text.vtxt.to(device)
    if recipe.token_drop > 0:
        gone = (torch.rand(ctxt.shape[:2], generator=gen) < recipe.token_drop)[tied].to(device)
        if repool:
            vtxt = pool_kept_tokens(ctxt, text.ctxt_length.to(device), ~gone, vtxt)
        ctxt = torch.where(gone[..., None], trainee.null_ctxt.expand_as(ctxt), ctxt)
    if recipe.vtxt_noise > 0:
        shake = torch.randn(vtxt.shape, generator=gen)[tied].to(device) * recipe.vtxt_noise / vtxt.shape[-1] ** 0.5
        vtxt = nn.functional.normalize(vtxt + shake, dim=-1)
    ctxt = torch.where(drop[:, None, None], trainee.null_ctxt.expand_as(ctxt), ctxt)
    vtxt = torch.where(drop[:, None, None], trainee.null_vtxt.expand_as(vtxt), vtxt)
    text_mask = torch.arange(text_len, device=device)[None] < text.ctxt_length.to(device)[:, None]
    motion_mask = torch.arange(frames, device=device)[None] < lengths.to(device)[:, None]
    pred = trainee.network(x=xt, ctxt_input=ctxt, vtxt_input=vtxt, timesteps=t, x_mask_temporal=motion_mask,
                           ctxt_mask_temporal=text_mask, text_position_offset=config.train_frames).float()
    err = (pred - (x1 - noise)).pow(2).mean(-1)
    loss = (err * motion_mask).sum() / motion_mask.sum()
    parts = {"flow": loss.item()}
    if recipe.pos_weight or recipe.vel_weight or recipe.foot_weight:
        clean = normalizer.denormalize(xt + (1 - t[:, None, None]) * pred)
        pos, vel, foot = geometric_terms(clean, normalizer.denormalize(x1), motion_mask)
        weight = t**2
        for name, value, factor in (("pos", pos, recipe.pos_weight), ("vel", vel, recipe.vel_weight),
                                    ("foot", foot, recipe.foot_weight)):
            term = (weight * value).mean()
            parts[name] = term.item()
            if factor:
                loss = loss + factor * term
    return loss, parts


def sentence_is_token_mean(text: TextFeatures) -> bool:
    """Whether every sentence vector is the L2-normalised mean of its valid token states (MiniLM's
    convention), so that a vector for a caption with some words dropped can be computed."""
    every = torch.ones(text.ctxt.shape[:2], dtype=torch.bool)
    pooled = pool_kept_tokens(text.ctxt, text.ctxt_length, every, torch.zeros_like(text.vtxt))
    return bool(torch.allclose(pooled, text.vtxt, atol=1e-4))


def pool_kept_tokens(ctxt: Tensor, lengths: Tensor, kept: Tensor, fallback: Tensor) -> Tensor:
    """(B, 1, D) normalised means of the valid, kept token states; `fallback` rows where none is kept."""
    use = kept & (torch.arange(ctxt.shape[1], device=ctxt.device)[None] < lengths[:, None])
    count = use.sum(1, keepdim=True)
    pooled = nn.functional.normalize((ctxt * use[..., None]).sum(1) / count.clamp_min(1), dim=-1)[:, None]
    return torch.where(count[..., None] > 0, pooled, fallback)


def clip_weights(data: TrainingSet, text: TextFeatures, similar: float = 0.7) -> np.ndarray:
    """Sampling probability of every clip, inversely proportional to how many clips have captions like its
    own (cosine of the mean pooled caption vectors above `similar`, itself included). Without it a concept
    with two clips (crawling) is one batch row in 136, and the network never learns it."""
    pooled = text.vtxt.reshape(len(data.captions), -1).double()
    pooled = pooled / pooled.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    per_clip = torch.stack([pooled[ids].mean(0) for ids in data.clip_captions])
    per_clip = per_clip / per_clip.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    neighbours = ((per_clip @ per_clip.T) > similar).sum(1).double().numpy()
    weights = 1.0 / neighbours
    return weights / weights.sum()


def draw_batch(
    data: TrainingSet, text: TextFeatures, rng: np.random.Generator, size: int,
    weights: np.ndarray | None = None, balance: float = 0.0, pair_share: float = 0.0,
) -> tuple[Tensor, Tensor, TextFeatures, Tensor]:
    """Clips (a `balance` share of the rows by `weights`, the rest uniformly), then a window and a caption
    of each; the first rows (a `pair_share` of the batch, in twos) are mirrored pairs of directional clips.
    Returns windows, lengths, captions and, per row, the row whose noise it shares (itself if none)."""
    clips = rng.integers(0, len(data.clip_windows), size)
    if weights is not None and balance > 0:
        boosted = rng.random(size) < balance
        clips[boosted] = rng.choice(len(weights), int(boosted.sum()), p=weights)
    slot = rng.random(size)  # which window and which caption of the clip, as a fraction of its count
    tied = np.arange(size)
    directional = data.directional_clips if pair_share > 0 else np.zeros(0, dtype=np.int64)
    pairs = min(int(round(size * pair_share / 2)), size // 2) if len(directional) else 0
    for k in range(pairs):
        first = rng.choice(directional)
        clips[2 * k], clips[2 * k + 1] = first, data.twins[first]
        tied[2 * k + 1] = 2 * k
    slot, caption_slot = slot[tied], rng.random(size)[tied]  # a twin takes its pair's window and caption slot

    def pick(options: list, fraction: float) -> int:
        return int(options[int(fraction * len(options))])

    win = np.array([pick(data.clip_windows[c], f) for c, f in zip(clips, slot, strict=True)])
    caps = [pick(data.clip_captions[c], f) for c, f in zip(clips, caption_slot, strict=True)]
    return data.windows[win], data.lengths[win], text.select(caps), torch.from_numpy(tied)


def to_embedded(trainee: Trainee, config: ModelConfig, normalizer: Normalizer) -> DiTMotionModel:
    """A `DiTMotionModel` (no text encoder loaded) holding a copy of these weights, for export."""
    network = copy.deepcopy(trainee.network).float().cpu()
    return DiTMotionModel(network, config, normalizer, trainee.null_vtxt.detach().cpu(),
                          trainee.null_ctxt.detach().cpu(), None, name=config.name, max_seconds=20.0,
                          overlap_frames=min(60, config.train_frames // 3))


def grown_state(small: torch.nn.Module, big: torch.nn.Module) -> dict[str, Tensor]:
    """`big`'s state with every weight `small` has copied in, and `big`'s extra blocks made identity maps.

    Blocks are residual with adaLN gates (`x + f(x) * gate`), so zeroing the rows of a new block's
    modulation that produce its gates makes it pass its input through unchanged: the grown network computes
    exactly what the small one did, and training opens the gates (adaLN-Zero). Existing blocks keep their
    places; new double-stream blocks follow the old double-stream ones, new single-stream blocks the old
    single-stream ones.
    """
    state = big.state_dict()
    old = small.state_dict()
    for key, value in old.items():
        if key not in state or state[key].shape != value.shape:
            raise ValueError(f"cannot grow: {key} has no counterpart of the same shape")
        state[key] = value.clone()
    d = big.config.feat_dim
    for kind, count, gates in (("double_blocks", len(small.double_blocks), (2, 5)),
                               ("single_blocks", len(small.single_blocks), (2,))):
        for i in range(count, len(getattr(big, kind))):
            for mod in ("motion_mod", "text_mod") if kind == "double_blocks" else ("modulation",):
                for part in ("weight", "bias"):
                    key = f"{kind}.{i}.{mod}.linear.{part}"
                    for g in gates:
                        state[key][g * d:(g + 1) * d] = 0.0
    return state


def start_from(trainee: Trainee, init: Path, config: ModelConfig, normalizer: Normalizer, log=print) -> Normalizer:
    """Load an embedded model file's network and null features into `trainee`; returns the file's
    normaliser, which the network was trained against (the data's own is only logged against it)."""
    from engine.io.loading import load_embedded_model

    model = load_embedded_model(init, load_text_encoder=False)
    theirs, ours = dict(model.network.config.to_dict()), dict(trainee.network.config.to_dict())
    if theirs != ours and dict(theirs, num_layers=ours["num_layers"]) == ours \
            and theirs["num_layers"] < ours["num_layers"]:
        trainee.network.load_state_dict(grown_state(model.network, trainee.network))
        log(f"grew {init}'s {theirs['num_layers']} blocks to {ours['num_layers']}: new blocks start as identity")
    elif theirs != ours:
        raise ValueError(f"{init}: its network is not the {config.name!r} config's, so it cannot be fine-tuned as one")
    else:
        trainee.network.load_state_dict(model.network.state_dict())
    with torch.no_grad():
        trainee.null_ctxt.copy_(model.null_ctxt.reshape(trainee.null_ctxt.shape))
        trainee.null_vtxt.copy_(model.null_vtxt.reshape(trainee.null_vtxt.shape))
    drift = float((model.normalizer.mean - normalizer.mean).abs().max())
    log(f"fine-tuning {init} (its feature mean differs from this data's by at most {drift:.2e})")
    return model.normalizer


# ---------------------------------------------------------------- the loop


def hardware() -> dict:
    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def train(data_dir: Path, config: ModelConfig, out: Path, device: str = "cpu", steps: int | None = None,
          minutes: float | None = None, resume: bool = False, recipe: Recipe | None = None,
          save_every_s: float = 300.0, limit: int | None = None, log=print, init: Path | None = None) -> dict:
    """Train and export; returns the summary written to train.json. `init`: an embedded model file to
    fine-tune (fresh optimiser), ignored when resuming a checkpoint."""
    recipe = recipe or Recipe()
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    start = time.time()
    data = load_training_set(data_dir, config.train_frames, recipe.window_stride, limit)
    normalizer = feature_statistics(data)
    text = encode_captions(data.captions, config, out)
    weights = clip_weights(data, text)
    repool = recipe.repool and recipe.token_drop > 0 and sentence_is_token_mean(text)
    prep_s = time.time() - start
    log(f"word dropout {'also re-pools' if repool else 'keeps'} the sentence vectors")
    log(f"{len(data.clip_windows)} clips, {len(data.windows)} windows of ≤{data.frames} frames, "
        f"{len(data.captions)} captions; prepared in {prep_s:.0f} s")

    dev = torch.device(device)
    trainee = Trainee(config).to(dev)
    if init is not None and not (resume and (out / "checkpoint.pt").exists()):
        normalizer = start_from(trainee, init, config, normalizer, log)
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
        if "normalizer_mean" in ckpt:  # the statistics the network was trained against (a fine-tune's are its init's)
            normalizer = Normalizer.from_arrays(ckpt["normalizer_mean"], ckpt["normalizer_std"])
        log(f"resumed at step {step}")
    normalizer = normalizer.to(dev)
    loss_log = out / "loss.csv"
    new_log = not (resume and loss_log.exists())
    summary: dict = {}

    def save() -> None:
        torch.save({"model": trainee.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                    "torch_rng": gen.get_state(), "numpy_rng": rng.bit_generator.state, "step": step,
                    "trained_s": trained_s, "normalizer_mean": normalizer.mean.cpu(),
                    "normalizer_std": normalizer.std.cpu()}, out / "checkpoint.pt.tmp")
        (out / "checkpoint.pt.tmp").replace(ckpt_path)
        model = to_embedded(ema, config, normalizer.to("cpu"))
        summary.update({
            "config": config.name, "network": dict(config.network), "train_frames": config.train_frames,
            "parameters": count_parameters(trainee.network), "recipe": recipe.__dict__, "steps": step,
            "train_seconds": round(trained_s, 1), "prepare_seconds": round(prep_s, 1), "hardware": hardware(),
            "data": {"folder": str(data_dir), "clips": len(data.clip_windows), "windows": len(data.windows),
                     "captions": len(data.captions)}, "repooled_sentence_vectors": repool,
        })
        save_embedded_model(model, out / f"{config.name}.safetensors", meta={"training": summary})
        (out / "train.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")

    trainee.train()
    last_save = time.time()
    with loss_log.open("w" if new_log else "a", newline="") as f:
        writer = csv.writer(f)
        if new_log:
            writer.writerow(["step", "loss", "lr", "seconds", "flow", "pos", "vel", "foot"])
        while True:
            if steps is not None and step >= steps:
                break
            if minutes is not None and trained_s >= minutes * 60:
                break
            t0 = time.time()
            x, lengths, caps, tied = draw_batch(data, text, rng, recipe.batch_size, weights, recipe.balance,
                                                recipe.pair_share)
            x1 = normalizer.normalize(x.to(dev))
            lr = recipe.lr * min(1.0, (step + 1) / recipe.warmup_steps)
            for group in opt.param_groups:
                group["lr"] = lr
            loss, parts = batch_loss(trainee, config, x1, lengths, caps, gen, recipe, normalizer, tied, repool)
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
            writer.writerow([step, f"{loss.item():.5f}", f"{lr:.2e}", f"{trained_s:.1f}"]
                            + [f"{parts[k]:.5f}" if k in parts else "" for k in ("flow", "pos", "vel", "foot")])
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
    parser.add_argument("--init", type=Path, default=None,
                        help="fine-tune this embedded model file (e.g. engine/weights/tiny.safetensors) with a fresh "
                             "optimiser instead of starting from random weights")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many optimiser steps in total")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much training time in total")
    parser.add_argument("--batch-size", type=int, default=Recipe.batch_size)
    parser.add_argument("--lr", type=float, default=Recipe.lr)
    parser.add_argument("--seed", type=int, default=Recipe.seed)
    parser.add_argument("--balance", type=float, default=Recipe.balance,
                        help="share of batch rows drawn with rare captions boosted (0 = clips uniformly)")
    parser.add_argument("--pos-weight", type=float, default=Recipe.pos_weight, help="weight of the FK position term")
    parser.add_argument("--vel-weight", type=float, default=Recipe.vel_weight, help="weight of the joint velocity term")
    parser.add_argument("--foot-weight", type=float, default=Recipe.foot_weight,
                        help="weight of the planted-foot speed term")
    parser.add_argument("--pair-share", type=float, default=Recipe.pair_share,
                        help="share of batch rows given to mirrored pairs of clips that say left or right")
    parser.add_argument("--token-drop", type=float, default=Recipe.token_drop,
                        help="share of caption tokens replaced by the null token in training (word dropout)")
    parser.add_argument("--no-repool", dest="repool", action="store_false",
                        help="keep the whole caption's sentence vector under word dropout")
    parser.add_argument("--vtxt-noise", type=float, default=Recipe.vtxt_noise,
                        help="norm of the Gaussian noise added to the sentence vector in training")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--save-every", type=float, default=300.0, help="seconds between checkpoints")
    parser.add_argument("--stride", type=int, default=Recipe.window_stride,
                        help="frames between training windows (the whole CMU library needs ~45 to fit in memory)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N clips (smoke runs)")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steps is None and args.minutes is None:
        print("give --steps or --minutes so the run knows when to stop")
        return 2
    recipe = Recipe(batch_size=args.batch_size, lr=args.lr, seed=args.seed, balance=args.balance,
                    pos_weight=args.pos_weight, vel_weight=args.vel_weight, foot_weight=args.foot_weight,
                    pair_share=args.pair_share, token_drop=args.token_drop, repool=args.repool,
                    vtxt_noise=args.vtxt_noise, window_stride=args.stride)
    train(args.data, TRAIN_CONFIGS[args.config], args.out, args.device, args.steps, args.minutes, args.resume,
          recipe, args.save_every, args.limit, init=args.init)
    return 0
