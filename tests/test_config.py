"""KimiK2Config: the real Kimi-K2 config.json loads, both rope conventions, every rule."""

import json
from pathlib import Path

import pytest
from transformers import DeepseekV3Config

from helpers import tiny_config
from kimik2 import KimiK2Config

FIXTURE = Path(__file__).parent / "fixtures" / "kimi_k2_instruct_config.json"


def test_real_kimi_k2_config_loads_and_equals_the_preset():
    config = KimiK2Config.from_json_file(FIXTURE)
    preset = KimiK2Config.kimi_k2()
    for key, value in json.loads(FIXTURE.read_text()).items():
        if key in config.metadata:
            assert config.metadata[key] == value, key
        else:
            assert getattr(config, key) == value, key
            assert getattr(preset, key) == value, f"preset kimi_k2().{key}"
    assert config.metadata["quantization_config"]["quant_method"] == "fp8"


def test_to_dict_round_trip():
    config = KimiK2Config.from_json_file(FIXTURE)
    again = KimiK2Config.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert again.to_dict() == config.to_dict()


def test_transformers_convention_rope_parameters():
    """transformers >= 5 writes rope_parameters (with rope_theta inside) and derived keys."""
    reference = DeepseekV3Config(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 n_routed_experts=8, n_group=2, topk_group=1, num_experts_per_tok=2, first_k_dense_replace=1, qk_rope_head_dim=8,
                                 rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16,
                                               "beta_fast": 1.0, "beta_slow": 1.0}, rope_theta=50000.0)
    saved = json.loads(reference.to_json_string())  # what save_pretrained writes
    assert "rope_parameters" in saved
    config = KimiK2Config.from_dict(saved)
    assert config.rope_theta == 50000.0
    assert config.rope_scaling == {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16,
                                   "beta_fast": 1.0, "beta_slow": 1.0}
    default = KimiK2Config.from_dict({**saved, "rope_parameters": {"rope_type": "default", "rope_theta": 1e4}})
    assert default.rope_scaling is None and default.rope_theta == 1e4


def test_deepseek_v3_preset_matches_transformers_defaults():
    """transformers' DeepseekV3Config defaults are DeepSeek-V3's (an independent source)."""
    ours, theirs = KimiK2Config.deepseek_v3(), DeepseekV3Config()
    for key in ("vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size", "num_hidden_layers",
                "num_attention_heads", "n_shared_experts", "n_routed_experts", "routed_scaling_factor",
                "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "v_head_dim", "qk_nope_head_dim", "n_group",
                "topk_group", "num_experts_per_tok", "first_k_dense_replace", "norm_topk_prob"):
        assert getattr(ours, key) == getattr(theirs, key), key


@pytest.mark.parametrize("overrides, message", [
    (dict(n_routed_experts=10, n_group=4), "n_group = 4: must divide n_routed_experts"),
    (dict(n_group=2, topk_group=3), "topk_group = 3: must be <= n_group"),
    (dict(n_routed_experts=8, n_group=4, topk_group=1, num_experts_per_tok=3), "num_experts_per_tok = 3: exceeds"),
    (dict(n_routed_experts=4, n_group=4, topk_group=4, num_experts_per_tok=2), "at least 2 experts"),
    (dict(hidden_size=0), "hidden_size = 0: must be a positive integer"),
    (dict(num_attention_heads=-1), "num_attention_heads = -1"),
    (dict(q_lora_rank=0), "q_lora_rank = 0: must be a positive integer or null"),
    (dict(qk_rope_head_dim=7), "must be even"),
    (dict(rms_norm_eps=0.0), "rms_norm_eps = 0.0: must be a positive"),
    (dict(scoring_func="softmax"), "only 'sigmoid'"),
    (dict(topk_method="group_limited_greedy"), "topk_method"),
    (dict(hidden_act="swish"), "hidden_act"),
    (dict(attention_dropout=1.5), "attention_dropout"),
    (dict(first_k_dense_replace=9), "first_k_dense_replace = 9"),
    (dict(pretraining_tp=2), "pretraining_tp"),
    (dict(ep_size=8), "ep_size"),
    (dict(pad_token_id=1000), "pad_token_id"),
    (dict(rope_scaling={"type": "ntk", "factor": 2.0}), "rope_scaling\\['type'\\] = 'ntk'"),
    (dict(rope_scaling={"type": "yarn", "factor": 2.0}), "needs the keys \\['original_max_position_embeddings'\\]"),
    (dict(rope_scaling={"type": "linear"}), "needs the keys \\['factor'\\]"),
    (dict(rope_scaling={"type": "linear", "factor": 2.0, "beta_fast": 3}), "unknown keys \\['beta_fast'\\]"),
    (dict(rope_scaling={"type": "linear", "factor": -2.0}), "must be > 0"),
])
def test_invalid_values_name_the_field_and_the_rule(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**overrides)


def test_unknown_keys_are_errors_metadata_is_kept():
    base = tiny_config().to_dict()
    with pytest.raises(ValueError, match="unknown config keys \\['hidden_sise'\\]"):
        KimiK2Config.from_dict({**base, "hidden_sise": 7})
    config = KimiK2Config.from_dict({**base, "architectures": ["X"], "auto_map": {}, "torch_dtype": "bfloat16"})
    assert config.metadata == {"architectures": ["X"], "auto_map": {}, "torch_dtype": "bfloat16"}


@pytest.mark.parametrize("extra, message", [
    ({"head_dim": 5}, "'head_dim' = 5 disagrees"),
    ({"rope_interleave": False}, "rope_interleave"),
    ({"rope_parameters": {"rope_type": "linear", "factor": 2.0}}, "both rope_parameters and rope_scaling"),
])
def test_inconsistent_transformers_keys(extra, message):
    with pytest.raises(ValueError, match=message):
        KimiK2Config.from_dict({**tiny_config().to_dict(), **extra})


def test_moe_layer_rule():
    config = tiny_config(num_hidden_layers=6, first_k_dense_replace=2, moe_layer_freq=2)
    assert [config.is_moe_layer(i) for i in range(6)] == [False, False, True, False, True, False]
    assert [KimiK2Config.kimi_k2().is_moe_layer(i) for i in range(3)] == [False, True, True]
