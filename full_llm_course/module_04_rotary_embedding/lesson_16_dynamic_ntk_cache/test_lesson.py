"""Lesson 16: DeepseekV3DynamicNTKScalingRotaryEmbedding._set_cos_sin_cache raises the base
past max_position_embeddings."""
import torch
from kimi_course.testing import assert_close

CASES = ((16, 1024, 10000.0, 2.0), (64, 4096, 50000.0, 4.0))


def _both(impl, reference, dim, max_pos, base, factor):
    return (impl.DeepseekV3DynamicNTKScalingRotaryEmbedding(dim, max_pos, base, scaling_factor=factor),
            reference.DeepseekV3DynamicNTKScalingRotaryEmbedding(dim, max_pos, base, scaling_factor=factor))


def _compare(mine, ref, where):
    assert mine.max_seq_len_cached == ref.max_seq_len_cached, (
        f"max_seq_len_cached = {mine.max_seq_len_cached}, expected {ref.max_seq_len_cached} ({where}): "
        "the base class's _set_cos_sin_cache records it")
    assert_close(mine.inv_freq, ref.inv_freq, atol=0, rtol=1e-5, what=f"inv_freq ({where})",
                 hint="base' = base * (s*L/L_max - (s-1))^(d/(d-2)), then inv_freq = 1/base'^(2i/d) "
                      "(teaching.md §The rule, with numbers)")
    assert_close(mine.cos_cached, ref.cos_cached, atol=2e-5, what=f"cos_cached ({where})",
                 hint="rebuild inv_freq first, then let super()._set_cos_sin_cache build the table")
    assert_close(mine.sin_cached, ref.sin_cached, atol=2e-5, what=f"sin_cached ({where})")


def test_unchanged_up_to_max_positions(impl, reference):
    for dim, max_pos, base, factor in CASES:
        mine, ref = _both(impl, reference, dim, max_pos, base, factor)
        plain = reference.DeepseekV3RotaryEmbedding(dim, max_pos, base)
        for length in (max_pos // 2, max_pos):
            mine._set_cos_sin_cache(length, None)
            ref._set_cos_sin_cache(length, None)
            _compare(mine, ref, f"dim {dim}, L = {length} <= L_max = {max_pos}")
        assert_close(mine.inv_freq, plain.inv_freq, atol=0, rtol=1e-6, what="inv_freq at L = L_max",
                     hint="the base changes only when seq_len > max_position_embeddings (strictly)")


def test_base_rescaled_beyond_max_positions(impl, reference):
    for dim, max_pos, base, factor in CASES:
        for length in (max_pos + 1, 3 * max_pos):
            mine, ref = _both(impl, reference, dim, max_pos, base, factor)
            mine._set_cos_sin_cache(length, None)
            ref._set_cos_sin_cache(length, None)
            _compare(mine, ref, f"dim {dim}, base {base:g}, factor {factor:g}, L = {length} > L_max = {max_pos}")


def test_growing_twice_does_not_compound(impl, reference):
    mine, _ = _both(impl, reference, 16, 1024, 10000.0, 2.0)
    mine._set_cos_sin_cache(1500, None)
    mine._set_cos_sin_cache(3000, None)
    fresh = reference.DeepseekV3DynamicNTKScalingRotaryEmbedding(16, 1024, 10000.0, scaling_factor=2.0)
    fresh._set_cos_sin_cache(3000, None)
    assert mine.base == 10000.0, (f"self.base became {mine.base}: keep the original base and put the raised "
                                  "one in a local variable (teaching.md §Pitfalls)")
    assert_close(mine.inv_freq, fresh.inv_freq, atol=0, rtol=1e-5, what="inv_freq after tables of 1500 then 3000",
                 hint="the raised base is computed from the original self.base every time (teaching.md §Pitfalls)")
