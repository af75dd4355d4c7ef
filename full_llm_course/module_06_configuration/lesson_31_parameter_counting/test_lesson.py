"""Graded tests for lesson 31: attention_parameters(config) and mlp_parameters(hidden, intermediate) in size.py."""

import pytest
import torch

CASES = {
    "Kimi-K2": ("kimi_k2", {}),
    "DeepSeek-V3": ("deepseek_v3", {}),
    "tiny": ("tiny", {}),
    "tiny, q_lora_rank None": ("tiny", dict(q_lora_rank=None)),
    "tiny, attention_bias True": ("tiny", dict(attention_bias=True)),
    "tiny, q_lora_rank None and attention_bias True": ("tiny", dict(q_lora_rank=None, attention_bias=True)),
    "tiny, 8 heads, rope 8, v 24": ("tiny", dict(num_attention_heads=8, qk_rope_head_dim=8, v_head_dim=24)),
}
HINTS = {
    "tiny, q_lora_rank None": "without q_lora_rank there is one q_proj (hidden x heads*qk_head_dim) and no "
                              "q_a_layernorm (teaching.md §Two query paths)",
    "tiny, attention_bias True": "attention_bias adds a bias to q_a_proj, kv_a_proj_with_mqa and o_proj only, "
                                 "not to q_b_proj or kv_b_proj (teaching.md §Biases)",
    "tiny, q_lora_rank None and attention_bias True": "q_proj never has a bias; kv_a_proj_with_mqa and o_proj do "
                                                      "(teaching.md §Biases)",
    "tiny, 8 heads, rope 8, v 24": "keys use qk_nope + v per head in kv_b_proj, queries qk_nope + qk_rope in "
                                   "q_b_proj, o_proj reads heads*v_head_dim (teaching.md §Matrix by matrix)",
}


def _config(module, preset, overrides):
    return getattr(module.KimiK2Config, preset)(**overrides)


@pytest.mark.parametrize("label", list(CASES))
def test_attention_parameters_match_reference(impl, reference, label):
    preset, overrides = CASES[label]
    got = impl.size.attention_parameters(_config(impl, preset, overrides))
    want = reference.size.attention_parameters(_config(reference, preset, overrides))
    assert isinstance(got, int) and not isinstance(got, bool), (
        f"attention_parameters returned {type(got).__name__}: return a Python int")
    assert got == want, (f"{label}: attention_parameters = {got:,}, expected {want:,} (off by {got - want:+,}). "
                         f"{HINTS.get(label, 'sum the seven tensors of teaching.md §Matrix by matrix')}")


@pytest.mark.parametrize("overrides", [{}, dict(q_lora_rank=None), dict(attention_bias=True),
                                       dict(q_lora_rank=None, attention_bias=True, num_attention_heads=8)])
def test_attention_parameters_equal_a_built_block(impl, reference, overrides):
    """The formula must agree with the module tree, not only with another formula."""
    config = reference.KimiK2Config.tiny(**overrides)
    torch.manual_seed(0)
    block = reference.DeepseekV3Attention(config, 0)
    built = sum(p.numel() for p in block.parameters())
    got = impl.size.attention_parameters(impl.KimiK2Config.tiny(**overrides))
    names = ", ".join(f"{n} {tuple(p.shape)}" for n, p in block.named_parameters())
    assert got == built, (f"tiny{overrides}: attention_parameters = {got:,} but DeepseekV3Attention has {built:,} "
                          f"parameters ({names}) (teaching.md §Matrix by matrix)")


@pytest.mark.parametrize("hidden, intermediate", [(7168, 2048), (7168, 18432), (64, 32), (64, 192), (5, 3)])
def test_mlp_parameters(impl, reference, hidden, intermediate):
    got = impl.size.mlp_parameters(hidden, intermediate)
    want = reference.size.mlp_parameters(hidden, intermediate)
    assert got == want, (f"mlp_parameters({hidden}, {intermediate}) = {got!r}, expected {want:,}: gate_proj, "
                         "up_proj and down_proj, no biases (teaching.md §The SwiGLU blocks)")


def test_mlp_parameters_equal_a_built_expert(impl, reference):
    config = reference.KimiK2Config.tiny()
    expert = reference.DeepseekV3MLP(config, intermediate_size=config.moe_intermediate_size)
    built = sum(p.numel() for p in expert.parameters())
    got = impl.size.mlp_parameters(config.hidden_size, config.moe_intermediate_size)
    assert got == built, (f"mlp_parameters(64, 32) = {got!r} but a built tiny expert has {built:,} parameters "
                          "(teaching.md §The SwiGLU blocks)")
