"""Graded tests for lesson 54: kimik2.attention.softmax_scale and DeepseekV3Attention.softmax_scale."""

import math

import pytest
import torch
from kimi_course.testing import assert_close

YARN = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256, "beta_fast": 1.0,
        "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0}


def expected_scale(head_dim, factor=None, mscale_all_dim=0.0):
    """The formula, written out independently of the answer key."""
    scale = head_dim ** -0.5
    if factor is not None and mscale_all_dim and factor > 1:
        m = 0.1 * mscale_all_dim * math.log(factor) + 1.0
        scale *= m * m
    return scale


def test_kimi_k2_and_deepseek_v3_scales(impl):
    got = impl.attention.softmax_scale(impl.KimiK2Config())
    assert isinstance(got, float), f"softmax_scale returned {type(got).__name__}; return a Python float"
    want = expected_scale(192, 32.0, 1.0)
    assert abs(got - want) < 1e-9, (
        f"Kimi-K2: softmax_scale {got:.7f} != 192^-0.5 * (0.1 ln 32 + 1)^2 = {want:.7f}. "
        f"({192 ** -0.5:.7f} means the mscale^2 is missing; teaching.md §Piece two)")
    got = impl.attention.softmax_scale(impl.KimiK2Config.deepseek_v3())
    want = expected_scale(192, 40.0, 1.0)
    assert abs(got - want) < 1e-9, f"DeepSeek-V3: softmax_scale {got:.7f} != {want:.7f} (teaching.md §The numbers)"


CASES = {
    "tiny yarn (factor 4, mscale_all_dim 1)": (dict(), (32, 4.0, 1.0)),
    "no rope_scaling": (dict(rope_scaling=None), (32, None, 0.0)),
    "linear scaling": (dict(rope_scaling={"type": "linear", "factor": 2.0}), (32, None, 0.0)),
    "dynamic scaling": (dict(rope_scaling={"type": "dynamic", "factor": 2.0}), (32, None, 0.0)),
    "yarn, mscale_all_dim 0": (dict(rope_scaling=dict(YARN, mscale_all_dim=0.0)), (32, 4.0, 0.0)),
    "yarn, mscale_all_dim 0.707": (dict(rope_scaling=dict(YARN, mscale_all_dim=0.707)), (32, 4.0, 0.707)),
    "yarn, no mscale keys": (dict(rope_scaling={k: v for k, v in YARN.items() if not k.startswith("mscale")}),
                             (32, 4.0, 0.0)),
    "yarn, factor 1": (dict(rope_scaling=dict(YARN, factor=1.0)), (32, 1.0, 1.0)),
    "head dims 24 + 8, factor 16": (dict(qk_nope_head_dim=24, qk_rope_head_dim=8,
                                         rope_scaling=dict(YARN, factor=16.0)), (32, 16.0, 1.0)),
    "head dims 40 + 8 (not a square)": (dict(qk_nope_head_dim=40, qk_rope_head_dim=8), (48, 4.0, 1.0)),
}


@pytest.mark.parametrize("label", list(CASES))
def test_softmax_scale_variants(impl, label):
    overrides, (head_dim, factor, mscale_all_dim) = CASES[label]
    got = impl.attention.softmax_scale(impl.KimiK2Config.tiny(**overrides))
    want = expected_scale(head_dim, factor, mscale_all_dim)
    assert abs(got - want) < 1e-9, (
        f"{label}: softmax_scale {got:.7f} != {want:.7f}. d = qk_nope_head_dim + qk_rope_head_dim; multiply by "
        "yarn_get_mscale(factor, mscale_all_dim)^2 only when rope_scaling sets a non-zero mscale_all_dim "
        "(teaching.md §The code)")


def test_attention_stores_the_scale_at_kimi_k2_size(impl):
    with torch.device("meta"):
        attention = impl.DeepseekV3Attention(impl.KimiK2Config(), layer_idx=0)
    got = getattr(attention, "softmax_scale", None)
    assert isinstance(got, float) and abs(got - expected_scale(192, 32.0, 1.0)) < 1e-9, (
        f"DeepseekV3Attention(Kimi-K2).softmax_scale = {got!r}, expected 0.130861: set "
        "self.softmax_scale = softmax_scale(config) in __init__ (teaching.md §The code)")


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_attention_forward_uses_the_scale(impl, reference, implementation):
    """A 6-token input: far below any original context, the mscale^2 applies all the same."""
    config = dict(rope_scaling=dict(YARN, factor=32.0))
    torch.manual_seed(0)
    ref = reference.DeepseekV3Attention(reference.KimiK2Config.tiny(**config), layer_idx=0)
    mine = impl.DeepseekV3Attention(impl.KimiK2Config.tiny(**config), layer_idx=0)
    mine.load_state_dict(ref.state_dict())
    ref.attn_implementation = mine.attn_implementation = implementation
    x = 3 * torch.randn(2, 6, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got, want = mine(x), ref(x)
    assert_close(got, want, atol=1e-5, what=f"attention output ({implementation}, tiny config, factor 32, 6 tokens)",
                 hint="the scale is qk_head_dim^-0.5 * mscale^2 at every length, not only beyond the original "
                      "context (teaching.md §At every length)")
