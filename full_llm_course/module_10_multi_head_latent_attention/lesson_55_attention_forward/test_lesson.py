"""Graded tests for lesson 55: DeepseekV3Attention.o_proj and DeepseekV3Attention.forward (expanded MLA)."""

import pytest
import torch
from kimi_course.testing import assert_close

CONFIGS = {
    "tiny": dict(),
    "tiny, v_head_dim 12 (value narrower than nope)": dict(v_head_dim=12),
    "tiny, no q_lora (q_proj)": dict(q_lora_rank=None),
    "Kimi-K2 head sizes (128 + 64, v 128, latent 512), 2 heads": dict(
        hidden_size=256, num_attention_heads=2, num_key_value_heads=2, q_lora_rank=96, kv_lora_rank=512,
        qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128),
}


def _pair(impl, reference, seed=0, **overrides):
    """The answer key's layer and yours with the same weights (checked by name and shape first)."""
    torch.manual_seed(seed)
    ref = reference.DeepseekV3Attention(reference.KimiK2Config.tiny(**overrides), layer_idx=0).eval()
    mine = impl.DeepseekV3Attention(impl.KimiK2Config.tiny(**overrides), layer_idx=0).eval()
    want = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in mine.state_dict().items()}
    assert got == want, (f"parameters differ from the answer key: yours {sorted(set(got.items()) - set(want.items()))}, "
                         f"expected {sorted(set(want.items()) - set(got.items()))}. o_proj maps "
                         "num_heads * v_head_dim -> hidden_size, bias=config.attention_bias (teaching.md §The code)")
    mine.load_state_dict(ref.state_dict())
    return mine, ref


def _hidden(b, s, hidden, seed=1):
    return 2 * torch.randn(b, s, hidden, generator=torch.Generator().manual_seed(seed))


def test_o_proj_at_kimi_k2_size(impl):
    with torch.device("meta"):
        attention = impl.DeepseekV3Attention(impl.KimiK2Config(), layer_idx=0)
    o_proj = getattr(attention, "o_proj", None)
    assert isinstance(o_proj, torch.nn.Linear), "DeepseekV3Attention needs an nn.Linear o_proj (teaching.md §The code)"
    assert tuple(o_proj.weight.shape) == (7168, 64 * 128), (
        f"Kimi-K2 o_proj.weight {tuple(o_proj.weight.shape)} != (7168, 8192): in_features = num_heads * v_head_dim "
        "(64 * 128), not num_heads * q_head_dim (teaching.md §The code)")
    assert o_proj.bias is None, "Kimi-K2 has attention_bias = false: o_proj has no bias (teaching.md §The code)"


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("label", list(CONFIGS))
def test_forward_matches_reference(impl, reference, label, implementation):
    mine, ref = _pair(impl, reference, **CONFIGS[label])
    mine.attn_implementation = ref.attn_implementation = implementation
    x = _hidden(2, 7, mine.hidden_size)
    with torch.no_grad():
        got, want = mine(x), ref(x)
    assert_close(got, want, atol=1e-5, what=f"forward ({label}, {implementation}), x (2, 7, {mine.hidden_size})",
                 hint="split q per head into [nope | pe], key = [k_nope | k_pe expanded to every head], then "
                      "transpose(1, 2) before reshape to (b, s, heads * v_head_dim) (teaching.md §The code)")


def test_forward_with_padding_mask_and_positions(impl, reference):
    mine, ref = _pair(impl, reference, seed=3, v_head_dim=12)
    x = _hidden(2, 9, 64, seed=4)
    padding = torch.ones(2, 9, dtype=torch.long)
    padding[0, :3] = 0                                   # left padding in row 0
    position_ids = (padding.cumsum(-1) - 1).clamp(min=0)
    mask = impl.attention.causal_mask(padding, 9, 0, x.dtype, x.device)
    with torch.no_grad():
        got = mine(x, attention_mask=mask, position_ids=position_ids)
        want = ref(x, attention_mask=mask, position_ids=position_ids)
    assert_close(got, want, atol=1e-5, what="forward with a left-padding mask and positions from the mask",
                 hint="use the attention_mask and position_ids you are given; only default them when they are "
                      "None (teaching.md §The code, steps 2-3)")


def test_default_positions_and_attention_bias(impl, reference):
    mine, ref = _pair(impl, reference, seed=5, attention_bias=True)
    assert mine.o_proj.bias is not None, "attention_bias=True: o_proj must have a bias (teaching.md §The code)"
    x = _hidden(1, 6, 64, seed=6)
    with torch.no_grad():
        default = mine(x)
        explicit = mine(x, position_ids=torch.arange(6)[None])
        want = ref(x)
    assert_close(default, explicit, atol=1e-6, what="forward(x) vs forward(x, position_ids=arange(6))",
                 hint="without a cache the default positions are 0 .. s-1 (teaching.md §The code, step 2)")
    assert_close(default, want, atol=1e-5, what="forward with attention_bias=True",
                 hint="o_proj = nn.Linear(heads * v_head_dim, hidden, bias=config.attention_bias)")


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_cached_decoding_equals_one_forward(impl, reference, implementation):
    mine, ref = _pair(impl, reference, seed=7, v_head_dim=12)
    mine.attn_implementation = ref.attn_implementation = implementation
    x = _hidden(2, 8, 64, seed=8)
    cache = impl.KVCache()
    with torch.no_grad():
        parts = [mine(x[:, :5], past_key_value=cache), mine(x[:, 5:6], past_key_value=cache),
                 mine(x[:, 6:8], past_key_value=cache)]
        want = ref(x)
    assert tuple(cache.keys[0].shape) == (2, 4, 8, 32) and tuple(cache.values[0].shape) == (2, 4, 8, 12), (
        f"cache after 8 tokens holds keys {tuple(cache.keys[0].shape)} and values {tuple(cache.values[0].shape)}; "
        "expected (2, 4, 8, 32) and (2, 4, 8, 12): update the cache with the full 192-style key [k_nope | k_pe] "
        "and the value, per layer (teaching.md §The code, step 8)")
    assert_close(torch.cat(parts, dim=1), want, atol=1e-5,
                 what=f"prefill 5 + decode 1 + decode 2 with a KVCache vs one forward of 8 tokens ({implementation})",
                 hint="past_length from the cache; default positions start at past_length; with a non-empty cache "
                      "build the mask with causal_mask(None, s, past_length, ...) (teaching.md §Decoding)")
