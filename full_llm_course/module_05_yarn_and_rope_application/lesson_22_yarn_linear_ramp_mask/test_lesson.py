"""Lesson 22: yarn_linear_ramp_mask = clamp((arange(dim) - low) / (high - low), 0, 1) in float32,
with high nudged by 0.001 when low == high."""
import torch
from kimi_course.testing import assert_close

CASES = ((19, 20, 32), (10, 23, 32), (2, 3, 8), (0, 4, 6), (-3, 5, 16), (20, 63, 32), (0, 63, 32),
         (2.5, 7.25, 12))


def _check(impl, reference, low, high, dim):
    got, expected = impl.rope.yarn_linear_ramp_mask(low, high, dim), reference.rope.yarn_linear_ramp_mask(low, high, dim)
    assert_close(got, expected, atol=1e-7, what=f"yarn_linear_ramp_mask({low}, {high}, {dim})",
                 hint="(arange(dim, float32) - low) / (high - low), clamped to [0, 1] (teaching.md §The ramp)")


def test_values_match_reference(impl, reference):
    for low, high, dim in CASES:
        _check(impl, reference, low, high, dim)


def test_shape_dtype_and_range(impl):
    ramp = impl.rope.yarn_linear_ramp_mask(10, 23, 32)
    assert isinstance(ramp, torch.Tensor) and tuple(ramp.shape) == (32,), (
        f"ramp shape {getattr(ramp, 'shape', None)}, expected (32,): one weight per pair (the dim argument)")
    assert ramp.dtype == torch.float32, f"ramp dtype {ramp.dtype}, expected torch.float32: build arange in float32"
    assert float(ramp.min()) == 0.0 and float(ramp.max()) == 1.0, (
        f"ramp spans [{float(ramp.min())}, {float(ramp.max())}], expected [0, 1]: clamp (teaching.md §Pitfalls)")


def test_kimi_k2_is_a_step(impl):
    ramp = impl.rope.yarn_linear_ramp_mask(19, 20, 32)
    assert_close(ramp, (torch.arange(32) >= 20).float(), atol=1e-7, what="Kimi-K2 ramp (low 19, high 20)",
                 hint="0 up to pair 19, 1 from pair 20 (teaching.md §Worked example)")


def test_min_equals_max_guard(impl, reference):
    for low, dim in ((5, 8), (0, 4), (31, 32), (19, 32)):
        ramp = impl.rope.yarn_linear_ramp_mask(low, low, dim)
        assert not torch.isnan(ramp).any(), (
            f"yarn_linear_ramp_mask({low}, {low}, {dim}) has NaN: when low == high add 0.001 to high "
            "(teaching.md §The ramp)")
        _check(impl, reference, low, low, dim)
