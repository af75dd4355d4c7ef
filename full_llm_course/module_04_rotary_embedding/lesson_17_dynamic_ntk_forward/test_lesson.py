"""Lesson 17: DeepseekV3DynamicNTKScalingRotaryEmbedding.forward grows the table and resets
to the original base when a sequence fits max_position_embeddings again."""
import torch
from kimi_course.testing import assert_close

MAX_POS = 256


def _rope(module, factor=2.0):
    return module.DeepseekV3DynamicNTKScalingRotaryEmbedding(16, MAX_POS, 10000.0, scaling_factor=factor)


def _x():
    return torch.randn(1, 2, 4, 16, generator=torch.Generator().manual_seed(17))


def test_growth_matches_reference(impl, reference):
    mine, ref, x = _rope(impl), _rope(reference), _x()
    for length in (100, 50, 300, 280, 700):
        cos, sin = mine(x, seq_len=length)
        ref_cos, ref_sin = ref(x, seq_len=length)
        assert_close(cos, ref_cos, atol=2e-5, what=f"cos after the calls up to forward(seq_len={length})",
                     hint="grow the table only when seq_len > max_seq_len_cached (teaching.md §The code)")
        assert_close(sin, ref_sin, atol=2e-5, what=f"sin after the calls up to forward(seq_len={length})")
        assert mine.max_seq_len_cached == ref.max_seq_len_cached, (
            f"after forward(seq_len={length}) the table has {mine.max_seq_len_cached} rows, expected "
            f"{ref.max_seq_len_cached}")


def test_reset_for_a_short_input(impl, reference):
    mine, x = _rope(impl), _x()
    mine(x, seq_len=3 * MAX_POS)
    cos, sin = mine(x, seq_len=40)
    fresh = _rope(reference)
    fresh_cos, fresh_sin = fresh(x, seq_len=40)
    hint = ("after a long input, a sequence of <= max_position_embeddings must go back to the original base "
            "(teaching.md §The reset rule)")
    assert_close(cos, fresh_cos, atol=1e-6, what="cos for 40 tokens after 768 tokens vs a fresh module", hint=hint)
    assert_close(sin, fresh_sin, atol=1e-6, what="sin for 40 tokens after 768 tokens vs a fresh module", hint=hint)
    assert_close(mine.inv_freq, fresh.inv_freq, atol=0, rtol=1e-6, what="inv_freq after the reset", hint=hint)
    longer = mine(x, seq_len=MAX_POS)[0]
    assert_close(longer, fresh(x, seq_len=MAX_POS)[0], atol=1e-6, what="cos for max_position_embeddings "
                 "tokens after the reset", hint="rebuild the table for max_position_embeddings rows with the original base")


def test_no_rebuild_for_shorter_inputs(impl):
    mine, x = _rope(impl), _x()
    mine(x, seq_len=200)
    table = mine.cos_cached
    mine(x, seq_len=120)
    assert mine.cos_cached is table, ("forward(seq_len=120) after forward(seq_len=200) rebuilt the table: "
                                      "below the cached length nothing is rebuilt (teaching.md §The code)")
    mine(x, seq_len=600)
    table = mine.cos_cached
    mine(x, seq_len=400)
    assert mine.cos_cached is table, ("forward(seq_len=400) after forward(seq_len=600) rebuilt the table: "
                                      "a shorter sequence that is still past max_position_embeddings keeps it")
    cos = mine(x, seq_len=100)[0]
    table = mine.cos_cached
    mine(x, seq_len=80)
    assert mine.cos_cached is table, ("the reset happened twice: once the table is back to the original base, "
                                      "shorter inputs reuse it (teaching.md §The reset rule)")
    assert cos.shape == (100, 16)


def test_dtype_follows_x(impl, reference):
    mine, ref = _rope(impl), _rope(reference)
    x = _x().bfloat16()
    cos, sin = mine(x, seq_len=300)
    assert_close(cos, ref(x, seq_len=300)[0], atol=1e-2, what="cos for x in bf16",
                 hint="return the slices in x.dtype, as the base forward does")
