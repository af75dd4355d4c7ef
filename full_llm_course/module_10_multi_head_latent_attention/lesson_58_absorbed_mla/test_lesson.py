"""Graded tests for lesson 58: DeepseekV3Attention.attend_absorbed and the absorbed MLA mode with a latent cache."""

import pytest
import torch
from kimi_course.testing import assert_close

IMPLEMENTATIONS = ["sdpa", "eager"]
KIMI_HEADS = dict(hidden_size=256, num_attention_heads=2, num_key_value_heads=2, q_lora_rank=96, kv_lora_rank=512,
                  qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128)


def _pair(impl, reference, seed=0, **overrides):
    config = dict(v_head_dim=12)            # value width != nope width: catches a wrong W^UK / W^UV split
    config.update(overrides)
    torch.manual_seed(seed)
    ref = reference.DeepseekV3Attention(reference.KimiK2Config.tiny(**config), layer_idx=0).eval()
    mine = impl.DeepseekV3Attention(impl.KimiK2Config.tiny(**config), layer_idx=0).eval()
    mine.load_state_dict(ref.state_dict())
    return mine, ref


def _left_padding_mask(module, padding, query_length):
    return module.attention.causal_mask(padding, query_length, 0, torch.float32, torch.device("cpu"))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_attend_absorbed_matches_reference(impl, reference, implementation):
    mine, ref = _pair(impl, reference)
    mine.attn_implementation = ref.attn_implementation = implementation
    g = torch.Generator().manual_seed(1)
    q_nope, q_pe = torch.randn(2, 4, 6, 16, generator=g), torch.randn(2, 4, 6, 16, generator=g)
    latent, k_pe = torch.randn(2, 1, 6, 32, generator=g), torch.randn(2, 1, 6, 16, generator=g)
    mask = _left_padding_mask(impl, torch.tensor([[1] * 6, [0, 0, 1, 1, 1, 1]]), 6)
    for m in (None, mask):
        with torch.no_grad():
            got = mine.attend_absorbed(q_nope, q_pe, latent, k_pe, m)
            want = ref.attend_absorbed(q_nope, q_pe, latent, k_pe, m)
        assert_close(got, want, atol=1e-5,
                     what=f"attend_absorbed ({implementation}, mask {'None' if m is None else 'with padding'}), "
                          "q_nope (2, 4, 6, 16), latent (2, 1, 6, 32) -> (2, 4, 6, 12)",
                     hint="view kv_b_proj.weight as (heads, nope + v, rank) and split dim 1; q_latent sums q_nope "
                          "over W_UK's nope rows; value = the latent; W_UV after attention (teaching.md §The code)")


CASES = {
    "tiny, v 12": dict(),
    "Kimi-K2 head sizes, 2 heads": KIMI_HEADS,
}


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("label", list(CASES))
def test_absorbed_forward_equals_expanded(impl, reference, label, implementation):
    mine, ref = _pair(impl, reference, seed=2, **CASES[label])
    mine.attn_implementation = ref.attn_implementation = implementation
    x = 2 * torch.randn(2, 8, mine.hidden_size, generator=torch.Generator().manual_seed(3))
    padding = torch.tensor([[1] * 8, [0, 0, 0] + [1] * 5])
    mask = _left_padding_mask(impl, padding, 8)
    positions = (padding.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        want = ref(x, attention_mask=mask, position_ids=positions)             # the answer key, expanded
        mine.mla_mode = "expanded"
        mine_expanded = mine(x, attention_mask=mask, position_ids=positions)
        mine.mla_mode = "absorbed"
        got = mine(x, attention_mask=mask, position_ids=positions)
    assert_close(got, want, atol=1e-5, what=f"{label}: absorbed forward ({implementation}) vs answer key expanded",
                 hint="the scores are the same numbers as in expanded mode: keep scale=softmax_scale, not "
                      "1/sqrt(rank + rope) (teaching.md §The algebra)")
    assert_close(got, mine_expanded, atol=1e-5, what=f"{label}: your absorbed vs your expanded forward ({implementation})",
                 hint="absorption only reassociates the products (teaching.md §The algebra)")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_latent_cache_decoding(impl, reference, implementation):
    """Whole tiny model: prefill 5 tokens with a latent cache, decode 1 then 2; compare with one expanded forward."""
    torch.manual_seed(4)
    config = dict(v_head_dim=12)
    ref = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny(**config)).eval()
    mine = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny(**config)).eval()
    mine.load_state_dict(ref.state_dict())
    ref.set_attn_implementation(implementation)
    mine.set_attn_implementation(implementation)
    mine.set_mla_mode("absorbed")
    ids = torch.randint(0, 512, (2, 8), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = ref(ids).logits
        prefill = mine(ids[:, :5], use_cache=True)
        cache = prefill.past_key_values
        one = mine(ids[:, 5:6], past_key_values=cache)
        two = mine(ids[:, 6:], past_key_values=cache)
    cfg = mine.config
    assert cache.layout == "latent", f"absorbed mode built a {cache.layout!r} cache; expected 'latent'"
    assert tuple(cache.keys[0].shape) == (2, 1, 8, cfg.kv_lora_rank) and \
        tuple(cache.values[0].shape) == (2, 1, 8, cfg.qk_rope_head_dim), (
            f"latent cache of layer 0 holds {tuple(cache.keys[0].shape)} and {tuple(cache.values[0].shape)}; "
            f"expected (2, 1, 8, {cfg.kv_lora_rank}) and (2, 1, 8, {cfg.qk_rope_head_dim})")
    per_token = cfg.num_hidden_layers * (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * 4
    assert cache.bytes_per_token() == per_token, (
        f"bytes_per_token {cache.bytes_per_token()} != {per_token} = layers x (kv_lora_rank + qk_rope_head_dim) x 4 B")
    got = torch.cat([prefill.logits, one.logits, two.logits], dim=1)
    assert_close(got, want, atol=1e-5,
                 what=f"logits: absorbed with a latent cache (5 + 1 + 2 tokens) vs expanded single forward "
                      f"({implementation})",
                 hint="attend_absorbed reads the cached latent (b, 1, t, rank) as key part and as value "
                      "(teaching.md §The code)")
