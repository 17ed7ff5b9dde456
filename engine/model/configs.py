"""Named model configurations: HY-Motion 1.0 full and Lite, plus small ones for our own models and tests.

`network` holds upstream `network_module_args` keys (what `engine.model.dit.DiTConfig.from_dict` reads), so a
config here and an upstream config.yml describe a network the same way. The pipeline fields carry the
sampling settings upstream keeps in `train_pipeline_args`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from engine.core.skeleton import FPS
from engine.model.representation import FEATURE_DIM
from engine.post.postprocess import PostProcess


class UnknownConfig(KeyError):
    """A configuration name that is not in `CONFIGS`."""

    def __str__(self) -> str:
        return str(self.args[0])


HYMOTION_REPO = "tencent/HY-Motion-1.0"
HUB_REVISIONS: dict[str, str] = {
    HYMOTION_REPO: "620dd559f8d964aac2f82f1204fe6a35ad8ad14d",
    "Qwen/Qwen3-8B": "b968826d9c46dd6066d109eabc6255188de91218",
    "openai/clip-vit-large-patch14": "32bd64288804d66eefd0ccbe215aa642df71cc41",
}
"""The hub commit each repository is downloaded at (`huggingface-cli download ... --revision`)."""


@dataclass(frozen=True)
class ModelConfig:
    """Network arguments plus the pipeline settings that make a model behave like upstream."""

    name: str
    network: dict
    train_frames: int = 360
    """Frames of the training window: the noise length per seed and the text RoPE offset."""
    text_max_length: int = 128
    default_steps: int = 50
    default_cfg: float = 5.0
    fps: int = FPS
    enable_ctxt_null_feat: bool = True
    text_encoder: str = "hymotion"
    meta: dict = field(default_factory=dict)
    postprocess: PostProcess = field(default_factory=PostProcess)
    """What runs on decoded clips (upstream's steps by default)."""

    @property
    def max_window_seconds(self) -> float:
        return self.train_frames / self.fps

    def with_(self, **changes: object) -> ModelConfig:
        return replace(self, **changes)


_HYMOTION_COMMON = {
    "input_dim": FEATURE_DIM,
    "ctxt_input_dim": 4096,
    "vtxt_input_dim": 768,
    "mlp_ratio": 4.0,
    "mlp_act_type": "gelu_tanh",
    "qk_norm_type": "rms",
    "qkv_bias": True,
    "dropout": 0.0,
    "mask_mode": "narrowband",
    "apply_rope_to_single_branch": False,
    "time_factor": 1000.0,
    "narrowband_length": 2.0,
    "text_refiner_cfg": {"num_layers": 2},
    "final_layer_cfg": {"act_type": "silu"},
}

FULL = ModelConfig(
    name="HY-Motion-1.0",
    network={**_HYMOTION_COMMON, "feat_dim": 1280, "num_heads": 20, "num_layers": 27},
)
LITE = ModelConfig(
    name="HY-Motion-1.0-Lite",
    network={**_HYMOTION_COMMON, "feat_dim": 1024, "num_heads": 16, "num_layers": 18},
)
SMALL = ModelConfig(
    name="small",
    network={
        **_HYMOTION_COMMON,
        "feat_dim": 256,
        "num_heads": 4,
        "num_layers": 6,
        "ctxt_input_dim": 384,
        "vtxt_input_dim": 384,
    },
    text_max_length=32,
    default_steps=20,
    default_cfg=3.0,
    text_encoder="minilm",
)
"""Size class of the embedded CPU model (MiniLM features: 384-d tokens and sentence vector)."""

TEST = ModelConfig(
    name="test",
    network={
        **_HYMOTION_COMMON,
        "feat_dim": 32,
        "num_heads": 2,
        "num_layers": 3,
        "mlp_ratio": 2.0,
        "ctxt_input_dim": 16,
        "vtxt_input_dim": 16,
        "text_refiner_cfg": {"num_layers": 1},
    },
    text_max_length=8,
    default_steps=50,
    default_cfg=5.0,
    text_encoder="hash",
)
"""A very small random network for tests: a 5 s clip, 50 steps with CFG, well under a second on one core."""

CONFIGS: dict[str, ModelConfig] = {"full": FULL, "lite": LITE, "small": SMALL, "test": TEST}


def get_config(name: str) -> ModelConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise UnknownConfig(f"unknown model config {name!r}; choose one of {', '.join(CONFIGS)}") from None

TINY = ModelConfig(
    name="tiny",
    network={**SMALL.network, "feat_dim": 128, "num_heads": 2, "num_layers": 3, "text_refiner_cfg": {"num_layers": 1}},
    train_frames=150,
    text_max_length=24,
    default_steps=20,
    default_cfg=3.0,
    text_encoder="minilm",
    meta={"text_encoder_options": {"max_length": 24}},
    postprocess=PostProcess(foot_lock=True),
)
"""The shipped embedded model: 128-d, 3 blocks (1 double + 2 single), 5 s windows, MiniLM text, planted feet
held by leg IK after upstream's smoothing (its feet slide far more than mocap's without it). Chosen by
measurement on the 2-core CPU this was trained on (see docs/model-tiny.md)."""
