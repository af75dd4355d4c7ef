"""Lesson 18: build_rotary_embedding(config) picks the class from config.rope_scaling."""
import pytest
import torch
from kimi_course.testing import assert_close

YARN_KEYS = ("original_max_position_embeddings", "beta_fast", "beta_slow", "mscale", "mscale_all_dim")


def _tiny_configs(module):
    tiny = module.KimiK2Config.tiny
    return {
        "none": tiny(rope_scaling=None),
        "linear": tiny(rope_scaling={"type": "linear", "factor": 4.0}),
        "dynamic": tiny(rope_scaling={"type": "dynamic", "factor": 2.0}),
        "yarn": tiny(),
        "yarn_defaults": tiny(rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256}),
        "theta": tiny(rope_scaling=None, rope_theta=1234.0, qk_rope_head_dim=8, max_position_embeddings=300),
    }


def _check(impl, reference, config, where):
    mine, ref = impl.rope.build_rotary_embedding(config), reference.rope.build_rotary_embedding(config)
    expected = getattr(impl, type(ref).__name__)
    assert type(mine) is expected, (
        f"{where}: got {type(mine).__name__}, expected {type(ref).__name__} for rope_scaling = "
        f"{config.rope_scaling!r} (teaching.md §Which class)")
    for name in ("dim", "base", "max_position_embeddings", "scaling_factor", "attention_scaling") + YARN_KEYS:
        if hasattr(ref, name):
            assert getattr(mine, name, None) == getattr(ref, name), (
                f"{where}: {name} = {getattr(mine, name, None)!r}, expected {getattr(ref, name)!r}: dim is "
                "qk_rope_head_dim, base is rope_theta, and the rope_scaling keys are passed through "
                "(teaching.md §Which class)")
    assert_close(mine.inv_freq, ref.inv_freq, atol=0, rtol=1e-6, what=f"inv_freq ({where})")
    return mine, ref


def test_class_per_rope_scaling_type(impl, reference):
    for name, config in _tiny_configs(impl).items():
        mine, ref = _check(impl, reference, config, f"tiny config '{name}'")
        x = torch.zeros(1)
        assert_close(mine(x, seq_len=64)[0], ref(x, seq_len=64)[0], atol=1e-6, what=f"cos of tiny config '{name}'")


def test_kimi_k2_and_deepseek_v3(impl, reference):
    kimi, _ = _check(impl, reference, impl.KimiK2Config.kimi_k2(), "Kimi-K2")
    assert (kimi.dim, kimi.base, kimi.scaling_factor, kimi.beta_fast) == (64, 50000.0, 32.0, 1.0), (
        f"Kimi-K2: dim {kimi.dim}, base {kimi.base}, factor {kimi.scaling_factor}, beta_fast {kimi.beta_fast}; "
        "expected 64 (qk_rope_head_dim, not hidden/heads = 112), 50000, 32, 1")
    dsv3, _ = _check(impl, reference, impl.KimiK2Config.deepseek_v3(), "DeepSeek-V3")
    assert (dsv3.dim, dsv3.base, dsv3.scaling_factor, dsv3.beta_fast) == (64, 10000.0, 40.0, 32.0), (
        f"DeepSeek-V3: dim {dsv3.dim}, base {dsv3.base}, factor {dsv3.scaling_factor}, beta_fast {dsv3.beta_fast}")


def test_every_type_the_config_accepts_is_built(impl, reference):
    accepted = sorted(impl.config.ROPE_SCALING_KEYS)
    assert accepted == ["dynamic", "linear", "yarn"]
    for rope_type in accepted:
        required, _ = impl.config.ROPE_SCALING_KEYS[rope_type]
        scaling = {"type": rope_type, "factor": 3.0}
        if "original_max_position_embeddings" in required:
            scaling["original_max_position_embeddings"] = 128
        _check(impl, reference, impl.KimiK2Config.tiny(rope_scaling=scaling), f"rope_scaling {scaling}")
    with pytest.raises(ValueError, match="rope_scaling"):
        impl.KimiK2Config.tiny(rope_scaling={"type": "ntk", "factor": 2.0})   # never reaches the builder


def test_attention_uses_the_builder(impl, reference):
    config = impl.KimiK2Config.tiny(rope_scaling={"type": "dynamic", "factor": 2.0})
    attention = impl.attention.DeepseekV3Attention(config, layer_idx=0)
    assert type(attention.rotary_emb) is impl.DeepseekV3DynamicNTKScalingRotaryEmbedding, (
        f"DeepseekV3Attention.rotary_emb is {type(attention.rotary_emb).__name__}: it comes from "
        "build_rotary_embedding(config)")
