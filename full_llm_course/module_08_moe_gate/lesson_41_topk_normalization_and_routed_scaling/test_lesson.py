"""Graded tests for lesson 41: MoEGate.normalize_weights in moe.py."""

import pytest
import torch
from kimi_course.testing import assert_close

CASES = {
    "Kimi-K2: top_k 8, norm on, factor 2.827": dict(num_experts_per_tok=8, routed_scaling_factor=2.827),
    "DeepSeek-V3: top_k 8, norm on, factor 2.5": dict(num_experts_per_tok=8, routed_scaling_factor=2.5),
    "norm_topk_prob False, factor 2.827": dict(num_experts_per_tok=8, norm_topk_prob=False),
    "top_k 1, norm_topk_prob True (no normalisation)": dict(num_experts_per_tok=1),
    "tiny: top_k 4, factor 1.0": dict(num_experts_per_tok=4, routed_scaling_factor=1.0),
}
HINTS = {
    "norm_topk_prob False, factor 2.827": "without norm_topk_prob the weights are only scaled "
                                          "(teaching.md §The code)",
    "top_k 1, norm_topk_prob True (no normalisation)": "normalise only if top_k > 1 and norm_topk_prob; a single "
                                                       "expert keeps its raw score (teaching.md §top_k = 1)",
}


@pytest.mark.parametrize("label", list(CASES))
def test_normalize_weights_matches_reference(impl, reference, label):
    overrides = dict(n_routed_experts=16, **CASES[label])
    gate = impl.MoEGate(impl.KimiK2Config.tiny(**overrides))
    ref = reference.MoEGate(reference.KimiK2Config.tiny(**overrides))
    k = overrides["num_experts_per_tok"]
    raw = torch.rand(32, k, generator=torch.Generator().manual_seed(41)) * 0.9 + 0.05   # sigmoid-like
    got, want = gate.normalize_weights(raw.clone()), ref.normalize_weights(raw.clone())
    assert_close(got, want, atol=1e-6, rtol=1e-6, what=f"normalize_weights ({label})",
                 hint=HINTS.get(label, "divide by (sum over the chosen experts + 1e-20) FIRST, then multiply by "
                                       "routed_scaling_factor (teaching.md §Order matters)"))


def test_normalized_weights_sum_to_the_factor(impl, reference):
    gate = impl.MoEGate(impl.KimiK2Config.tiny(n_routed_experts=384, num_experts_per_tok=8))
    raw = torch.rand(64, 8, generator=torch.Generator().manual_seed(42)) * 0.9 + 0.05
    sums = gate.normalize_weights(raw).sum(-1)
    assert_close(sums, torch.full((64,), 2.827), atol=1e-5, what="sum of the 8 weights per token",
                 hint="after normalisation the weights sum to 1; the scaling makes it routed_scaling_factor "
                      "(teaching.md §Order matters)")


def test_normalize_weights_keeps_gradients(impl, reference):
    raw = torch.rand(8, 4, generator=torch.Generator().manual_seed(43)) * 0.9 + 0.05
    a, b = raw.clone().requires_grad_(), raw.clone().requires_grad_()
    probe = torch.randn(8, 4, generator=torch.Generator().manual_seed(44))
    (impl.MoEGate(impl.KimiK2Config.tiny()).normalize_weights(a) * probe).sum().backward()
    (reference.MoEGate(reference.KimiK2Config.tiny()).normalize_weights(b) * probe).sum().backward()
    assert a.grad is not None, ("normalize_weights cut the graph: no gradient reaches its input. Use ordinary "
                                "tensor ops, no .detach() or torch.no_grad() (teaching.md §Gradient)")
    assert_close(a.grad, b.grad, atol=1e-6, what="d loss / d raw weights",
                 hint="the gradient flows through the division by the sum (teaching.md §Gradient)")
