"""Graded tests for lesson 52: the key/value path of DeepseekV3Attention (__init__ kv modules,
project_latent, expand_latent)."""

import pytest
import torch
from kimi_course.testing import assert_close

KV_MODULES = ("kv_a_proj_with_mqa", "kv_a_layernorm", "kv_b_proj")
# One real Kimi-K2 kv path (hidden 7168 -> 512 + 64, 2 heads of 128 + 128), the rest kept tiny.
K2_KV = dict(hidden_size=7168, kv_lora_rank=512, qk_rope_head_dim=64, qk_nope_head_dim=128, v_head_dim=128,
             num_attention_heads=2)
# nope 16, v 24, rope 8, latent 40: every size different, so a swapped split cannot pass.
UNEVEN = dict(qk_nope_head_dim=16, v_head_dim=24, qk_rope_head_dim=8, kv_lora_rank=40)


def _kv_state(module):
    return {k: v for k, v in module.state_dict().items() if k.split(".")[0] in KV_MODULES}


def _pair(impl, reference, seed=0, **overrides):
    """The reference attention with random weights (norm weights too) and the impl loaded with them."""
    torch.manual_seed(seed)
    want = reference.DeepseekV3Attention(reference.KimiK2Config.tiny(**overrides))
    with torch.no_grad():
        for name, p in want.named_parameters():
            if name.endswith("layernorm.weight"):
                p.copy_(1 + 0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(seed + 1)))
    got = impl.DeepseekV3Attention(impl.KimiK2Config.tiny(**overrides))
    expected = {k: tuple(v.shape) for k, v in _kv_state(want).items()}
    found = {k: tuple(v.shape) for k, v in _kv_state(got).items()}
    assert found == expected, (f"key/value parameters {found} != expected {expected}: kv_a_proj_with_mqa "
                               "(H -> kv_lora_rank + rope), kv_a_layernorm (kv_lora_rank), kv_b_proj "
                               "(kv_lora_rank -> heads * (nope + v), no bias) (teaching.md §The code)")
    got.load_state_dict(want.state_dict())
    return got, want


@pytest.mark.parametrize("overrides", [dict(), dict(attention_bias=True), UNEVEN],
                         ids=["tiny", "attention_bias", "uneven sizes"])
def test_kv_modules_names_and_shapes(impl, reference, overrides):
    _pair(impl, reference, **overrides)


def test_kv_modules_at_kimi_k2_size(impl):
    with torch.device("meta"):
        attn = impl.DeepseekV3Attention(impl.KimiK2Config.kimi_k2())
    shapes = {k: tuple(v.shape) for k, v in _kv_state(attn).items()}
    assert shapes == {"kv_a_proj_with_mqa.weight": (576, 7168), "kv_a_layernorm.weight": (512,),
                      "kv_b_proj.weight": (16384, 512)}, (
        f"Kimi-K2 key/value parameters {shapes}: expected kv_a_proj_with_mqa 7168 -> 512 + 64, RMSNorm(512), "
        "kv_b_proj 512 -> 64 * (128 + 128) = 16384, no biases (teaching.md §The code)")


def test_kv_a_layernorm_eps_is_the_class_default(impl, reference):
    got, want = _pair(impl, reference, seed=3, rms_norm_eps=1e-2)
    eps = got.kv_a_layernorm.variance_epsilon
    assert eps == 1e-6, (f"kv_a_layernorm.variance_epsilon = {eps} with rms_norm_eps = 1e-2: the latent norm keeps "
                         "DeepseekV3RMSNorm's default eps 1e-6, not config.rms_norm_eps (teaching.md §The code)")
    x = 0.01 * torch.randn(2, 6, 64, generator=torch.Generator().manual_seed(4))   # latent mean square ~1e-5
    with torch.no_grad():
        assert_close(got.project_latent(x)[0], want.project_latent(x)[0], atol=1e-5, rtol=1e-5,
                     what="project_latent(small x)[0] with rms_norm_eps = 1e-2",
                     hint="kv_a_layernorm = DeepseekV3RMSNorm(kv_lora_rank), eps 1e-6 (teaching.md §Pitfalls)")


@pytest.mark.parametrize("overrides", [dict(), UNEVEN], ids=["tiny", "uneven sizes"])
def test_project_latent_matches_reference(impl, reference, overrides):
    got, want = _pair(impl, reference, seed=5, **overrides)
    x = torch.randn(2, 7, 64, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        latent, k_pe = got.project_latent(x)
        want_latent, want_k_pe = want.project_latent(x)
    assert_close(latent, want_latent, atol=1e-5, rtol=1e-5, what=f"project_latent(x)[0], the latent [{overrides}]",
                 hint="the first kv_lora_rank outputs of kv_a_proj_with_mqa, then kv_a_layernorm "
                      "(teaching.md §The code)")
    assert_close(k_pe, want_k_pe, atol=1e-5, rtol=1e-5, what=f"project_latent(x)[1], k_pe [{overrides}]",
                 hint="the last qk_rope_head_dim outputs, viewed (b, s, 1, rope) and transposed to (b, 1, s, rope), "
                      "not normalised (teaching.md §The code)")


def test_k_pe_is_raw_and_latent_is_normalised(impl, reference):
    got, _ = _pair(impl, reference, seed=7, **UNEVEN)
    x = torch.randn(3, 5, 64, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        latent, k_pe = got.project_latent(x)
        raw = got.kv_a_proj_with_mqa(x)                                                   # (3, 5, 48)
        assert k_pe.shape == (3, 1, 5, 8), (f"k_pe shape {tuple(k_pe.shape)}, expected (b, 1, s, rope) = (3, 1, 5, 8): "
                                            "one rope key per token, a size-1 head axis (teaching.md §The code)")
        assert_close(k_pe[:, 0], raw[..., 40:], atol=1e-6, what="k_pe vs the last 8 outputs of kv_a_proj_with_mqa",
                     hint="k_pe is never normalised: kv_a_layernorm sees the latent only (teaching.md §The maths)")
        assert_close(latent, got.kv_a_layernorm(raw[..., :40]), atol=1e-6,
                     what="latent vs kv_a_layernorm(first 40 outputs of kv_a_proj_with_mqa)",
                     hint="split first, then normalise the latent (teaching.md §The code)")


@pytest.mark.parametrize("overrides", [dict(), UNEVEN], ids=["tiny", "uneven sizes"])
def test_expand_latent_matches_reference(impl, reference, overrides):
    got, want = _pair(impl, reference, seed=9, **overrides)
    rank = got.kv_b_proj.weight.shape[1]
    latent = torch.randn(2, 6, rank, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        k_nope, value = got.expand_latent(latent)
        want_k, want_v = want.expand_latent(latent)
    assert_close(k_nope, want_k, atol=1e-5, rtol=1e-5, what=f"expand_latent(latent)[0], k_nope [{overrides}]",
                 hint="kv_b_proj, view (b, s, heads, nope + v), transpose(1, 2), first nope dims "
                      "(teaching.md §The code)")
    assert_close(value, want_v, atol=1e-5, rtol=1e-5, what=f"expand_latent(latent)[1], value [{overrides}]",
                 hint="the last v_head_dim dims of each head's slice (teaching.md §The code)")


def test_expand_latent_head_layout(impl, reference):
    """Head h's k_nope and value come from its own consecutive rows of kv_b_proj.weight, keys first."""
    got, _ = _pair(impl, reference, seed=11, **UNEVEN)
    latent = torch.randn(1, 4, 40, generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        k_nope, value = got.expand_latent(latent)
    weight = got.kv_b_proj.weight.detach()                                                # (4 * 40, 40)
    for head in range(4):
        rows = weight[head * 40:(head + 1) * 40]
        assert_close(k_nope[:, head], latent @ rows[:16].T, atol=1e-5,
                     what=f"k_nope of head {head} vs latent @ kv_b_proj rows {head * 40}..{head * 40 + 15}",
                     hint="per head [k_nope | value]: view (b, s, heads, nope + v), then split the last axis "
                          "(teaching.md §The code)")
        assert_close(value[:, head], latent @ rows[16:].T, atol=1e-5,
                     what=f"value of head {head} vs latent @ kv_b_proj rows {head * 40 + 16}..{head * 40 + 39}",
                     hint="per head [k_nope | value], not [all keys | all values] (teaching.md §Worked example)")


def test_kv_path_bf16(impl, reference):
    got, want = _pair(impl, reference, seed=13)
    got, want = got.to(torch.bfloat16), want.to(torch.bfloat16)
    x = torch.randn(2, 4, 64, generator=torch.Generator().manual_seed(14)).bfloat16()
    with torch.no_grad():
        latent, k_pe = got.project_latent(x)
        want_latent, want_k_pe = want.project_latent(x)
        for what, a, b in [("latent", latent, want_latent), ("k_pe", k_pe, want_k_pe),
                           ("k_nope", got.expand_latent(want_latent)[0], want.expand_latent(want_latent)[0]),
                           ("value", got.expand_latent(want_latent)[1], want.expand_latent(want_latent)[1])]:
            assert_close(a, b, atol=2e-2, what=f"{what} in bf16", hint="keep the input dtype (teaching.md §The code)")


def test_kv_path_at_kimi_k2_dims(impl, reference):
    got, want = _pair(impl, reference, seed=15, **K2_KV)
    x = torch.randn(1, 3, 7168, generator=torch.Generator().manual_seed(16))
    with torch.no_grad():
        latent, k_pe = got.project_latent(x)
        want_latent, want_k_pe = want.project_latent(x)
        assert_close(latent, want_latent, atol=1e-4, rtol=1e-4, what="Kimi-K2 sizes: latent (1, 3, 512)",
                     hint="7168 -> 576, split [512 | 64], RMSNorm(512) (teaching.md §The code)")
        assert_close(k_pe, want_k_pe, atol=1e-4, rtol=1e-4, what="Kimi-K2 sizes: k_pe (1, 1, 3, 64)",
                     hint="the last 64 outputs, (b, 1, s, 64) (teaching.md §The code)")
        for i, what in enumerate(("k_nope (1, 2, 3, 128)", "value (1, 2, 3, 128)")):
            assert_close(got.expand_latent(want_latent)[i], want.expand_latent(want_latent)[i], atol=1e-4, rtol=1e-4,
                         what=f"Kimi-K2 sizes: {what}", hint="kv_b_proj 512 -> heads * 256, per head [k_nope | value] "
                                                             "(teaching.md §The code)")
