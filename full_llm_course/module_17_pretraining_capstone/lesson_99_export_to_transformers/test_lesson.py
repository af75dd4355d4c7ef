"""Graded tests for lesson 99: kimik2.hf.save_pretrained, checked against the reference and by transformers."""

import importlib
import json

import pytest
import torch
from kimi_course.testing import assert_close
from safetensors import safe_open
from transformers import DeepseekV3ForCausalLM


def _model(package, **overrides):
    torch.manual_seed(0)
    model = package.KimiK2ForCausalLM(package.KimiK2Config.tiny(vocab_size=128, num_hidden_layers=2, **overrides))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():                          # non-zero correction biases, as after training
        for name, buffer in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                buffer.copy_(0.1 * torch.randn(buffer.shape, generator=g))
    return model.eval()


def _save(package, model, directory):
    importlib.import_module(package.__name__ + ".hf").save_pretrained(model, directory)


def _tensors(path):
    with safe_open(str(path / "model.safetensors"), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}


@pytest.mark.parametrize("tied", [False, True])
def test_saved_folder_matches_reference(impl, reference, tmp_path, tied):
    _save(impl, _model(impl, tie_word_embeddings=tied), tmp_path / "mine")
    _save(reference, _model(reference, tie_word_embeddings=tied), tmp_path / "ref")
    mine_config = json.loads((tmp_path / "mine" / "config.json").read_text())
    ref_config = json.loads((tmp_path / "ref" / "config.json").read_text())
    assert mine_config == ref_config, (
        f"config.json differs in {sorted(k for k in set(mine_config) | set(ref_config) if mine_config.get(k) != ref_config.get(k))}: "
        "model_type deepseek_v3, architectures, torch_dtype; drop quantization_config/auto_map (teaching.md §config.json)")
    mine, ref = _tensors(tmp_path / "mine"), _tensors(tmp_path / "ref")
    assert sorted(mine) == sorted(ref), (f"tensor names differ: extra {sorted(set(mine) - set(ref))[:5]}, missing "
                                         f"{sorted(set(ref) - set(mine))[:5]} (teaching.md §Weights)")
    assert ("lm_head.weight" in mine) == (not tied), "tied embeddings are stored once, as model.embed_tokens.weight"
    for key, tensor in ref.items():
        assert_close(mine[key], tensor, atol=0, what=f"saved tensor {key}")


@pytest.mark.parametrize("tied", [False, True])
def test_transformers_loads_it_with_the_same_logits(impl, tmp_path, tied):
    model = _model(impl, tie_word_embeddings=tied)
    _save(impl, model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "deepseek_v3" and config["architectures"] == ["DeepseekV3ForCausalLM"]
    theirs = DeepseekV3ForCausalLM.from_pretrained(tmp_path).eval()
    batch = torch.randint(0, 128, (2, 24), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert_close(theirs(batch).logits, model(batch).logits, atol=1e-5,
                     what=f"logits of transformers' DeepseekV3ForCausalLM loading the saved folder (tied={tied})",
                     hint="every state_dict tensor under its own name, including e_score_correction_bias "
                          "(teaching.md §Weights)")
