"""Lesson 15: DeepseekV3DynamicNTKScalingRotaryEmbedding.__init__."""
import torch
from kimi_course.testing import assert_close


def test_is_a_plain_rope_subclass(impl):
    rope = impl.DeepseekV3DynamicNTKScalingRotaryEmbedding(8, scaling_factor=2.0)
    assert isinstance(rope, impl.DeepseekV3RotaryEmbedding), (
        "DeepseekV3DynamicNTKScalingRotaryEmbedding must subclass DeepseekV3RotaryEmbedding: it reuses the plain class's "
        "state, table and forward (teaching.md §The code)")
    assert rope.scaling_factor == 2.0, f"scaling_factor is {rope.scaling_factor!r}, expected 2.0"


def test_init_stores_factor_and_keeps_the_base(impl, reference):
    for kwargs in (dict(dim=16, max_position_embeddings=1024, base=10000.0, scaling_factor=2.0),
                   dict(dim=64, max_position_embeddings=4096, base=50000.0, scaling_factor=8.0)):
        mine = impl.DeepseekV3DynamicNTKScalingRotaryEmbedding(**kwargs)
        ref = reference.DeepseekV3DynamicNTKScalingRotaryEmbedding(**kwargs)
        assert getattr(mine, "scaling_factor", None) == kwargs["scaling_factor"], (
            f"scaling_factor is {getattr(mine, 'scaling_factor', None)!r}, expected {kwargs['scaling_factor']} "
            "(teaching.md §The code)")
        for name in ("dim", "max_position_embeddings", "base", "max_seq_len_cached"):
            assert getattr(mine, name) == getattr(ref, name), (
                f"{name} = {getattr(mine, name)!r}, expected {getattr(ref, name)!r}: __init__ changes nothing "
                "but adds the factor; the base is raised later, in _set_cos_sin_cache (teaching.md §The code)")
        assert_close(mine.inv_freq, ref.inv_freq, atol=0, rtol=1e-6, what=f"inv_freq after __init__ with {kwargs}",
                     hint="at construction the frequencies are plain RoPE's (teaching.md §The code)")


def test_short_table_is_plain_rope(impl, reference):
    mine = impl.DeepseekV3DynamicNTKScalingRotaryEmbedding(16, 256, 10000.0, scaling_factor=4.0)
    plain = reference.DeepseekV3RotaryEmbedding(16, 256, 10000.0)
    x = torch.zeros(1)
    assert_close(mine(x, seq_len=200)[0], plain(x, seq_len=200)[0], atol=1e-6,
                 what="dynamic cos for 200 <= max_position_embeddings positions",
                 hint="within max_position_embeddings dynamic NTK is plain RoPE: did __init__ touch the base?")
