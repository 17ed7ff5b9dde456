"""The DiT network: upstream parameter names and counts, state-dict loading, the exact short path."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from engine.io.checkpoint import WeightsMismatchError, load_network_weights, split_state
from engine.model.configs import FULL, LITE, TEST
from engine.model.dit import DiTConfig, HunyuanMotionMMDiT, NetworkConfigError, count_parameters

NULL_FEATURES = 2 * (768 + 4096)  # null_* and special_game_* parameters that sit beside the network upstream


def _random_network(seed: int = 0) -> HunyuanMotionMMDiT:
    torch.manual_seed(seed)
    net = HunyuanMotionMMDiT(TEST.network).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.2)  # upstream zero-initialises adaLN; random values exercise every path
    return net


def _upstream_state_dict(net: HunyuanMotionMMDiT) -> dict[str, torch.Tensor]:
    """What an upstream `model_state_dict` looks like: prefixed network keys plus top-level extras."""
    sd = {f"motion_transformer.{k}": torch.randn_like(v) for k, v in net.state_dict().items()}
    sd["null_vtxt_feat"] = torch.randn(1, 1, 16)
    sd["null_ctxt_input"] = torch.randn(1, 1, 16)
    sd["special_game_vtxt_feat"] = torch.randn(1, 1, 16)
    sd["special_game_ctxt_feat"] = torch.randn(1, 1, 16)
    sd["body_model.faces"] = torch.zeros(10, 3, dtype=torch.long)
    return sd


@pytest.mark.parametrize(("config", "expected"), [(FULL, 1_042_878_409), (LITE, 460_851_401)])
def test_parameter_count_matches_the_published_models(config, expected):
    with torch.device("meta"):
        net = HunyuanMotionMMDiT(config.network)
    assert count_parameters(net) + NULL_FEATURES == expected


def test_full_config_has_9_double_and_18_single_blocks():
    with torch.device("meta"):
        net = HunyuanMotionMMDiT(FULL.network)
    assert len(net.double_blocks) == 9 and len(net.single_blocks) == 18


PUBLISHED = json.loads((Path(__file__).resolve().parents[1] / "data" / "hymotion_state_dict.json").read_text())
"""Names and shapes of the published checkpoints, written from upstream's code and config (not from ours)."""


def _without_block_numbers(names: set[str]) -> set[str]:
    return {re.sub(r"\.(\d+)\.", ".N.", name) for name in names}


def test_published_key_list_adds_up_to_the_published_parameter_counts():
    for name, shapes in PUBLISHED["models"].items():
        assert sum(math.prod(shape) for shape in shapes.values()) == PUBLISHED["parameters"][name]


@pytest.mark.parametrize("config", [FULL, LITE], ids=["full", "lite"])
def test_network_names_and_shapes_equal_the_published_checkpoint(config):
    with torch.device("meta"):
        net = HunyuanMotionMMDiT(config.network)
    ours = {f"motion_transformer.{k}": list(v.shape) for k, v in net.state_dict().items()}
    published = {k: v for k, v in PUBLISHED["models"][config.name].items() if k.startswith("motion_transformer.")}
    assert sorted(set(published) - set(ours)) == [] and sorted(set(ours) - set(published)) == []
    assert {k: v for k, v in ours.items() if published[k] != v} == {}


@pytest.mark.parametrize("config", [FULL, LITE], ids=["full", "lite"])
def test_a_checkpoint_with_the_published_keys_loads_with_nothing_missing(config):
    state = {k: torch.empty(shape, device="meta") for k, shape in PUBLISHED["models"][config.name].items()}
    weights, extras, ignored = split_state(state)
    with torch.device("meta"):
        net = HunyuanMotionMMDiT(config.network)
    assert load_network_weights(net, weights) == []
    assert set(extras) == {"null_vtxt_feat", "null_ctxt_input"}
    assert ignored == ["special_game_ctxt_feat", "special_game_vtxt_feat"]


def test_the_random_weight_test_config_uses_the_published_naming_scheme():
    # The test network is HY-Motion scaled down (fewer, narrower blocks): the same names once block numbers go.
    ours = {f"motion_transformer.{k}" for k in HunyuanMotionMMDiT(TEST.network).state_dict()}
    published = {k for k in PUBLISHED["models"]["HY-Motion-1.0"] if k.startswith("motion_transformer.")}
    assert _without_block_numbers(ours) == _without_block_numbers(published)


def test_upstream_shaped_state_dict_loads_with_zero_missing_keys_and_ignores_extras():
    net = HunyuanMotionMMDiT(TEST.network)
    state = _upstream_state_dict(net)
    weights, extras, ignored = split_state(state)
    unknown = load_network_weights(net, weights)
    assert unknown == []
    assert set(extras) == {"null_vtxt_feat", "null_ctxt_input"}
    assert ignored == ["body_model.faces", "special_game_ctxt_feat", "special_game_vtxt_feat"]
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[f"motion_transformer.{key}"]), key


def test_unknown_network_keys_are_ignored_and_reported():
    net = HunyuanMotionMMDiT(TEST.network)
    weights, _, _ = split_state(_upstream_state_dict(net))
    weights["long_skip_net.linear.weight"] = torch.zeros(3, 3)
    assert load_network_weights(net, weights) == ["long_skip_net.linear.weight"]


def test_mis_shaped_key_is_named():
    net = HunyuanMotionMMDiT(TEST.network)
    weights, _, _ = split_state(_upstream_state_dict(net))
    weights["double_blocks.0.motion_qkv.weight"] = torch.zeros(5, 32)
    with pytest.raises(WeightsMismatchError, match=r"double_blocks\.0\.motion_qkv\.weight has \(5, 32\)") as info:
        load_network_weights(net, weights)
    assert info.value.mis_shaped[0][0] == "double_blocks.0.motion_qkv.weight"


def test_missing_key_is_named():
    net = HunyuanMotionMMDiT(TEST.network)
    weights, _, _ = split_state(_upstream_state_dict(net))
    del weights["final_layer.linear.bias"]
    with pytest.raises(WeightsMismatchError, match=r"final_layer\.linear\.bias") as info:
        load_network_weights(net, weights)
    assert info.value.missing == ["final_layer.linear.bias"]


def test_weights_load_into_a_meta_network():
    source = _random_network()
    with torch.device("meta"):
        net = HunyuanMotionMMDiT(TEST.network)
    load_network_weights(net, source.state_dict())
    assert not any(p.is_meta for p in net.parameters())
    assert torch.equal(net.final_layer.linear.weight, source.final_layer.linear.weight)


def test_forward_returns_b_l_201():
    net = _random_network()
    out = net(
        x=torch.randn(2, 40, 201),
        ctxt_input=torch.randn(2, 8, 16),
        vtxt_input=torch.randn(2, 1, 16),
        timesteps=torch.tensor([0.1, 0.9]),
        x_mask_temporal=torch.ones(2, 40, dtype=torch.bool),
        ctxt_mask_temporal=torch.ones(2, 8, dtype=torch.bool),
    )
    assert out.shape == (2, 40, 201) and torch.isfinite(out).all()


def test_short_forward_equals_padded_forward_on_valid_frames():
    """Only L frames with text RoPE at 360 + i gives the padded 360-frame numbers (fp32, random weights)."""
    net = _random_network(1)
    frames, tokens = 97, 5
    x = torch.randn(1, 360, 201)
    ctxt, vtxt, t = torch.randn(1, 8, 16), torch.randn(1, 1, 16), torch.tensor([0.37])
    with torch.no_grad():
        padded = net(
            x=x,
            ctxt_input=ctxt,
            vtxt_input=vtxt,
            timesteps=t,
            x_mask_temporal=torch.arange(360)[None] < frames,
            ctxt_mask_temporal=torch.arange(8)[None] < tokens,
        )
        short = net(
            x=x[:, :frames],
            ctxt_input=ctxt[:, :tokens],
            vtxt_input=vtxt,
            timesteps=t,
            x_mask_temporal=torch.ones(1, frames, dtype=torch.bool),
            ctxt_mask_temporal=torch.ones(1, tokens, dtype=torch.bool),
            text_position_offset=360,
        )
    assert (padded[:, :frames] - short).abs().max() < 1e-5
    # Without the offset the text positions move and the result changes: the offset is what makes it exact.
    with torch.no_grad():
        moved = net(
            x=x[:, :frames],
            ctxt_input=ctxt[:, :tokens],
            vtxt_input=vtxt,
            timesteps=t,
            x_mask_temporal=torch.ones(1, frames, dtype=torch.bool),
            ctxt_mask_temporal=torch.ones(1, tokens, dtype=torch.bool),
        )
    assert (padded[:, :frames] - moved).abs().max() > 1e-3


def test_narrowband_mask_blocks_far_frames_and_text_to_motion():
    net = HunyuanMotionMMDiT(TEST.network)
    mask = net.attention_mask(torch.ones(1, 100, dtype=torch.bool), torch.tensor([[True, True, False]]))[0, 0]
    assert mask[0, 60] and not mask[0, 61]  # |i - j| ≤ 60 frames
    assert mask[0, 100] and mask[0, 101] and not mask[0, 102]  # valid text keys only
    assert not mask[100:, :100].any()  # text never attends to motion
    assert mask[100:, 100:102].all()


def test_unsupported_network_options_are_refused_by_name():
    with pytest.raises(NetworkConfigError, match="insert_start_token"):
        DiTConfig.from_dict({**TEST.network, "insert_start_token": True})
    with pytest.raises(NetworkConfigError, match="num_layers"):
        DiTConfig.from_dict({**TEST.network, "num_layers": 4})


def test_bf16_forward_runs_on_cpu_and_stays_close_to_fp32():
    net = _random_network(2)
    args = dict(
        x=torch.randn(1, 30, 201),
        ctxt_input=torch.randn(1, 8, 16),
        vtxt_input=torch.randn(1, 1, 16),
        timesteps=torch.tensor([0.5]),
        x_mask_temporal=torch.ones(1, 30, dtype=torch.bool),
        ctxt_mask_temporal=torch.ones(1, 8, dtype=torch.bool),
    )
    with torch.no_grad():
        ref = net(**args)
        low = net.to(torch.bfloat16)(**args)
    assert low.dtype == torch.bfloat16
    rel = (low.float() - ref).norm() / ref.norm()
    assert rel < 0.05
