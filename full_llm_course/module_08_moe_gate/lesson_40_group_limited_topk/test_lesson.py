"""Graded tests for lesson 40: MoEGate.group_limited_topk in moe.py."""

import pytest
import torch

CASES = {
    "16 experts, n_group 4, topk_group 2, top_k 4": dict(n_routed_experts=16, n_group=4, topk_group=2,
                                                        num_experts_per_tok=4),
    "64 experts, n_group 8, topk_group 4, top_k 8 (DeepSeek-V3 grouping)": dict(
        n_routed_experts=64, n_group=8, topk_group=4, num_experts_per_tok=8),
    "16 experts, n_group 1, topk_group 1 (Kimi-K2: no grouping)": dict(n_routed_experts=16, n_group=1,
                                                                      topk_group=1, num_experts_per_tok=4),
}


def _pair(impl, reference, overrides):
    return impl.MoEGate(impl.KimiK2Config.tiny(**overrides)), reference.MoEGate(reference.KimiK2Config.tiny(**overrides))


def _check(got, want, label, hint):
    assert isinstance(got, torch.Tensor), f"{label}: group_limited_topk returned {type(got).__name__}, not a tensor"
    assert got.shape == want.shape, (f"{label}: indices shape {tuple(got.shape)} != expected {tuple(want.shape)}: "
                                     "one row per token, top_k columns (teaching.md §The code)")
    got_sorted, want_sorted = got.long().sort(dim=-1).values, want.sort(dim=-1).values
    bad = (got_sorted != want_sorted).any(dim=-1)
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        raise AssertionError(f"{label}: {int(bad.sum())} of {len(bad)} tokens choose different experts; token {row}: "
                             f"got {got_sorted[row].tolist()}, expected {want_sorted[row].tolist()}. {hint}")


@pytest.mark.parametrize("label", list(CASES))
def test_group_limited_topk_matches_reference(impl, reference, label):
    gate, ref = _pair(impl, reference, CASES[label])
    experts = CASES[label]["n_routed_experts"]
    scores = torch.rand(64, experts, generator=torch.Generator().manual_seed(40))
    _check(gate.group_limited_topk(scores), ref.group_limited_topk(scores), label,
           "group score = SUM of the top-2 scores of each group (not the max), keep topk_group groups, "
           "then top_k among their experts (teaching.md §Group score)")


def test_group_limited_topk_real_kimi_k2_width(impl, reference):
    """384 experts, 8 per token, one group: the step must equal a plain top-8."""
    overrides = dict(n_routed_experts=384, num_experts_per_tok=8)
    gate, ref = _pair(impl, reference, overrides)
    scores = torch.rand(16, 384, generator=torch.Generator().manual_seed(41))
    _check(gate.group_limited_topk(scores), ref.group_limited_topk(scores), "Kimi-K2 width (384 experts)",
           "with n_group = topk_group = 1 the result is a plain top-k (teaching.md §Kimi-K2)")


def test_group_limited_topk_negative_scores_need_minus_inf(impl, reference):
    """Biased scores below zero inside the kept groups: a 0.0 mask would pick a masked expert."""
    overrides = dict(n_routed_experts=16, n_group=4, topk_group=2, num_experts_per_tok=8)
    gate, ref = _pair(impl, reference, overrides)
    g = torch.Generator().manual_seed(42)
    scores = torch.rand(32, 16, generator=g) - 0.6  # many biased scores below zero
    got, want = gate.group_limited_topk(scores), ref.group_limited_topk(scores)
    _check(got, want, "negative biased scores, top_k = all 8 experts of the 2 kept groups",
           "mask the experts of dropped groups with float('-inf'), not 0.0: a negative score in a kept group "
           "loses to 0.0 (teaching.md §Why -inf)")
