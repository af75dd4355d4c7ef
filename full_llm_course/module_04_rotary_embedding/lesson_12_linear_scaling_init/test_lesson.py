"""Lesson 12: DeepseekV3LinearScalingRotaryEmbedding.__init__ stores the scaling factor."""
import torch
from kimi_course.testing import assert_close


def _pair(impl, reference, **kwargs):
    return (impl.DeepseekV3LinearScalingRotaryEmbedding(**kwargs),
            reference.DeepseekV3LinearScalingRotaryEmbedding(**kwargs))


def test_is_a_plain_rope_subclass(impl):
    rope = impl.DeepseekV3LinearScalingRotaryEmbedding(8, scaling_factor=2.0)
    assert isinstance(rope, impl.DeepseekV3RotaryEmbedding), (
        "DeepseekV3LinearScalingRotaryEmbedding must subclass DeepseekV3RotaryEmbedding: it reuses the plain class's "
        "state, table and forward (teaching.md §The class)")
    assert rope.scaling_factor == 2.0, f"scaling_factor is {rope.scaling_factor!r}, expected 2.0"


def test_init_stores_factor_and_plain_state(impl, reference):
    for kwargs in (dict(dim=16, max_position_embeddings=1024, base=10000.0, scaling_factor=4.0),
                   dict(dim=64, max_position_embeddings=131072, base=50000.0, scaling_factor=32.0)):
        mine, ref = _pair(impl, reference, **kwargs)
        assert getattr(mine, "scaling_factor", None) == kwargs["scaling_factor"], (
            f"scaling_factor is {getattr(mine, 'scaling_factor', None)!r}, expected {kwargs['scaling_factor']}: "
            "store the argument as self.scaling_factor (teaching.md §The code)")
        for name in ("dim", "max_position_embeddings", "base", "max_seq_len_cached"):
            assert getattr(mine, name) == getattr(ref, name), (
                f"{name} = {getattr(mine, name)!r}, expected {getattr(ref, name)!r}: call "
                "super().__init__(dim, max_position_embeddings, base, device) (teaching.md §The code)")
        assert_close(mine.inv_freq, ref.inv_freq, atol=0, rtol=1e-6, what=f"inv_freq with {kwargs}",
                     hint="linear scaling leaves the frequencies alone; only positions change (teaching.md §The code)")


def test_default_factor_is_one(impl, reference):
    mine = impl.DeepseekV3LinearScalingRotaryEmbedding(8)
    assert mine.scaling_factor == reference.DeepseekV3LinearScalingRotaryEmbedding(8).scaling_factor == 1.0, (
        f"default scaling_factor is {mine.scaling_factor!r}, expected 1.0 (the signature's default)")


def test_table_uses_the_stored_factor(impl, reference):
    mine, ref = _pair(impl, reference, dim=16, max_position_embeddings=64, base=10000.0, scaling_factor=2.5)
    x = torch.zeros(1)
    cos, sin = mine(x, seq_len=40)
    ref_cos, ref_sin = ref(x, seq_len=40)
    assert_close(cos, ref_cos, atol=1e-6, what="cos of the linear class, factor 2.5",
                 hint="the table divides positions by self.scaling_factor: is it the factor you were given?")
    assert_close(sin, ref_sin, atol=1e-6, what="sin of the linear class, factor 2.5")
