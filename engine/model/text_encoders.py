"""Text encoders: one `TextEncoder` interface for every backend, and the features it produces.

A text encoder turns prompts into `TextFeatures`:
- `ctxt` (B, Lt, Dc): per-token features, right-padded to the encoder's fixed `max_length`;
- `ctxt_length` (B,): how many of those tokens are valid;
- `vtxt` (B, 1, Dv): one sentence vector per prompt.

Backends: `HYMotionTextEncoder` (Qwen3-8B last hidden layer + CLIP ViT-L/14 pooled output, from local
folders through `transformers`, imported lazily), `HashTextEncoder` (deterministic features from a hash of
the prompt, no model: tests and benchmarks), and the embedded model's MiniLM encoder
(`engine.model.text_minilm`). `CachedTextEncoder` wraps any of them with an LRU cache of encoded prompts.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor


class TextEncoderError(RuntimeError):
    """A text encoder that cannot be loaded or used; the message says what to install or where to put files."""


@dataclass(frozen=True)
class TextFeatures:
    """Encoded prompts, batch-first; see the module docstring for shapes."""

    ctxt: Tensor
    ctxt_length: Tensor
    vtxt: Tensor

    def __post_init__(self) -> None:
        b = self.ctxt.shape[0]
        if self.ctxt.dim() != 3 or self.vtxt.shape[:2] != (b, 1) or self.ctxt_length.shape != (b,):
            raise ValueError(
                f"TextFeatures wants ctxt (B,Lt,Dc), ctxt_length (B,), vtxt (B,1,Dv); got "
                f"{tuple(self.ctxt.shape)}, {tuple(self.ctxt_length.shape)}, {tuple(self.vtxt.shape)}"
            )

    @property
    def batch(self) -> int:
        return int(self.ctxt.shape[0])

    def select(self, rows: Sequence[int] | Tensor) -> TextFeatures:
        idx = torch.as_tensor(rows, dtype=torch.long, device=self.ctxt.device)
        return TextFeatures(self.ctxt[idx], self.ctxt_length[idx.to(self.ctxt_length.device)], self.vtxt[idx])

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> TextFeatures:
        return TextFeatures(
            self.ctxt.to(device=device, dtype=dtype or self.ctxt.dtype),
            self.ctxt_length.to(device),
            self.vtxt.to(device=device, dtype=dtype or self.vtxt.dtype),
        )

    @staticmethod
    def cat(parts: Sequence[TextFeatures]) -> TextFeatures:
        return TextFeatures(
            torch.cat([p.ctxt for p in parts]),
            torch.cat([p.ctxt_length for p in parts]),
            torch.cat([p.vtxt for p in parts]),
        )


class TextEncoder(ABC):
    """Prompts → `TextFeatures` on CPU in float32, ctxt padded to `max_length`."""

    name: str = "text"
    ctxt_dim: int
    vtxt_dim: int
    max_length: int

    @abstractmethod
    def encode(self, prompts: Sequence[str]) -> TextFeatures:
        """Encode a batch of prompts (order kept)."""

    def to(self, device: torch.device | str) -> TextEncoder:
        """Move the encoder's weights; encoders without weights ignore it."""
        return self


class HashTextEncoder(TextEncoder):
    """Deterministic pseudo-features seeded by a SHA-256 of the prompt: different prompts differ, equal ones
    match, and no model or download is needed. The token count grows with the word count."""

    name = "hash"

    def __init__(self, ctxt_dim: int, vtxt_dim: int, max_length: int) -> None:
        self.ctxt_dim, self.vtxt_dim, self.max_length = ctxt_dim, vtxt_dim, max_length

    def encode(self, prompts: Sequence[str]) -> TextFeatures:
        ctxt = torch.zeros(len(prompts), self.max_length, self.ctxt_dim)
        vtxt = torch.zeros(len(prompts), 1, self.vtxt_dim)
        lengths = torch.zeros(len(prompts), dtype=torch.long)
        for i, prompt in enumerate(prompts):
            seed = int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:8], "little")
            gen = torch.Generator().manual_seed(seed)
            n = max(1, min(self.max_length, len(prompt.split()) + 1))
            ctxt[i, :n] = torch.randn(n, self.ctxt_dim, generator=gen)
            vtxt[i, 0] = torch.randn(self.vtxt_dim, generator=gen)
            lengths[i] = n
        return TextFeatures(ctxt, lengths, vtxt)


class CachedTextEncoder(TextEncoder):
    """An LRU cache of encoded prompts in front of another encoder (features kept on CPU)."""

    def __init__(self, inner: TextEncoder, capacity: int = 512) -> None:
        self.inner = inner
        self.capacity = capacity
        self.name = inner.name
        self.ctxt_dim, self.vtxt_dim, self.max_length = inner.ctxt_dim, inner.vtxt_dim, inner.max_length
        self._cache: OrderedDict[str, TextFeatures] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def encode(self, prompts: Sequence[str]) -> TextFeatures:
        missing = list(dict.fromkeys(p for p in prompts if p not in self._cache))
        if missing:
            fresh = self.inner.encode(missing)
            for i, prompt in enumerate(missing):
                self._cache[prompt] = fresh.select([i]).to("cpu", torch.float32)
        self.misses += len(missing)
        self.hits += len(prompts) - len(missing)
        rows = []
        for prompt in prompts:
            self._cache.move_to_end(prompt)
            rows.append(self._cache[prompt])
        out = TextFeatures.cat(rows)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return out

    def to(self, device: torch.device | str) -> TextEncoder:
        self.inner.to(device)
        return self

    def clear(self) -> None:
        self._cache.clear()


# ---------------------------------------------------------------- HY-Motion: Qwen3-8B + CLIP ViT-L/14

MOTION_SYSTEM_PROMPT = (
    "\n    Summarize human motion only from the user text for representation: action categories, key body-part "
    "movements, order/transitions, trajectory/direction, posture; include style/emotion/speed only if present. "
    "Explicitly capture laterality (left/right) when mentioned; do not guess. If multiple actions are described, "
    "indicate the count of distinct actions (e.g., actions=3) and their order. Do not invent missing info. Keep "
    "one concise paragraph.\n"
)
"""The system prompt HY-Motion's Qwen3 encoder was trained with (exact text matters for the features)."""

_MARKER = "<BOC>"


def _import_transformers():  # noqa: ANN202 - returns the module
    try:
        import transformers
    except ImportError as exc:
        raise TextEncoderError(
            "HY-Motion's text encoders need the `transformers` package: pip install 'motionbridge[hymotion]'"
        ) from exc
    return transformers


def _dtype_keyword(tf) -> str:  # noqa: ANN001 - the transformers module
    """transformers 5 renamed `torch_dtype` to `dtype`."""
    major = int(str(tf.__version__).split(".")[0])
    return "dtype" if major >= 5 else "torch_dtype"


def _require_dir(path: Path, what: str, hub_id: str) -> Path:
    if not (path / "config.json").is_file():
        from engine.model.configs import HUB_REVISIONS

        raise TextEncoderError(
            f"{what} not found at {path} (no config.json there). Download it with "
            f"`motionbridge fetch-weights --dir {path.parent}` or `huggingface-cli download {hub_id} "
            f"--revision {HUB_REVISIONS[hub_id]} --local-dir {path}`."
        )
    return path


class HYMotionTextEncoder(TextEncoder):
    """Qwen3-8B (last hidden layer over the user-text tokens, 128 of them) + CLIP ViT-L/14 pooled output."""

    name = "hymotion"
    ctxt_dim = 4096
    vtxt_dim = 768

    def __init__(
        self,
        qwen_dir: str | Path,
        clip_dir: str | Path,
        device: torch.device | str = "cpu",
        llm_dtype: torch.dtype = torch.bfloat16,
        max_length: int = 128,
        clip_max_length: int = 77,
    ) -> None:
        tf = _import_transformers()
        self.qwen_dir = _require_dir(Path(qwen_dir), "Qwen3-8B", "Qwen/Qwen3-8B")
        self.clip_dir = _require_dir(Path(clip_dir), "CLIP ViT-L/14", "openai/clip-vit-large-patch14")
        self.max_length = max_length
        self.clip_max_length = clip_max_length
        self.device = torch.device(device)
        self.llm_tokenizer = tf.AutoTokenizer.from_pretrained(str(self.qwen_dir), padding_side="right")
        # The base model is enough: its last hidden state is the (normed) layer upstream reads, and skipping
        # the LM head saves about 1.2 GB.
        self.llm = tf.AutoModel.from_pretrained(str(self.qwen_dir), **{_dtype_keyword(tf): llm_dtype})
        self.llm = self.llm.eval().requires_grad_(False).to(self.device)
        self.clip_tokenizer = tf.CLIPTokenizer.from_pretrained(str(self.clip_dir))
        self.clip = tf.CLIPTextModel.from_pretrained(str(self.clip_dir)).eval().requires_grad_(False).to(self.device)
        self.crop_start = self._user_text_start()
        self.ctxt_dim = int(self.llm.config.hidden_size)
        self.vtxt_dim = int(self.clip.config.hidden_size)

    def _chat(self, text: str) -> str:
        messages = [{"role": "system", "content": MOTION_SYSTEM_PROMPT}, {"role": "user", "content": text}]
        return self.llm_tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=False, enable_thinking=False
        )

    def _user_text_start(self) -> int:
        """Index of the first user-text token in the templated sequence (upstream's crop start)."""
        full = self.llm_tokenizer(self._chat(_MARKER), add_special_tokens=True)["input_ids"]
        marker = self.llm_tokenizer(_MARKER, add_special_tokens=False)["input_ids"]
        for i in range(len(full) - len(marker) + 1):
            if full[i : i + len(marker)] == marker:
                return i
        return max(0, len(full) - 1)

    def to(self, device: torch.device | str) -> TextEncoder:
        self.device = torch.device(device)
        self.llm.to(self.device)
        self.clip.to(self.device)
        return self

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> TextFeatures:
        batch = self.llm_tokenizer(
            [self._chat(p) for p in prompts],
            truncation=True,
            max_length=self.max_length + self.crop_start,
            padding="max_length",
            return_attention_mask=True,
            return_tensors="pt",
        )
        hidden = self.llm(
            input_ids=batch["input_ids"].to(self.device), attention_mask=batch["attention_mask"].to(self.device)
        ).last_hidden_state
        ctxt = hidden[:, self.crop_start : self.crop_start + self.max_length].float().cpu()
        lengths = (batch["attention_mask"].sum(-1) - self.crop_start).clamp(0, self.max_length).long()
        clip_batch = self.clip_tokenizer(
            list(prompts), truncation=True, max_length=self.clip_max_length, padding=True, return_tensors="pt"
        )
        pooled = self.clip(
            input_ids=clip_batch["input_ids"].to(self.device),
            attention_mask=clip_batch["attention_mask"].to(self.device),
        ).pooler_output
        return TextFeatures(ctxt, lengths, pooled.float().cpu().unsqueeze(1))
