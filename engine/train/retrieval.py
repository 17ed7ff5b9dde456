"""The field's semantic measures for a text-to-motion model: R-precision (top-3) and FID, computed with a
small contrastive text–motion evaluator of our own, trained on the training subjects only.

    motionbridge retrieval train --data DIR --out evaluator.safetensors [--minutes 10]
    motionbridge retrieval score --data DIR --model tiny [--model other.safetensors] [--evaluator FILE]

Evaluator: a motion encoder (two strided 1-D convolutions over normalised 201-d features, mean and max
pooled, then a linear map to 256-d) and a text encoder (MiniLM's sentence vector through a two-layer MLP to
256-d), trained with the symmetric InfoNCE loss (temperature 0.07) on canonical 5 s windows of the
training split and their captions. Nothing of the held-out subjects (`split == "held_out"`) is seen.

Scores, on the held-out subjects: one 5 s window per held-out clip (unmirrored) and its first caption; for
each model, the motion generated from that caption (seed 0).
- R-precision (top-3): in groups of 32 (one caption's own motion and 31 others'), how often the motion's
  own caption is among the 3 captions closest to it. Real held-out motions give the ceiling.
- FID: Fréchet distance between the embeddings of real held-out motions and of generated ones (lower is
  closer to real motion in the evaluator's space).
The weights file is a safetensors file (no pickles); the evaluator is ours, so its numbers compare models
with each other here, not with published figures. `score` uses the committed evaluator
(`engine/weights/retrieval-evaluator.safetensors`, docs/model-tiny.md) unless told otherwise, so figures from
different sessions compare; it is left out of the installed package.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from engine.model.representation import FEATURE_DIM

EMBED_DIM = 256
WINDOW = 150
GROUP = 32
TEMPERATURE = 0.07
EVALUATOR_PATH = Path(__file__).resolve().parents[1] / "weights" / "retrieval-evaluator.safetensors"
"""The evaluator the model card's figures come from (trained on the whole-library set, 2026-12-07)."""


class MotionEncoder(nn.Module):
    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(FEATURE_DIM, hidden, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(hidden, hidden, 5, stride=2, padding=2), nn.GELU(),
        )
        self.out = nn.Linear(2 * hidden, EMBED_DIM)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, 201) normalised features → (B, 256) unit vectors."""
        h = self.convs(x.transpose(1, 2))
        return nn.functional.normalize(self.out(torch.cat([h.mean(-1), h.amax(-1)], -1)), dim=-1)


class TextProjector(nn.Module):
    def __init__(self, text_dim: int = 384) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(text_dim, 512), nn.GELU(), nn.Linear(512, EMBED_DIM))

    def forward(self, v: Tensor) -> Tensor:
        return nn.functional.normalize(self.net(v), dim=-1)


class Evaluator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.motion = MotionEncoder()
        self.text = TextProjector()
        self.register_buffer("mean", torch.zeros(FEATURE_DIM))
        self.register_buffer("std", torch.ones(FEATURE_DIM))

    def embed_motion(self, features: Tensor) -> Tensor:
        return self.motion((features - self.mean) / self.std)


def sentence_vectors(texts: list[str]) -> Tensor:
    """MiniLM sentence vectors (N, 384), in batches."""
    from engine.model.text_minilm import MiniLMTextEncoder

    encoder = MiniLMTextEncoder(max_length=32)
    return torch.cat([encoder.encode(texts[i : i + 128]).vtxt[:, 0] for i in range(0, len(texts), 128)])


def _windows(data: Path, split: str, stride: int, first_only: bool) -> tuple[Tensor, list[list[str]]]:
    """Canonical feature windows (N, 150, 201) of one split and the captions of each window's clip."""
    from engine.train.dataset import load_index
    from engine.train.training import canonical_windows

    windows, captions = [], []
    for entry in load_index(data)["clips"]:
        if entry.get("split", "train") != split or (first_only and entry.get("mirrored")):
            continue
        with np.load(Path(data) / entry["file"]) as npz:
            root, rot = npz["root"], npz["rotations"]
        if len(root) < WINDOW:
            continue
        wins = canonical_windows(root, rot, WINDOW, stride)
        for w in wins[:1] if first_only else wins:
            windows.append(w)
            captions.append(entry["captions"])
    if not windows:
        raise ValueError(f"{data}: no {split} clips of at least {WINDOW} frames")
    return torch.stack(windows).float(), captions


def train_evaluator(data: Path, out: Path, minutes: float = 10.0, seed: int = 0, log=print) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    windows, captions = _windows(data, "train", stride=60, first_only=False)
    texts = sorted({c for caps in captions for c in caps})
    index = {t: i for i, t in enumerate(texts)}
    vectors = sentence_vectors(texts)
    caption_ids = [[index[c] for c in caps] for caps in captions]
    model = Evaluator()
    flat = windows.reshape(-1, FEATURE_DIM)
    model.mean.copy_(flat.mean(0))
    model.std.copy_(flat.std(0).clamp_min(1e-3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    start, step, losses = time.time(), 0, []
    while time.time() - start < minutes * 60:
        rows = rng.choice(len(windows), 128, replace=False)
        text = vectors[[caption_ids[r][rng.integers(len(caption_ids[r]))] for r in rows]]
        m, t = model.embed_motion(windows[rows]), model.text(text)
        logits = m @ t.T / TEMPERATURE
        target = torch.arange(len(rows))
        loss = (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % 200 == 0:
            log(f"step {step}: loss {np.mean(losses[-200:]):.3f}")
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out))
    return {"steps": step, "windows": len(windows), "captions": len(texts), "final_loss": float(np.mean(losses[-200:]))}


def load_evaluator(path: Path) -> Evaluator:
    from safetensors.torch import load_file

    model = Evaluator()
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # sqrt of ca·cb through the symmetric form ca^½ cb ca^½ (real eigenvalues, stable).
    w, v = np.linalg.eigh(ca)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root_a @ cb @ root_a)
    trace_sqrt = float(np.sqrt(np.clip(inner, 0, None)).sum())
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * trace_sqrt)


def r_precision(motion: Tensor, text: Tensor, top: int = 3) -> float:
    """Share of motions whose own text (same row) is among the `top` closest in groups of `GROUP`."""
    hits, total = 0, 0
    for s in range(0, len(motion) - GROUP + 1, GROUP):
        sim = motion[s : s + GROUP] @ text[s : s + GROUP].T
        rank = (sim > sim.diag()[:, None]).sum(1)
        hits += int((rank < top).sum())
        total += GROUP
    return hits / max(total, 1)


def score(models: list[str], evaluator: Path, data: Path, log=print) -> dict:
    from engine.io.loading import load_model
    from engine.model.generation import GenerationRequest
    from engine.model.representation import encode_features
    from engine.train.mocap.clip import as_clip, canonicalize

    ev = load_evaluator(evaluator)
    real, captions = _windows(data, "held_out", stride=WINDOW, first_only=True)
    prompts = [caps[0] for caps in captions]
    order = np.random.default_rng(0).permutation(len(prompts))
    real, prompts = real[order], [prompts[i] for i in order]
    with torch.no_grad():
        text = ev.text(sentence_vectors(prompts))
        real_emb = ev.embed_motion(real)
    report = {"held_out_windows": len(prompts), "group": GROUP,
              "real": {"r_precision_top3": r_precision(real_emb, text)}}
    for name in models:
        model = load_model(name)
        start = time.time()
        feats = []
        for i in range(0, len(prompts), 16):
            batch = [GenerationRequest(prompt=p, seconds=WINDOW / 30.0, seed=0) for p in prompts[i : i + 16]]
            for (m,) in model.generate_batch(batch):
                clip = canonicalize(as_clip(m, "g"))
                feats.append(encode_features(clip.root, clip.rotations)[:WINDOW])
        with torch.no_grad():
            gen_emb = ev.embed_motion(torch.stack(feats).float())
        report[name] = {"r_precision_top3": r_precision(gen_emb, text),
                        "fid": fid(real_emb.numpy().astype(np.float64), gen_emb.numpy().astype(np.float64)),
                        "seconds": time.time() - start}
        log(f"{name}: {report[name]}")
    report["real"]["fid_to_itself_half"] = fid(real_emb[::2].numpy().astype(np.float64),
                                               real_emb[1::2].numpy().astype(np.float64))
    return report


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("train", "score"))
    parser.add_argument("--data", type=Path, required=True, help="a data set built with held-out subjects")
    parser.add_argument("--out", type=Path, default=Path("evaluator.safetensors"), help="train: weights file")
    parser.add_argument("--evaluator", type=Path, default=EVALUATOR_PATH, help="score: weights")
    parser.add_argument("--model", action="append", default=None, help="score: model(s) to compare")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.action == "train":
        report = train_evaluator(args.data, args.out, args.minutes)
    else:
        report = score(args.model or ["tiny"], args.evaluator, args.data)
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0

