"""Graded tests for lesson 51: the query path of DeepseekV3Attention (__init__ q modules, project_queries)."""

import pytest
import torch
from kimi_course.testing import assert_close

QUERY_MODULES = ("q_proj", "q_a_proj", "q_a_layernorm", "q_b_proj")
# One real Kimi-K2 query path (hidden 7168 -> 1536 -> 2 heads of 128 + 64), the rest kept tiny.
K2_QUERY = dict(hidden_size=7168, q_lora_rank=1536, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
                num_attention_heads=2)


def _query_state(module):
    return {k: v for k, v in module.state_dict().items() if k.split(".")[0] in QUERY_MODULES}


def _pair(impl, reference, seed=0, **overrides):
    """The reference attention with random weights (norm weights too) and the impl loaded with them."""
    torch.manual_seed(seed)
    want = reference.DeepseekV3Attention(reference.KimiK2Config.tiny(**overrides))
    with torch.no_grad():
        for name, p in want.named_parameters():
            if name.endswith("layernorm.weight"):
                p.copy_(1 + 0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(seed + 1)))
    got = impl.DeepseekV3Attention(impl.KimiK2Config.tiny(**overrides))
    expected = {k: tuple(v.shape) for k, v in _query_state(want).items()}
    found = {k: tuple(v.shape) for k, v in _query_state(got).items()}
    assert found == expected, (f"query parameters {found} != expected {expected}: q_a_proj, q_a_layernorm, q_b_proj "
                               "(or q_proj alone when q_lora_rank is None), checkpoint names and shapes "
                               "(teaching.md §The code)")
    got.load_state_dict(want.state_dict())
    return got, want


@pytest.mark.parametrize("overrides", [dict(), dict(attention_bias=True), dict(q_lora_rank=None)],
                         ids=["tiny", "attention_bias", "q_lora_rank=None"])
def test_query_modules_names_and_shapes(impl, reference, overrides):
    _pair(impl, reference, **overrides)


def test_query_modules_at_kimi_k2_size(impl):
    with torch.device("meta"):
        attn = impl.DeepseekV3Attention(impl.KimiK2Config.kimi_k2())
    shapes = {k: tuple(v.shape) for k, v in _query_state(attn).items()}
    assert shapes == {"q_a_proj.weight": (1536, 7168), "q_a_layernorm.weight": (1536,),
                      "q_b_proj.weight": (12288, 1536)}, (
        f"Kimi-K2 query parameters {shapes}: expected q_a_proj 7168 -> 1536 without bias, RMSNorm(1536), "
        "q_b_proj 1536 -> 64 * 192 = 12288 without bias (teaching.md §The code)")


def test_q_a_layernorm_eps_is_the_class_default(impl, reference):
    got, want = _pair(impl, reference, seed=3, rms_norm_eps=1e-2)
    eps = got.q_a_layernorm.variance_epsilon
    assert eps == 1e-6, (f"q_a_layernorm.variance_epsilon = {eps} with rms_norm_eps = 1e-2: the latent norm keeps "
                         "DeepseekV3RMSNorm's default eps 1e-6, not config.rms_norm_eps (teaching.md §The eps trap)")
    # Small hidden states: the latent's mean square is ~1e-5, so an eps of 1e-2 would swamp it.
    x = 0.01 * torch.randn(2, 6, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert_close(got.project_queries(x), want.project_queries(x), atol=1e-5, rtol=1e-5,
                     what="project_queries(small x) with rms_norm_eps = 1e-2",
                     hint="q_a_layernorm = DeepseekV3RMSNorm(q_lora_rank) with eps 1e-6 (teaching.md §The eps trap)")


@pytest.mark.parametrize("overrides", [dict(), dict(q_lora_rank=None), dict(num_attention_heads=3, q_lora_rank=24)],
                         ids=["tiny", "q_lora_rank=None", "3 heads, q_lora_rank 24"])
def test_project_queries_matches_reference(impl, reference, overrides):
    got, want = _pair(impl, reference, seed=5, **overrides)
    x = torch.randn(2, 7, 64, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        out, expected = got.project_queries(x), want.project_queries(x)
    assert_close(out, expected, atol=1e-5, rtol=1e-5, what=f"project_queries(x (2, 7, 64)) [{overrides or 'tiny'}]",
                 hint="q_b_proj(q_a_layernorm(q_a_proj(x))) (or q_proj(x)), view (b, s, heads, 32), transpose(1, 2) "
                      "(teaching.md §The code, §The layout)")


def test_project_queries_head_layout(impl, reference):
    """Head h of the output must be columns h*32 .. h*32+31 of the projection, nope first."""
    got, _ = _pair(impl, reference, seed=7)
    x = torch.randn(3, 5, 64, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        out = got.project_queries(x)
        flat = got.q_b_proj(got.q_a_layernorm(got.q_a_proj(x)))                        # (3, 5, 128)
    assert out.shape == (3, 4, 5, 32), (f"project_queries returned {tuple(out.shape)}, expected (b, heads, s, "
                                        "qk_head_dim) = (3, 4, 5, 32) (teaching.md §The code)")
    for head in range(4):
        assert_close(out[:, head], flat[..., head * 32:(head + 1) * 32], atol=1e-6,
                     what=f"project_queries(x)[:, {head}] vs columns {head * 32}..{head * 32 + 31} of q_b_proj(...)",
                     hint="view(b, s, heads, 32) then transpose(1, 2); not view(b, heads, s, 32) "
                          "(teaching.md §The layout)")


def test_project_queries_bf16(impl, reference):
    got, want = _pair(impl, reference, seed=9)
    got, want = got.to(torch.bfloat16), want.to(torch.bfloat16)
    x = torch.randn(2, 4, 64, generator=torch.Generator().manual_seed(10)).bfloat16()
    with torch.no_grad():
        assert_close(got.project_queries(x), want.project_queries(x), atol=2e-2,
                     what="project_queries in bf16", hint="keep the input dtype; q_a_layernorm computes its "
                                                           "statistics in fp32 and casts back (teaching.md §The code)")


def test_project_queries_at_kimi_k2_dims(impl, reference):
    got, want = _pair(impl, reference, seed=11, **K2_QUERY)
    x = torch.randn(1, 3, 7168, generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        out, expected = got.project_queries(x), want.project_queries(x)
    assert_close(out, expected, atol=1e-4, rtol=1e-4, what="project_queries at Kimi-K2's query sizes (2 heads of 192)",
                 hint="7168 -> 1536 -> RMSNorm -> heads * 192, then (b, heads, s, 192) (teaching.md §The code)")
