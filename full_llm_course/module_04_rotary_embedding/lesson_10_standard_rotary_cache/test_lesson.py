"""Graded tests for lesson 10: DeepseekV3RotaryEmbedding._positions and _set_cos_sin_cache."""

import torch
from kimi_course.testing import assert_close

HINT = "freqs = outer(positions, inv_freq); emb = cat(freqs, freqs): teaching.md §The code"


def test_positions(impl, reference):
    mine, ref = impl.DeepseekV3RotaryEmbedding(16), reference.DeepseekV3RotaryEmbedding(16)
    assert_close(mine._positions(7, None), ref._positions(7, None), atol=0.0, what="_positions(7)",
                 hint="float32 arange 0..seq_len-1: teaching.md §The code")


def test_table_shape_and_values_tiny(impl, reference):
    mine, ref = impl.DeepseekV3RotaryEmbedding(16, base=50000.0), reference.DeepseekV3RotaryEmbedding(16, base=50000.0)
    mine._set_cos_sin_cache(37, torch.device("cpu"))
    ref._set_cos_sin_cache(37, torch.device("cpu"))
    assert mine.max_seq_len_cached == 37, f"max_seq_len_cached = {mine.max_seq_len_cached}, expected 37"
    assert_close(mine.cos_cached, ref.cos_cached, atol=1e-6, what="cos_cached (dim 16, 37 positions)", hint=HINT)
    assert_close(mine.sin_cached, ref.sin_cached, atol=1e-6, what="sin_cached (dim 16, 37 positions)", hint=HINT)


def test_table_kimi_k2_dim(impl, reference):
    mine = impl.DeepseekV3RotaryEmbedding(64, 131072, 50000.0)
    ref = reference.DeepseekV3RotaryEmbedding(64, 131072, 50000.0)
    mine._set_cos_sin_cache(300, None)
    ref._set_cos_sin_cache(300, None)
    assert "cos_cached" not in mine.state_dict(), "cos_cached must be a non-persistent buffer (persistent=False)"
    assert torch.equal(mine.cos_cached[:, :32], mine.cos_cached[:, 32:]), (
        "the two halves of cos_cached differ: build it as cat(freqs, freqs), not repeat_interleave: "
        "teaching.md §Why the table is concat(freqs, freqs)")
    assert_close(mine.cos_cached, ref.cos_cached, atol=5e-5, what="cos_cached (dim 64, base 50000, 300 positions)",
                 hint=HINT + "; keep the angles in float32")
    assert_close(mine.sin_cached, ref.sin_cached, atol=5e-5, what="sin_cached (dim 64, base 50000, 300 positions)",
                 hint=HINT + "; keep the angles in float32")


def test_attention_scaling_and_positions_hook(impl, reference):
    mine, ref = impl.DeepseekV3RotaryEmbedding(8), reference.DeepseekV3RotaryEmbedding(8)
    for rope in (mine, ref):
        rope.attention_scaling = 0.5
        rope._positions = lambda seq_len, device: torch.arange(seq_len, dtype=torch.float32) / 4  # as lesson 13 will
        rope._set_cos_sin_cache(12, None)
    assert_close(mine.cos_cached, ref.cos_cached, atol=1e-6, what="cos_cached with attention_scaling 0.5, positions/4",
                 hint="multiply cos and sin by self.attention_scaling, and take positions from self._positions")
    assert_close(mine.sin_cached, ref.sin_cached, atol=1e-6, what="sin_cached with attention_scaling 0.5, positions/4",
                 hint="multiply cos and sin by self.attention_scaling, and take positions from self._positions")
