"""Lesson 21: yarn_get_mscale = 0.1 * mscale * ln(scale) + 1, and 1.0 for scale <= 1."""
import pytest

CASES = ((32.0, 1.0), (40.0, 1.0), (64.0, 1.0), (4.0, 1.0), (40.0, 0.707), (40.0, 0.0), (2.5, 3.0),
         (1.0, 1.0), (0.5, 1.0), (0.25, 0.707), (1.0001, 1.0))


def test_values_match_reference(impl, reference):
    for scale, mscale in CASES:
        got, expected = impl.rope.yarn_get_mscale(scale, mscale), reference.rope.yarn_get_mscale(scale, mscale)
        assert isinstance(got, float), f"yarn_get_mscale({scale}, {mscale}) returned {type(got).__name__}: return a float"
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12), (
            f"yarn_get_mscale({scale}, {mscale}) = {got!r}, expected {expected!r}: 0.1 * mscale * ln(scale) + 1 "
            "with the natural log (teaching.md §The temperature and its square root)")


def test_no_correction_when_not_stretched(impl):
    for scale in (1.0, 0.5, 0.1):
        got = impl.rope.yarn_get_mscale(scale, 1.0)
        assert got == 1.0, (f"yarn_get_mscale({scale}, 1) = {got!r}, expected 1.0: return 1.0 when scale <= 1 "
                            "(teaching.md §The code)")


def test_kimi_k2_value(impl):
    got = impl.rope.yarn_get_mscale(32.0, 1.0)
    assert got == pytest.approx(1.3465735903, abs=1e-9), (
        f"yarn_get_mscale(32, 1) = {got!r}, expected 1.346574 (0.1 * ln 32 + 1): natural log, not log10")
    scale = 192 ** -0.5 * got * got
    assert scale == pytest.approx(0.1308608, abs=1e-7), f"Kimi-K2 softmax scale 192^-0.5 * mscale^2 = {scale!r}"
