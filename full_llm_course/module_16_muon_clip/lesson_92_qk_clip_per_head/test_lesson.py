"""Graded tests for lesson 92: kimik2.qk_clip.clip_factors (per-head QK-Clip factors)."""

import importlib

import torch
from kimi_course.testing import assert_close


def _qk_clip(module):
    return importlib.import_module(module.__name__ + ".qk_clip")


def test_clip_factors_match_reference_kimi_shape(impl, reference):
    g = torch.Generator().manual_seed(0)
    s_max = 20 * (2 * torch.rand(61, 64, generator=g)).exp()           # all Kimi-K2 heads: 61 layers x 64
    assert_close(_qk_clip(impl).clip_factors(s_max, 100.0), _qk_clip(reference).clip_factors(s_max, 100.0),
                 what="clip_factors(S_max (61, 64), tau=100)", hint="gamma = tau / S_max per head: teaching.md §The rule")


def test_clip_factors_independent_loop(impl):
    g = torch.Generator().manual_seed(1)
    s_max = 150 * torch.rand(64, generator=g)
    s_max[:4] = torch.tensor([0.0, -5.0, 100.0, 30.0])
    tau = 100.0
    expected = torch.tensor([tau / s if s > tau else 1.0 for s in s_max.tolist()], dtype=torch.float32)
    gamma = _qk_clip(impl).clip_factors(s_max, tau)
    assert_close(gamma, expected, atol=1e-6, what="clip_factors vs a per-head loop",
                 hint="only heads with S_max > tau get tau / S_max: teaching.md §The rule")
    assert_close(s_max * gamma, torch.minimum(s_max, torch.tensor(tau)), atol=1e-4,
                 what="S_max * gamma (should be min(S_max, tau))", hint="teaching.md §The rule")


def test_calm_heads_get_exactly_one(impl):
    s_max = torch.tensor([0.0, -3.0, 1.0, 99.99, 100.0, 100.5, 1e4])
    gamma = _qk_clip(impl).clip_factors(s_max, 100.0)
    assert isinstance(gamma, torch.Tensor) and gamma.shape == s_max.shape, "clip_factors must return a tensor of S_max's shape"
    calm = s_max <= 100.0
    assert bool((gamma[calm] == 1.0).all()), (
        f"heads at or below tau must get exactly 1.0, got {gamma[calm].tolist()}: teaching.md §The code (torch.where)")
    assert bool((gamma[~calm] < 1.0).all()) and bool((gamma > 0).all()), (
        f"heads above tau need 0 < gamma < 1, got {gamma.tolist()}: teaching.md §The rule")
