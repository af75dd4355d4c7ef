"""Checkpoints in the Kimi-K2 / DeepSeek-V3 layout: round trips, shards, and clear errors."""

import json
import logging

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import DeepseekV3ForCausalLM

from helpers import randomize_, tiny_config
from kimik2 import CheckpointError, KimiK2ForCausalLM


@pytest.fixture
def saved(tmp_path):
    model = randomize_(KimiK2ForCausalLM(tiny_config()))
    model.save_pretrained(tmp_path)
    return model, tmp_path


def rewrite(directory, change):
    state = load_file(directory / "model.safetensors")
    change(state)
    save_file(state, directory / "model.safetensors")


def test_round_trip_and_layout(saved):
    model, directory = saved
    state = load_file(directory / "model.safetensors")
    assert "model.layers.1.mlp.experts.0.gate_proj.weight" in state
    assert "model.layers.1.mlp.gate.e_score_correction_bias" in state
    assert "model.layers.0.self_attn.kv_a_proj_with_mqa.weight" in state
    config = json.loads((directory / "config.json").read_text())
    assert config["model_type"] == "deepseek_v3" and "quantization_config" not in config
    loaded = KimiK2ForCausalLM.from_pretrained(directory)
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    half = KimiK2ForCausalLM.from_pretrained(directory, dtype=torch.bfloat16)
    assert half.lm_head.weight.dtype == torch.bfloat16
    gate, saved_gate = half.model.layers[1].mlp.gate, model.model.layers[1].mlp.gate
    assert gate.e_score_correction_bias.dtype == gate.weight.dtype == torch.float32
    assert torch.equal(gate.e_score_correction_bias, saved_gate.e_score_correction_bias), "bias rounded via bf16"
    assert torch.equal(gate.weight, saved_gate.weight), "router weight rounded via bf16"


def test_saving_what_transformers_cannot_reproduce_warns(tmp_path, caplog):
    model = KimiK2ForCausalLM(tiny_config(num_hidden_layers=4, moe_layer_freq=2, n_shared_experts=None))
    with caplog.at_level(logging.WARNING, logger="kimik2"):
        model.save_pretrained(tmp_path)
    assert "moe_layer_freq != 1" in caplog.text and "n_shared_experts null" in caplog.text


def test_sharded_checkpoint_from_transformers(tmp_path):
    theirs = randomize_(DeepseekV3ForCausalLM.from_pretrained(_our_checkpoint(tmp_path / "a")))
    theirs.save_pretrained(tmp_path / "b", max_shard_size="20KB")
    assert (tmp_path / "b" / "model.safetensors.index.json").is_file()
    ours = KimiK2ForCausalLM.from_pretrained(tmp_path / "b")
    ids = torch.randint(0, 97, (1, 12))
    with torch.no_grad():
        assert (ours(ids).logits - theirs(ids).logits).abs().max() < 1e-5


def _our_checkpoint(directory):
    KimiK2ForCausalLM(tiny_config()).save_pretrained(directory)
    return directory


def test_mtp_layers_and_stored_inv_freq_are_skipped(saved, caplog):
    model, directory = saved
    layers = model.config.num_hidden_layers

    def add(state):
        state[f"model.layers.{layers}.eh_proj.weight"] = torch.zeros(4, 4)
        state[f"model.layers.{layers}.enorm.weight"] = torch.zeros(4)
        state["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.zeros(4)

    rewrite(directory, add)
    with caplog.at_level(logging.INFO, logger="kimik2"):
        KimiK2ForCausalLM.from_pretrained(directory)
    assert f"skipped 2 tensors of multi-token-prediction layer(s) [{layers}]" in caplog.text


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("model.norm.weight"), "missing keys \\(1\\): model.norm.weight"),
    (lambda s: s.update({"model.extra.weight": torch.zeros(1)}), "unexpected keys \\(1\\): model.extra.weight"),
    (lambda s: s.update({"model.norm.weight": torch.zeros(5)}), "model.norm.weight \\(5,\\) != \\(32,\\)"),
    (lambda s: s.update({"model.norm.weight": torch.zeros(32).to(torch.float8_e4m3fn)}),
     "FP8 checkpoints are not supported yet"),
    (lambda s: s.update({"model.layers.0.self_attn.o_proj.weight_scale_inv": torch.ones(1, 1)}),
     "FP8 checkpoints are not supported yet"),
])
def test_bad_checkpoints_are_clear_errors(saved, change, message):
    _, directory = saved
    rewrite(directory, change)
    with pytest.raises(CheckpointError, match=message):
        KimiK2ForCausalLM.from_pretrained(directory)


def test_missing_files(saved, tmp_path):
    _, directory = saved
    (directory / "model.safetensors").rename(directory / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="only safetensors checkpoints are read"):
        KimiK2ForCausalLM.from_pretrained(directory)
    (directory / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "shard-1.safetensors"}}))
    with pytest.raises(CheckpointError, match="shard files listed .* are missing"):
        KimiK2ForCausalLM.from_pretrained(directory)
    with pytest.raises(CheckpointError, match="no config.json"):
        KimiK2ForCausalLM.from_pretrained(tmp_path / "nowhere")


def test_tied_embeddings_round_trip(tmp_path):
    model = randomize_(KimiK2ForCausalLM(tiny_config(tie_word_embeddings=True)))
    assert model.lm_head.weight is model.model.embed_tokens.weight
    model.save_pretrained(tmp_path)
    assert "lm_head.weight" not in load_file(tmp_path / "model.safetensors")
    loaded = KimiK2ForCausalLM.from_pretrained(tmp_path)
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
