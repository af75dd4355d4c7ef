"""Graded tests for lesson 09: DeepseekV3RotaryEmbedding.__init__ and _inv_freq."""

import torch
from kimi_course.testing import assert_close


def test_inv_freq_kimi_k2(impl, reference):
    mine = impl.DeepseekV3RotaryEmbedding(64, max_position_embeddings=4096, base=50000.0)
    ref = reference.DeepseekV3RotaryEmbedding(64, max_position_embeddings=4096, base=50000.0)
    assert_close(mine.inv_freq, ref.inv_freq, atol=0.0, rtol=1e-6, what="inv_freq (dim 64, base 50000)",
                 hint="theta_i = base^(-2i/dim) for i = 0..dim/2-1, computed in float32: teaching.md §The code")


def test_inv_freq_tiny_and_other_bases(impl, reference):
    for dim, base in ((16, 10000.0), (8, 500.0), (64, 1e6)):
        mine = impl.DeepseekV3RotaryEmbedding(dim, base=base)
        ref = reference.DeepseekV3RotaryEmbedding(dim, base=base)
        assert_close(mine.inv_freq, ref.inv_freq, atol=0.0, rtol=1e-6, what=f"inv_freq (dim {dim}, base {base:g})",
                     hint="use the `base` argument, and arange(0, dim, 2): teaching.md §The code")
        assert_close(mine._inv_freq(2.0 * base), ref._inv_freq(2.0 * base), atol=0.0, rtol=1e-6,
                     what=f"_inv_freq({2 * base:g}) at dim {dim}",
                     hint="_inv_freq must use its `base` argument, not self.base (dynamic NTK calls it with a new base)")


def test_inv_freq_is_a_non_persistent_buffer(impl):
    rope = impl.DeepseekV3RotaryEmbedding(64, base=50000.0)
    buffers = dict(rope.named_buffers())
    assert "inv_freq" in buffers, "inv_freq must be registered with register_buffer: teaching.md §The code"
    assert "inv_freq" not in rope.state_dict(), ("inv_freq is in state_dict: register it with persistent=False "
                                                 "(checkpoints do not hold it): teaching.md §Pitfalls")
    assert not rope.inv_freq.requires_grad, "inv_freq must not be a trainable parameter"


def test_attributes(impl):
    rope = impl.DeepseekV3RotaryEmbedding(16, max_position_embeddings=1024, base=50000.0)
    got = (rope.dim, rope.max_position_embeddings, rope.base, rope.attention_scaling, rope.max_seq_len_cached)
    assert got == (16, 1024, 50000.0, 1.0, 0), (
        f"(dim, max_position_embeddings, base, attention_scaling, max_seq_len_cached) = {got}, expected "
        "(16, 1024, 50000.0, 1.0, 0): teaching.md §The code")


def test_built_from_kimi_k2_config(impl, reference):
    config = impl.KimiK2Config.kimi_k2()
    rope = impl.DeepseekV3RotaryEmbedding(config.qk_rope_head_dim, config.max_position_embeddings, config.rope_theta)
    assert tuple(rope.inv_freq.shape) == (32,), (f"inv_freq shape {tuple(rope.inv_freq.shape)} != (32,): "
                                                 "dim is qk_rope_head_dim = 64, one frequency per pair")
    assert rope.inv_freq.dtype == torch.float32, f"inv_freq dtype {rope.inv_freq.dtype} != float32"
    expected = 50000.0 ** (-torch.arange(0, 64, 2, dtype=torch.float64) / 64)
    assert_close(rope.inv_freq.double(), expected, atol=1e-7, rtol=1e-6, what="Kimi-K2 inv_freq vs 50000^(-2i/64)",
                 hint="teaching.md §Which d, which base")
