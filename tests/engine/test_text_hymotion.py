"""HY-Motion's text encoder code path (Qwen3 chat template + CLIP pooled output) on tiny local models.

The models and tokenizers are built here with `transformers` (random weights, word-level vocabulary), so the
real loading, templating, cropping and pooling run without any download.
"""

from __future__ import annotations

import re

import pytest
import torch

from engine.text_encoders import MOTION_SYSTEM_PROMPT, HYMotionTextEncoder, TextEncoderError

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
def encoder(tmp_path_factory):
    root = tmp_path_factory.mktemp("hymotion-text")
    _build_qwen(root / "Qwen3-8B")
    _build_clip(root / "clip-vit-large-patch14")
    return HYMotionTextEncoder(root / "Qwen3-8B", root / "clip-vit-large-patch14", max_length=16)


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
