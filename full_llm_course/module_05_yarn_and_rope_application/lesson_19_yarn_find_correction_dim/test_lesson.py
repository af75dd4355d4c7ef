"""Lesson 19: yarn_find_correction_dim returns the fractional pair index that turns
num_rotations times over the original context."""
import math

import pytest

CASES = (  # (num_rotations, dim, base, L)
    (1.0, 64, 50000.0, 4096),     # Kimi-K2 (beta_fast = beta_slow = 1)
    (32.0, 64, 10000.0, 4096),    # DeepSeek-V3 beta_fast
    (1.0, 64, 10000.0, 4096),     # DeepSeek-V3 beta_slow
    (1.0, 16, 50000.0, 256),      # tiny config
    (0.5, 128, 500000.0, 8192),   # fractional rotations, another base
    (1000.0, 64, 10000.0, 4096),  # more turns than pair 0 makes: negative index
)


def _where(case):
    n, dim, base, length = case
    return f"yarn_find_correction_dim({n:g}, {dim}, {base:g}, {length})"


def test_values_match_reference(impl, reference):
    for case in CASES:
        got, expected = impl.rope.yarn_find_correction_dim(*case), reference.rope.yarn_find_correction_dim(*case)
        assert isinstance(got, float), f"{_where(case)} returned {type(got).__name__}: return a Python float"
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), (
            f"{_where(case)} = {got!r}, expected {expected!r}: i = d*ln(L/(2*pi*n)) / (2*ln(base)) "
            "(teaching.md §From wavelength to pair index)")


def test_kimi_k2_boundary_is_19_16(impl):
    got = impl.rope.yarn_find_correction_dim(1.0, 64, 50000.0, 4096)
    assert got == pytest.approx(19.1645748886, abs=1e-8), (
        f"Kimi-K2 correction dim = {got!r}, expected 19.1646: check the 2*pi (full turns) and the 2 in 2*ln(base) "
        "(teaching.md §Pitfalls)")


def test_index_makes_exactly_n_turns(impl):
    for n in (0.25, 1.0, 4.0, 32.0):
        i = impl.rope.yarn_find_correction_dim(n, 64, 50000.0, 4096)
        turns = 4096 / (2 * math.pi * 50000.0 ** (2 * i / 64))
        assert turns == pytest.approx(n, rel=1e-9), (
            f"pair index {i!r} for n = {n} makes {turns!r} turns over 4096 tokens, expected {n}: "
            "solve L / (2*pi*base^(2i/d)) = n for i (teaching.md §From wavelength to pair index)")
