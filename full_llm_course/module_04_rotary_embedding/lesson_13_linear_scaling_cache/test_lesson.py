"""Lesson 13: DeepseekV3LinearScalingRotaryEmbedding._positions divides positions by the factor."""
import torch
from kimi_course.testing import assert_close


def test_positions_are_divided(impl, reference):
    mine = impl.DeepseekV3LinearScalingRotaryEmbedding(16, 1024, 10000.0, scaling_factor=4.0)
    ref = reference.DeepseekV3LinearScalingRotaryEmbedding(16, 1024, 10000.0, scaling_factor=4.0)
    assert_close(mine._positions(9, None), ref._positions(9, None), atol=0,
                 what="_positions(9) with factor 4",
                 hint="0, 1/4, 2/4, ... in float32: arange(seq_len) / scaling_factor (teaching.md §The code)")


def test_tables_equal_reference(impl, reference):
    for dim, base, factor, length in ((16, 10000.0, 4.0, 300), (64, 50000.0, 32.0, 4096)):
        mine = impl.DeepseekV3LinearScalingRotaryEmbedding(dim, 131072, base, scaling_factor=factor)
        ref = reference.DeepseekV3LinearScalingRotaryEmbedding(dim, 131072, base, scaling_factor=factor)
        mine._set_cos_sin_cache(length, None)
        ref._set_cos_sin_cache(length, None)
        where = f"dim {dim}, base {base:g}, factor {factor:g}, {length} positions"
        assert_close(mine.cos_cached, ref.cos_cached, atol=1e-6, what=f"cos_cached ({where})",
                     hint="the base class builds the table from self._positions: override only that (teaching.md §The code)")
        assert_close(mine.sin_cached, ref.sin_cached, atol=1e-6, what=f"sin_cached ({where})")


def test_row_p_equals_plain_row_p_over_factor(impl):
    factor = 4.0
    linear = impl.DeepseekV3LinearScalingRotaryEmbedding(32, 2048, 10000.0, scaling_factor=factor)
    plain = impl.DeepseekV3RotaryEmbedding(32, 2048, 10000.0)
    linear._set_cos_sin_cache(512, None)
    plain._set_cos_sin_cache(128, None)
    assert_close(linear.cos_cached[::4], plain.cos_cached, atol=1e-6,
                 what="linear cos rows 0, 4, 8, ... vs plain rows 0, 1, 2, ...",
                 hint="position p must be rotated as p / factor (divide, do not multiply): teaching.md §The identity")


def test_forward_through_the_base_class(impl, reference):
    g = torch.Generator().manual_seed(13)
    x = torch.randn(2, 4, 50, 16, generator=g).bfloat16()
    mine = impl.DeepseekV3LinearScalingRotaryEmbedding(16, 32, 10000.0, scaling_factor=2.0)
    ref = reference.DeepseekV3LinearScalingRotaryEmbedding(16, 32, 10000.0, scaling_factor=2.0)
    for length in (20, 50):
        cos, sin = mine(x, seq_len=length)
        ref_cos, ref_sin = ref(x, seq_len=length)
        assert_close(cos, ref_cos, atol=1e-2, what=f"forward(x bf16, seq_len={length})[0]")
        assert_close(sin, ref_sin, atol=1e-2, what=f"forward(x bf16, seq_len={length})[1]")
