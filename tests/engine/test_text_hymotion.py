"""HY-Motion's text encoder code path (Qwen3 chat template + CLIP pooled output) on tiny local models.

The models and tokenizers are built here with `transformers` (random weights, word-level vocabulary), so the
real loading, templating, cropping and pooling run without any download.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import yaml

import engine
from engine.io.checkpoint import StatsChecksumError
from engine.model.configs import TEST
from engine.model.dit import HunyuanMotionMMDiT
from engine.model.text_encoders import MOTION_SYSTEM_PROMPT, HYMotionTextEncoder, TextEncoderError

pytestmark = pytest.mark.slow

tf = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

PROMPTS = ["a person walks forward", "waves"]


def _build_qwen(folder):
    words = set(re.findall(r"\w+|[^\w\s]+", MOTION_SYSTEM_PROMPT)) | set(" ".join(PROMPTS).split())
    words |= {"system", "user", "<", "BOC", ">"}
    vocab = {t: i for i, t in enumerate(["[UNK]", "[PAD]", "<|im_start|>", "<|im_end|>", *sorted(words)])}
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok = tf.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tok.chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    tok.save_pretrained(folder)
    config = tf.Qwen3Config(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=32,
        head_dim=8,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    tf.Qwen3ForCausalLM(config).save_pretrained(folder)
    return tok


def _build_clip(folder):
    chars = sorted(tokenizers.pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tf.CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(folder)
    config = tf.CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=12,
        intermediate_size=24,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=77,
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    torch.manual_seed(1)
    tf.CLIPTextModel(config).save_pretrained(folder)


@pytest.fixture(scope="module")
def encoder_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("hymotion-text")
    _build_qwen(root / "Qwen3-8B")
    _build_clip(root / "clip-vit-large-patch14")
    return root


@pytest.fixture(scope="module")
def encoder(encoder_root):
    return HYMotionTextEncoder(encoder_root / "Qwen3-8B", encoder_root / "clip-vit-large-patch14", max_length=16)


def test_features_have_the_fixed_token_count_and_valid_lengths(encoder):
    f = encoder.encode(PROMPTS)
    assert f.ctxt.shape == (2, 16, 16) and f.vtxt.shape == (2, 1, 12) and f.ctxt.dtype == torch.float32
    # user words + the closing <|im_end|> of the user turn, as upstream counts them
    assert f.ctxt_length.tolist() == [5, 2]
    assert (encoder.ctxt_dim, encoder.vtxt_dim) == (16, 12)


def test_crop_starts_at_the_first_user_token_after_the_system_prompt(encoder):
    ids = encoder.llm_tokenizer(encoder._chat(PROMPTS[0]))["input_ids"]
    assert encoder.llm_tokenizer.convert_ids_to_tokens(ids[encoder.crop_start : encoder.crop_start + 4]) == [
        "a",
        "person",
        "walks",
        "forward",
    ]
    assert encoder.crop_start > len(MOTION_SYSTEM_PROMPT.split())


def test_token_features_are_the_last_hidden_states_of_the_user_tokens(encoder):
    f = encoder.encode(PROMPTS)
    for i, prompt in enumerate(PROMPTS):
        ids = torch.tensor([encoder.llm_tokenizer(encoder._chat(prompt))["input_ids"]])
        with torch.no_grad():
            hidden = encoder.llm(input_ids=ids).last_hidden_state[0].float()
        n = int(f.ctxt_length[i])
        expected = hidden[encoder.crop_start : encoder.crop_start + n]
        assert torch.allclose(f.ctxt[i, :n], expected, atol=2e-2)  # Qwen runs in bf16


def test_sentence_vector_is_clips_pooled_output(encoder):
    f = encoder.encode(PROMPTS)
    clip_ids = encoder.clip_tokenizer([PROMPTS[1]], return_tensors="pt")
    with torch.no_grad():
        pooled = encoder.clip(**clip_ids).pooler_output
    assert torch.allclose(f.vtxt[1, 0], pooled[0], atol=1e-5)


def test_missing_encoder_folder_says_how_to_download(tmp_path):
    with pytest.raises(TextEncoderError, match="fetch-weights"):
        HYMotionTextEncoder(tmp_path / "Qwen3-8B", tmp_path / "clip")


def test_hymotion_folder_with_text_encoders_generates_from_a_prompt(encoder_root):
    """The whole HY-Motion path: folder layout → safe checkpoint load → Qwen/CLIP encoding → sampling → Motion."""
    network_args = {**TEST.network, "ctxt_input_dim": 16, "vtxt_input_dim": 12}
    model_dir = encoder_root / "HY-Motion-1.0"
    model_dir.mkdir()
    (model_dir / "config.yml").write_text(
        yaml.safe_dump(
            {
                "network_module": "hymotion/network/hymotion_mmdit.HunyuanMotionMMDiT",
                "network_module_args": network_args,
                "train_pipeline_args": {"text_encoder_cfg": {"max_length_llm": 16}, "test_cfg": {}},
            }
        )
    )
    torch.manual_seed(3)
    net = HunyuanMotionMMDiT(network_args)
    state = {f"motion_transformer.{k}": v * 0.5 for k, v in net.state_dict().items()}
    state["null_vtxt_feat"] = torch.randn(1, 1, 12)
    state["null_ctxt_input"] = torch.randn(1, 1, 16)
    torch.save({"model_state_dict": state}, model_dir / "latest.ckpt")
    (encoder_root / "stats").mkdir()
    np.save(encoder_root / "stats" / "Mean.npy", np.zeros(201, np.float32))
    np.save(encoder_root / "stats" / "Std.npy", np.full(201, 0.1, np.float32))

    # Made-up statistics are not the published files: the checksum refuses them unless told they are ours.
    with pytest.raises(StatsChecksumError):
        engine.load_model(model_dir, device="cpu", text_device="cpu")
    model = engine.load_model(model_dir, device="cpu", text_device="cpu", verify_stats=False)
    assert isinstance(model.text_encoder.inner, HYMotionTextEncoder)
    assert model.text_encoder.max_length == 16  # max_length_llm from config.yml
    motions = model.generate("a person walks forward", seconds=1.0, seed=0, steps=4)
    again = model.generate("a person walks forward", seconds=1.0, seed=0, steps=4)
    other = model.generate("waves", seconds=1.0, seed=0, steps=4)
    assert motions[0].frames == 30 and np.array_equal(motions[0].rotations, again[0].rotations)
    assert model.text_encoder.hits >= 1  # the repeated prompt came from the cache
    assert not np.allclose(motions[0].rotations, other[0].rotations, atol=1e-4)  # the text reaches the motion
