"""The HY-Motion 1.0 diffusion transformer (`HunyuanMotionMMDiT`), written to match upstream number for number.

Read top to bottom it follows the paper: a conditioning vector (timestep + CLIP sentence vector) drives
adaLN modulation everywhere; the Qwen token features pass a small token refiner; a third of the blocks are
double-stream (separate motion and text weights, joint attention), the rest single-stream on the
concatenated sequence; a final adaLN layer maps back to the 201-d motion features.

Parameter names equal upstream's so an upstream `model_state_dict` (prefix `motion_transformer.`) loads
without renaming. Two things differ on purpose and leave the math unchanged:
- norms and RoPE always run in float32, so bf16/fp16 weights keep fp32 numerics where it matters;
- `forward` takes `text_position_offset`: upstream places the text tokens' RoPE positions right after the
  motion frames (360 + i with its fixed 360-frame padding). Passing 360 while running only the L requested
  frames reproduces the padded computation exactly, because valid frames never attend to padded ones.

Long module: the whole network in one file, read top to bottom in the order of the HY-Motion paper (as nanoGPT's
model.py); its parts are small classes that only make sense together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.core.skeleton import FPS
from engine.model.representation import FEATURE_DIM

UNSUPPORTED_FLAGS = ("insert_start_token", "with_long_skip_connection")


class NetworkConfigError(ValueError):
    """A network configuration this implementation cannot build; the message names the field."""


@dataclass(frozen=True)
class DiTConfig:
    """The `network_module_args` of an upstream config.yml, with upstream's defaults."""

    input_dim: int = FEATURE_DIM
    feat_dim: int = 1280
    output_dim: int | None = None
    ctxt_input_dim: int = 4096
    vtxt_input_dim: int = 768
    num_layers: int = 27
    num_heads: int = 20
    mlp_ratio: float = 4.0
    mlp_act_type: str = "gelu_tanh"
    qk_norm_type: str = "rms"
    qkv_bias: bool = True
    dropout: float = 0.0
    mask_mode: str | None = "narrowband"
    apply_rope_to_single_branch: bool = False
    time_factor: float = 1000.0
    narrowband_length: float = 2.0
    text_refiner_cfg: dict = field(default_factory=lambda: {"num_layers": 2})
    final_layer_cfg: dict = field(default_factory=lambda: {"act_type": "silu"})
    rope_base: float = 10000.0

    @classmethod
    def from_dict(cls, args: dict) -> DiTConfig:
        """Build from upstream `network_module_args`; unknown bookkeeping keys are ignored."""
        for flag in UNSUPPORTED_FLAGS:
            if args.get(flag):
                raise NetworkConfigError(f"network option {flag}=true is not supported (HY-Motion 1.0 leaves it off)")
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in args.items() if k in names}
        for key in ("text_refiner_cfg", "final_layer_cfg"):
            if key in kwargs:
                kwargs[key] = dict(kwargs[key] or {})
        cfg = cls(**kwargs)
        if cfg.num_layers % 3 != 0:
            raise NetworkConfigError(f"num_layers must be divisible by 3, got {cfg.num_layers}")
        if cfg.feat_dim % cfg.num_heads != 0 or (cfg.feat_dim // cfg.num_heads) % 2 != 0:
            raise NetworkConfigError(
                f"feat_dim {cfg.feat_dim} must split into {cfg.num_heads} heads of even size (RoPE pairs)"
            )
        if cfg.mask_mode not in (None, "narrowband", "causal"):
            raise NetworkConfigError(f"mask_mode {cfg.mask_mode!r} is not one of null, narrowband, causal")
        return cfg

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def head_dim(self) -> int:
        return self.feat_dim // self.num_heads

    @property
    def band_frames(self) -> int:
        """Half-width of the narrow band in frames (upstream: round(2.0 s × 30))."""
        return int(round(self.narrowband_length * FPS))


# ---------------------------------------------------------------- building blocks


def _activation(kind: str) -> nn.Module:
    if kind == "gelu":
        return nn.GELU()
    if kind == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    if kind == "silu":
        return nn.SiLU()
    if kind == "relu":
        return nn.ReLU()
    raise NetworkConfigError(f"unknown activation {kind!r}")


class LayerNormFP32(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the activations' dtype."""

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.float() if self.weight is not None else None
        b = self.bias.float() if self.bias is not None else None
        return F.layer_norm(x.float(), self.normalized_shape, w, b, self.eps).to(x.dtype)


class RMSNorm(nn.Module):
    """Root-mean-square norm over the last axis with a learnable gain (upstream's q/k norm)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        normed = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)
        return normed * self.weight


def _qk_norm(kind: str, dim: int) -> nn.Module:
    if kind == "rms":
        return RMSNorm(dim, eps=1e-6)
    if kind == "layer":
        return LayerNormFP32(dim, elementwise_affine=True, eps=1e-6)
    if kind in ("none", None):
        return nn.Identity()
    raise NetworkConfigError(f"unknown qk_norm_type {kind!r}")


class MLP(nn.Module):
    """fc1 → activation → fc2 (upstream key names `fc1`, `fc2`)."""

    def __init__(self, dim: int, hidden: int, act: str) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = _activation(act)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class MLPEncoder(nn.Module):
    """Linear → SiLU → Linear kept in a Sequential named `linears` (keys `linears.0`, `linears.2`)."""

    def __init__(self, in_dim: int, dim: int, act: str = "silu") -> None:
        super().__init__()
        self.linears = nn.Sequential(nn.Linear(in_dim, dim), _activation(act), nn.Linear(dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.linears(x)


def sinusoidal_embedding(t: Tensor, dim: int, time_factor: float, max_period: float = 10000.0) -> Tensor:
    """Upstream timestep features: cos half first, then sin, of t × time_factor (float32)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = (t.float() * time_factor)[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepEncoder(nn.Module):
    """Sinusoidal features → Linear-SiLU-Linear (keys `blocks.0`, `blocks.2`); returns (B, 1, D)."""

    def __init__(self, dim: int, time_factor: float, act: str = "silu") -> None:
        super().__init__()
        self.dim = dim
        self.time_factor = time_factor
        self.blocks = nn.Sequential(nn.Linear(dim, dim), _activation(act), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        emb = sinusoidal_embedding(t, self.dim, self.time_factor).to(self.blocks[0].weight.dtype)
        return self.blocks(emb).unsqueeze(1)


class Modulation(nn.Module):
    """adaLN: SiLU then one Linear producing `factor` chunks of width D (key `linear`)."""

    def __init__(self, dim: int, factor: int, act: str = "silu") -> None:
        super().__init__()
        self.act = _activation(act)
        self.linear = nn.Linear(dim, factor * dim)
        self.factor = factor

    def forward(self, c: Tensor) -> tuple[Tensor, ...]:
        return self.linear(self.act(c)).chunk(self.factor, dim=-1)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale) + shift


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    """q, k, v (B, T, H, Dh) → (B, T, H·Dh); `mask` (B, 1, Tq, Tk) bool, True = may attend."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
    return out.transpose(1, 2).flatten(2)


def split_heads(qkv: Tensor, heads: int) -> tuple[Tensor, Tensor, Tensor]:
    """(B, T, 3·H·Dh) laid out as (3, H, Dh) → three (B, T, H, Dh) tensors."""
    b, t, _ = qkv.shape
    q, k, v = qkv.view(b, t, 3, heads, -1).unbind(2)
    return q, k, v


# ---------------------------------------------------------------- rotary position embedding


def rope_tables(positions: Tensor, head_dim: int, base: float) -> tuple[Tensor, Tensor]:
    """cos and sin (T, Dh), each frequency repeated for its interleaved (even, odd) pair; float32."""
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=positions.device) / head_dim))
    angles = torch.outer(positions.float(), inv)
    return angles.cos().repeat_interleave(2, dim=-1), angles.sin().repeat_interleave(2, dim=-1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate interleaved pairs (x0, x1) of x (B, T, H, Dh) by the per-position angles, in float32."""
    xf = x.float()
    pairs = xf.unflatten(-1, (-1, 2))
    rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)
    return (xf * cos[None, :, None, :] + rotated * sin[None, :, None, :]).to(x.dtype)


# ---------------------------------------------------------------- text token refiner


class TokenRefinerBlock(nn.Module):
    """HunyuanVideo-style refiner block: gated self-attention and MLP, gates from the pooled condition."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, act: str, qk_norm: str, qkv_bias: bool) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = LayerNormFP32(dim, elementwise_affine=True, eps=1e-6)
        self.self_attn_qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.self_attn_q_norm = _qk_norm(qk_norm, dim // heads)
        self.self_attn_k_norm = _qk_norm(qk_norm, dim // heads)
        self.self_attn_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.norm2 = LayerNormFP32(dim, elementwise_affine=True, eps=1e-6)
        self.mlp = MLP(dim, int(dim * mlp_ratio), act)
        self.adaLN_modulation = Modulation(dim, 2)

    def forward(self, x: Tensor, c: Tensor, mask: Tensor | None) -> Tensor:
        gate_attn, gate_mlp = self.adaLN_modulation(c)
        q, k, v = split_heads(self.self_attn_qkv(self.norm1(x)), self.heads)
        q = self.self_attn_q_norm(q).to(v.dtype)
        k = self.self_attn_k_norm(k).to(v.dtype)
        x = x + self.self_attn_proj(attention(q, k, v, mask)) * gate_attn
        return x + self.mlp(self.norm2(x)) * gate_mlp


class IndividualTokenRefiner(nn.Module):
    def __init__(self, blocks: list[TokenRefinerBlock]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)


class TokenRefiner(nn.Module):
    """Refines the projected text tokens, conditioned on the timestep and the masked mean of the tokens."""

    def __init__(self, dim: int, heads: int, cfg: dict) -> None:
        super().__init__()
        act = cfg.get("mlp_act_type", "silu")
        self.input_embedder = nn.Linear(dim, dim)
        self.context_encoder = MLPEncoder(dim, dim, act)
        self.timestep_encoder = TimestepEncoder(dim, time_factor=1.0, act=act)
        self.individual_token_refiner = IndividualTokenRefiner(
            [
                TokenRefinerBlock(
                    dim,
                    heads,
                    float(cfg.get("mlp_ratio", 4.0)),
                    act,
                    cfg.get("qk_norm_type", "layer"),
                    bool(cfg.get("qkv_bias", True)),
                )
                for _ in range(int(cfg.get("num_layers", 2)))
            ]
        )

    @staticmethod
    def attention_mask(valid: Tensor) -> Tensor:
        """(B, 1, Lt, Lt): valid tokens see valid tokens; padding tokens see only themselves (rows stay finite)."""
        n = valid.shape[1]
        eye = torch.eye(n, dtype=torch.bool, device=valid.device)[None]
        return ((valid[:, :, None] & valid[:, None, :]) | ((~valid)[:, :, None] & eye))[:, None]

    def forward(self, x: Tensor, t: Tensor, valid: Tensor, mask: Tensor | None = None) -> Tensor:
        weights = valid.to(x.dtype).unsqueeze(-1)
        pooled = (x * weights).sum(1) / weights.sum(1).clamp_min(1e-6)
        c = self.timestep_encoder(t) + self.context_encoder(pooled).unsqueeze(1)
        x = self.input_embedder(x)
        mask = self.attention_mask(valid) if mask is None else mask
        for block in self.individual_token_refiner.blocks:
            x = block(x, c, mask)
        return x


# ---------------------------------------------------------------- transformer blocks


class DoubleStreamBlock(nn.Module):
    """Motion and text keep their own weights; attention runs jointly over [motion; text]."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        d, hidden = cfg.feat_dim, int(cfg.feat_dim * cfg.mlp_ratio)
        self.heads = cfg.num_heads
        self.rope_motion_only = cfg.apply_rope_to_single_branch
        for stream in ("motion", "text"):
            setattr(self, f"{stream}_mod", Modulation(d, 6))
            setattr(self, f"{stream}_norm1", LayerNormFP32(d, elementwise_affine=False, eps=1e-6))
            setattr(self, f"{stream}_qkv", nn.Linear(d, 3 * d, bias=cfg.qkv_bias))
            setattr(self, f"{stream}_q_norm", _qk_norm(cfg.qk_norm_type, cfg.head_dim))
            setattr(self, f"{stream}_k_norm", _qk_norm(cfg.qk_norm_type, cfg.head_dim))
            setattr(self, f"{stream}_out_proj", nn.Linear(d, d, bias=cfg.qkv_bias))
            setattr(self, f"{stream}_norm2", LayerNormFP32(d, elementwise_affine=False, eps=1e-6))
            setattr(self, f"{stream}_mlp", MLP(d, hidden, cfg.mlp_act_type))

    def _qkv(self, stream: str, x: Tensor, shift: Tensor, scale: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = modulate(getattr(self, f"{stream}_norm1")(x), shift, scale)
        q, k, v = split_heads(getattr(self, f"{stream}_qkv")(h), self.heads)
        return getattr(self, f"{stream}_q_norm")(q).to(v.dtype), getattr(self, f"{stream}_k_norm")(k).to(v.dtype), v

    def forward(
        self, motion: Tensor, text: Tensor, adapter: Tensor, mask: Tensor, rope: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, Tensor]:
        m_shift, m_scale, m_gate, m_shift2, m_scale2, m_gate2 = self.motion_mod(adapter)
        t_shift, t_scale, t_gate, t_shift2, t_scale2, t_gate2 = self.text_mod(adapter)
        mq, mk, mv = self._qkv("motion", motion, m_shift, m_scale)
        tq, tk, tv = self._qkv("text", text, t_shift, t_scale)
        cos, sin = rope
        n = motion.shape[1]
        if self.rope_motion_only:
            mq, mk = apply_rope(mq, cos[:n], sin[:n]), apply_rope(mk, cos[:n], sin[:n])
            q, k = torch.cat([mq, tq], 1), torch.cat([mk, tk], 1)
        else:
            q, k = apply_rope(torch.cat([mq, tq], 1), cos, sin), apply_rope(torch.cat([mk, tk], 1), cos, sin)
        out = attention(q, k, torch.cat([mv, tv], 1), mask)
        motion = motion + self.motion_out_proj(out[:, :n]) * m_gate
        motion = motion + self.motion_mlp(modulate(self.motion_norm2(motion), m_shift2, m_scale2)) * m_gate2
        text = text + self.text_out_proj(out[:, n:]) * t_gate
        text = text + self.text_mlp(modulate(self.text_norm2(text), t_shift2, t_scale2)) * t_gate2
        return motion, text


class SingleStreamBlock(nn.Module):
    """One set of weights over [motion; text]: parallel attention and MLP from one `linear1`."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        d = cfg.feat_dim
        self.hidden = int(d * cfg.mlp_ratio)
        self.heads = cfg.num_heads
        self.rope_motion_only = cfg.apply_rope_to_single_branch
        self.modulation = Modulation(d, 3)
        self.norm = LayerNormFP32(d, elementwise_affine=False, eps=1e-6)
        self.linear1 = nn.Linear(d, 3 * d + self.hidden, bias=cfg.qkv_bias)
        self.linear2 = nn.Linear(d + self.hidden, d, bias=cfg.qkv_bias)
        self.q_norm = _qk_norm(cfg.qk_norm_type, cfg.head_dim)
        self.k_norm = _qk_norm(cfg.qk_norm_type, cfg.head_dim)
        self.mlp_act = _activation(cfg.mlp_act_type)

    def forward(self, x: Tensor, split: int, adapter: Tensor, mask: Tensor, rope: tuple[Tensor, Tensor]) -> Tensor:
        shift, scale, gate = self.modulation(adapter)
        qkv, mlp_hidden = self.linear1(modulate(self.norm(x), shift, scale)).split([3 * x.shape[-1], self.hidden], -1)
        q, k, v = split_heads(qkv, self.heads)
        q, k = self.q_norm(q).to(v.dtype), self.k_norm(k).to(v.dtype)
        cos, sin = rope
        if self.rope_motion_only:
            q = torch.cat([apply_rope(q[:, :split], cos[:split], sin[:split]), q[:, split:]], 1)
            k = torch.cat([apply_rope(k[:, :split], cos[:split], sin[:split]), k[:, split:]], 1)
        else:
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        out = self.linear2(torch.cat([attention(q, k, v, mask), self.mlp_act(mlp_hidden)], -1))
        return x + out * gate


class FinalLayer(nn.Module):
    def __init__(self, dim: int, out_dim: int, act: str) -> None:
        super().__init__()
        self.norm_final = LayerNormFP32(dim, elementwise_affine=False, eps=1e-6)
        self.adaLN_modulation = Modulation(dim, 2, act)
        self.linear = nn.Linear(dim, out_dim)

    def forward(self, x: Tensor, adapter: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(adapter)
        return self.linear(modulate(self.norm_final(x), shift, scale))


# ---------------------------------------------------------------- the network


@dataclass(frozen=True)
class AttentionLayout:
    """Step-invariant attention inputs: joint mask (B, 1, T, T), refiner mask (B, 1, Lt, Lt), RoPE cos/sin."""

    mask: Tensor
    refiner_mask: Tensor
    rope: tuple[Tensor, Tensor]


class HunyuanMotionMMDiT(nn.Module):
    """HY-Motion 1.0's MMDiT. `forward` → predicted velocity (B, L, output_dim)."""

    def __init__(self, cfg: DiTConfig | dict) -> None:
        super().__init__()
        self.config = cfg if isinstance(cfg, DiTConfig) else DiTConfig.from_dict(cfg)
        c = self.config
        d = c.feat_dim
        self.input_encoder = nn.Linear(c.input_dim, d)
        self.ctxt_encoder = nn.Linear(c.ctxt_input_dim, d)
        self.vtxt_encoder = MLPEncoder(c.vtxt_input_dim, d)
        self.timestep_encoder = TimestepEncoder(d, time_factor=c.time_factor)
        self.text_refiner = TokenRefiner(d, c.num_heads, c.text_refiner_cfg)
        self.double_blocks = nn.ModuleList([DoubleStreamBlock(c) for _ in range(c.num_layers // 3)])
        self.single_blocks = nn.ModuleList([SingleStreamBlock(c) for _ in range(c.num_layers - c.num_layers // 3)])
        self.final_layer = FinalLayer(d, c.output_dim or c.input_dim, c.final_layer_cfg.get("act_type", "silu"))

    @property
    def dtype(self) -> torch.dtype:
        return self.input_encoder.weight.dtype

    def attention_mask(self, motion_valid: Tensor, text_valid: Tensor) -> Tensor:
        """(B, 1, T, T) bool over [motion; text]: key padding, band on motion↔motion, no text→motion."""
        n, m = motion_valid.shape[1], text_valid.shape[1]
        device = motion_valid.device
        keys = torch.cat([motion_valid, text_valid], dim=1)
        allowed = keys[:, None, :].expand(-1, n + m, -1).clone()
        idx = torch.arange(n, device=device)
        if self.config.mask_mode == "narrowband":
            band = (idx[None, :] - idx[:, None]).abs() <= self.config.band_frames
            allowed[:, :n, :n] &= band
        elif self.config.mask_mode == "causal":
            allowed[:, :n, :n] &= idx[None, :] <= idx[:, None]
        allowed[:, n:, :n] = False
        return allowed[:, None]

    def layout(
        self, x_mask_temporal: Tensor, ctxt_mask_temporal: Tensor, text_position_offset: int | None = None
    ) -> AttentionLayout:
        """Masks and RoPE tables for a batch; they do not change between sampler steps, so a sampler builds
        them once and passes them to every `forward`."""
        motion_valid = x_mask_temporal.to(torch.bool)
        text_valid = ctxt_mask_temporal.to(torch.bool)
        n, m = motion_valid.shape[1], text_valid.shape[1]
        device = motion_valid.device
        offset = n if text_position_offset is None else text_position_offset
        positions = torch.cat([torch.arange(n, device=device), offset + torch.arange(m, device=device)])
        return AttentionLayout(
            self.attention_mask(motion_valid, text_valid),
            TokenRefiner.attention_mask(text_valid),
            rope_tables(positions, self.config.head_dim, self.config.rope_base),
        )

    def forward(
        self,
        x: Tensor,
        ctxt_input: Tensor,
        vtxt_input: Tensor,
        timesteps: Tensor,
        x_mask_temporal: Tensor,
        ctxt_mask_temporal: Tensor,
        text_position_offset: int | None = None,
        layout: AttentionLayout | None = None,
    ) -> Tensor:
        """x (B, L, 201) noisy state, ctxt (B, Lt, Dc), vtxt (B, 1, Dv), timesteps (B,) in [0, 1],
        masks (B, L) and (B, Lt) bool (True = valid). Text RoPE positions start at `text_position_offset`
        (default L, as upstream). `layout` (from `self.layout`, same masks and offset) skips rebuilding them."""
        if layout is None:
            layout = self.layout(x_mask_temporal, ctxt_mask_temporal, text_position_offset)
        dtype = self.dtype
        n = x.shape[1]
        motion = self.input_encoder(x.to(dtype))
        adapter = self.timestep_encoder(timesteps) + self.vtxt_encoder(vtxt_input.to(dtype))
        text_valid = ctxt_mask_temporal.to(torch.bool)
        text = self.text_refiner(self.ctxt_encoder(ctxt_input.to(dtype)), timesteps, text_valid, layout.refiner_mask)
        for block in self.double_blocks:
            motion, text = block(motion, text, adapter, layout.mask, layout.rope)
        h = torch.cat([motion, text], dim=1)
        for block in self.single_blocks:
            h = block(h, n, adapter, layout.mask, layout.rope)
        return self.final_layer(h[:, :n], adapter)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
