"""Lesson 24: DeepseekV3YarnRotaryEmbedding._yarn_inv_freq blends the original and the
interpolated frequencies, and the cos/sin tables are built from the blend."""
import torch
from kimi_course.testing import assert_close

# (name, dim, theta, factor, original, beta_fast, beta_slow, mscale, mscale_all_dim)
CASES = (
    ("Kimi-K2", 64, 50000.0, 32.0, 4096, 1.0, 1.0, 1.0, 1.0),
    ("DeepSeek-V3", 64, 10000.0, 40.0, 4096, 32.0, 1.0, 1.0, 1.0),
    ("tiny config", 16, 50000.0, 4.0, 256, 1.0, 1.0, 1.0, 1.0),
    ("dim 16, wide ramp, mscale_all_dim 0", 16, 10000.0, 8.0, 128, 32.0, 1.0, 1.0, 0.0),
)


def _build(module, case):
    _, dim, theta, factor, original, bf, bs, ms, ms_all = case
    return module.DeepseekV3YarnRotaryEmbedding(
        dim, max_position_embeddings=int(original * factor), base=theta, scaling_factor=factor,
        original_max_position_embeddings=original, beta_fast=bf, beta_slow=bs, mscale=ms, mscale_all_dim=ms_all)


def test_inv_freq_blend(impl, reference):
    for case in CASES:
        mine, ref = _build(impl, case), _build(reference, case)
        assert_close(mine.inv_freq, ref.inv_freq, atol=0, rtol=1e-6, what=f"inv_freq ({case[0]})",
                     hint="freq_inter * (1 - mask) + freq_extra * mask with mask = 1 - ramp(low, high, dim/2); "
                          "the ramp has dim/2 entries, not dim (teaching.md §The code)")


def test_kimi_k2_hard_switch(impl, reference):
    mine = _build(impl, CASES[0])
    plain = reference.DeepseekV3RotaryEmbedding(64, base=50000.0)
    ratio = plain.inv_freq / mine.inv_freq
    assert_close(ratio[:20], torch.ones(20), atol=1e-5, what="Kimi-K2: original / YaRN frequency, pairs 0-19",
                 hint="pairs below low = 19 keep their frequency (extrapolation): teaching.md §Kimi-K2's numbers")
    assert_close(ratio[20:], torch.full((12,), 32.0), atol=1e-3, what="Kimi-K2: original / YaRN frequency, pairs 20-31",
                 hint="pairs from high = 20 on are divided by the factor 32: did you swap the two frequency sets?")


def test_tables_from_forward(impl, reference):
    x = torch.zeros(1, dtype=torch.float32)
    for case in CASES:
        mine, ref = _build(impl, case), _build(reference, case)
        for length in (7, 300):
            cos, sin = mine(x, seq_len=length)
            cos_ref, sin_ref = ref(x, seq_len=length)
            assert_close(cos, cos_ref, atol=1e-5, what=f"cos table ({case[0]}, seq_len {length})",
                         hint="the table is outer(positions, yarn inv_freq), concat twice, times attention_scaling")
            assert_close(sin, sin_ref, atol=1e-5, what=f"sin table ({case[0]}, seq_len {length})")
