"""Graded tests for lesson 03: softmax and attention_weights."""

import torch

from kimi_course.testing import assert_close


def test_softmax_matches_reference(impl, reference):
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(0)) * 50
    assert_close(impl.softmax(x), reference.softmax(x), atol=1e-6, what="softmax(x)",
                 hint="subtract the max first, teaching.md")


def test_attention_weights_match_reference(impl, reference):
    generator = torch.Generator().manual_seed(1)
    q, k = torch.randn(2, 4, 8, generator=generator), torch.randn(2, 6, 8, generator=generator)
    assert_close(impl.attention_weights(q, k, impl.RMSNorm(8)), reference.attention_weights(q, k, reference.RMSNorm(8)),
                 atol=1e-6, what="attention_weights(q, k, norm)", hint="normalise q, scale by sqrt(d), teaching.md")
