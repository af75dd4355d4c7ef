"""Graded tests for lesson 11: DeepseekV3RotaryEmbedding.forward."""

import torch
from kimi_course.testing import assert_close

HINT = "rebuild only when seq_len > max_seq_len_cached, return cos/sin[:seq_len].to(x.dtype): teaching.md §The code"


def _counting(rope):
    builds, original = [], rope._set_cos_sin_cache
    rope._set_cos_sin_cache = lambda seq_len, device: (builds.append(seq_len), original(seq_len, device))[1]
    return builds


def test_forward_values_fp32(impl, reference):
    mine, ref = impl.DeepseekV3RotaryEmbedding(64, 131072, 50000.0), reference.DeepseekV3RotaryEmbedding(64, 131072, 50000.0)
    x = torch.zeros(2, 3)
    for got, expected, name in zip(mine(x, seq_len=10), ref(x, seq_len=10), ("cos", "sin")):
        assert_close(got, expected, atol=1e-6, what=f"{name} from forward(x fp32, seq_len=10)", hint=HINT)


def test_forward_casts_to_x_dtype_and_keeps_cache_float32(impl, reference):
    mine, ref = impl.DeepseekV3RotaryEmbedding(16), reference.DeepseekV3RotaryEmbedding(16)
    xb = torch.zeros(1, dtype=torch.bfloat16)
    for got, expected, name in zip(mine(xb, 20), ref(xb, 20), ("cos", "sin")):
        assert_close(got, expected, atol=0.0, what=f"{name} from forward(x bf16, 20)", hint=HINT)
    assert mine.cos_cached.dtype == torch.float32, (
        f"cos_cached became {mine.cos_cached.dtype}: cast the returned slice, not the stored table")
    x32 = torch.zeros(1)
    assert_close(mine(x32, 20)[0], ref(x32, 20)[0], atol=1e-6, what="cos from forward(x fp32) after a bf16 call",
                 hint="the stored table must stay float32: teaching.md §Pitfalls")


def test_cache_grows_and_is_reused(impl):
    rope = impl.DeepseekV3RotaryEmbedding(16)
    builds = _counting(rope)
    x = torch.zeros(1)
    for seq_len in (16, 8, 16, 100, 40, 101):
        cos, _ = rope(x, seq_len)
        assert tuple(cos.shape) == (seq_len, 16), f"cos shape {tuple(cos.shape)} != ({seq_len}, 16): {HINT}"
    assert builds == [16, 100, 101], (f"the table was built for lengths {builds}; expected [16, 100, 101] "
                                      f"(build only for a longer sequence): {HINT}")
    assert rope.max_seq_len_cached == 101, f"max_seq_len_cached = {rope.max_seq_len_cached}, expected 101"


def test_positions_beyond_seq_len_never_needed(impl, reference):
    grown = impl.DeepseekV3RotaryEmbedding(64, base=50000.0)
    grown(torch.zeros(1), 50)
    fresh = reference.DeepseekV3RotaryEmbedding(64, base=50000.0)
    first = impl.DeepseekV3RotaryEmbedding(64, base=50000.0)
    cos, sin = first(torch.zeros(1), 7)
    assert first.max_seq_len_cached == 7, (f"forward(x, 7) on a fresh module cached {first.max_seq_len_cached} "
                                           "positions; build exactly seq_len rows")
    for got, expected, name in zip(grown(torch.zeros(1), 7), fresh(torch.zeros(1), 7), ("cos", "sin")):
        assert_close(got, expected, atol=1e-6, what=f"{name} for 7 positions after the cache grew to 50", hint=HINT)
