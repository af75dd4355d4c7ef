"""Graded tests for lesson 02: RMSNorm.forward."""

import torch

from kimi_course.testing import assert_close


def test_forward_matches_reference(impl, reference):
    x = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(0))
    assert_close(impl.RMSNorm(8)(x), reference.RMSNorm(8)(x), atol=1e-6, what="RMSNorm(8)(x)",
                 hint="teaching.md §The forward pass")


def test_bfloat16_stays_bfloat16(impl, reference):
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(1)).bfloat16()
    assert_close(impl.RMSNorm(8)(x), reference.RMSNorm(8)(x), atol=1e-2, what="RMSNorm(8)(x in bf16)",
                 hint="cast back to the input dtype before the weight multiply, teaching.md §Cast order")


def test_attend_matches_reference(impl, reference):
    """attend calls lesson 03's attention_weights: graded on lesson 02, that comes from the answer key."""
    generator = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, n, 8, generator=generator) for n in (4, 6, 6))
    assert_close(impl.attend(q, k, v, impl.RMSNorm(8)), reference.attend(q, k, v, reference.RMSNorm(8)), atol=1e-6,
                 what="attend(q, k, v, norm)", hint="weights from attention_weights, then @ v")
