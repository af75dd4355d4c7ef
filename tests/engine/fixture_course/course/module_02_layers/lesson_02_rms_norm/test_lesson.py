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
