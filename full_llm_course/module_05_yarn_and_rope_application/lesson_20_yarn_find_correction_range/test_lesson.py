"""Lesson 20: yarn_find_correction_range floors the beta_fast end, ceils the beta_slow end and
clamps to [0, dim - 1]."""

CASES = (  # (low_rot, high_rot, dim, base, L)
    (1.0, 1.0, 64, 50000.0, 4096),     # Kimi-K2 -> (19, 20)
    (32.0, 1.0, 64, 10000.0, 4096),    # DeepSeek-V3 -> (10, 23)
    (1.0, 1.0, 16, 50000.0, 256),      # tiny config
    (2000.0, 1.0, 64, 10000.0, 4096),  # low clamps to 0
    (32.0, 1e-6, 64, 10000.0, 4096),   # high clamps to dim - 1
    (5000.0, 1e-9, 32, 10000.0, 4096),  # both clamp
    (4.0, 0.5, 128, 500000.0, 8192),
)


def _where(case):
    return "yarn_find_correction_range({:g}, {:g}, {}, {:g}, {})".format(*case)


def test_ranges_match_reference(impl, reference):
    for case in CASES:
        got, expected = impl.rope.yarn_find_correction_range(*case), reference.rope.yarn_find_correction_range(*case)
        assert tuple(got) == expected, (
            f"{_where(case)} = {got!r}, expected {expected!r}: low = max(floor(corr_dim(low_rot)), 0), "
            "high = min(ceil(corr_dim(high_rot)), dim - 1) (teaching.md §Rounding outward, then clamping)")
        assert all(isinstance(v, int) for v in got), f"{_where(case)} returned {got!r}: return Python ints"


def test_kimi_k2_and_deepseek_v3_ranges(impl):
    kimi = impl.rope.yarn_find_correction_range(1.0, 1.0, 64, 50000.0, 4096)
    assert tuple(kimi) == (19, 20), (
        f"Kimi-K2 range {kimi!r}, expected (19, 20): floor the first corr_dim and ceil the second, "
        "do not round (teaching.md §Pitfalls)")
    dsv3 = impl.rope.yarn_find_correction_range(32.0, 1.0, 64, 10000.0, 4096)
    assert tuple(dsv3) == (10, 23), f"DeepSeek-V3 range {dsv3!r}, expected (10, 23)"


def test_clamping(impl):
    low, _ = impl.rope.yarn_find_correction_range(2000.0, 1.0, 64, 10000.0, 4096)
    assert low == 0, f"low = {low} for beta_fast 2000 (corr_dim -3.89): clamp with max(low, 0)"
    _, high = impl.rope.yarn_find_correction_range(32.0, 1e-6, 64, 10000.0, 4096)
    assert high == 63, (f"high = {high} for beta_slow 1e-6 (corr_dim 70.5): clamp with min(high, dim - 1) = 63, "
                        "not dim // 2 - 1 (teaching.md §The code)")
