"""Graded tests for lesson 42: MoEGate.forward in moe.py."""

import pytest
import torch
from kimi_course.testing import assert_close

CASES = {
    "tiny, n_group 4, topk_group 2": dict(n_group=4, topk_group=2),
    "tiny, one group (Kimi-K2 routing)": dict(),
    "64 experts, 8 groups keep 4, top-8 (DeepSeek-V3 routing)": dict(n_routed_experts=64, n_group=8, topk_group=4,
                                                                    num_experts_per_tok=8, routed_scaling_factor=2.5),
}


def _pair(impl, reference, overrides, seed=0):
    ref = reference.MoEGate(reference.KimiK2Config.tiny(**overrides))
    with torch.no_grad():
        n = ref.e_score_correction_bias.numel()
        ref.e_score_correction_bias.copy_(torch.randn(n, generator=torch.Generator().manual_seed(seed)) * 0.1)
    gate = impl.MoEGate(impl.KimiK2Config.tiny(**overrides))
    gate.load_state_dict(ref.state_dict())
    return gate, ref


def _sorted(idx, weight):
    idx_sorted, order = idx.long().sort(dim=-1)
    return idx_sorted, weight.gather(1, order)


@pytest.mark.parametrize("label", list(CASES))
def test_gate_forward_matches_reference(impl, reference, label):
    gate, ref = _pair(impl, reference, CASES[label])
    x = torch.randn(3, 7, 64, generator=torch.Generator().manual_seed(42))
    with torch.no_grad():
        got, want = _sorted(*gate(x)), _sorted(*ref(x))
    assert got[0].shape == want[0].shape, (f"{label}: topk_idx shape {tuple(got[0].shape)} != {tuple(want[0].shape)}: "
                                           "flatten (b, s, H) to (b*s, H) first (teaching.md §Shapes)")
    bad = (got[0] != want[0]).any(-1)
    assert not bool(bad.any()), (f"{label}: {int(bad.sum())} of {len(bad)} tokens choose other experts, e.g. token "
                                 f"{int(bad.nonzero()[0, 0])}: {got[0][bad][0].tolist()} vs {want[0][bad][0].tolist()}. "
                                 "Select with select_experts(scores), which adds the bias (teaching.md §The code)")
    assert_close(got[1], want[1], atol=1e-6, what=f"{label}: topk_weight (sorted by expert)",
                 hint="gather the UNBIASED sigmoid scores at topk_idx, then normalize_weights "
                      "(teaching.md §The code)")


def test_gate_forward_bf16_input_gives_fp32_weights(impl, reference):
    gate, ref = _pair(impl, reference, dict(n_group=4, topk_group=2))
    x = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(43)).bfloat16()
    with torch.no_grad():
        idx, weight = gate(x)
        want = _sorted(*ref(x))
    assert idx.dtype == torch.int64, f"topk_idx dtype {idx.dtype}, expected torch.int64 (teaching.md §Shapes)"
    got = _sorted(idx, weight)
    assert_close(got[1], want[1], atol=1e-6, what="topk_weight for a bf16 input",
                 hint="the gate works in float32 (compute_scores casts); do not cast the weights back to bf16 "
                      "(teaching.md §Shapes)")


def test_gate_forward_at_kimi_k2_width(impl, reference):
    """One real Kimi-K2 dimension: 384 experts, 8 per token, hidden 7168."""
    overrides = dict(hidden_size=7168, n_routed_experts=384, num_experts_per_tok=8)
    gate, ref = _pair(impl, reference, overrides)
    x = torch.randn(1, 4, 7168, generator=torch.Generator().manual_seed(44))
    with torch.no_grad():
        got, want = _sorted(*gate(x)), _sorted(*ref(x))
    assert torch.equal(got[0], want[0]), "Kimi-K2 width: different experts chosen (teaching.md §The code)"
    assert_close(got[1], want[1], atol=1e-6, what="Kimi-K2 width: topk_weight",
                 hint="gather unbiased scores, then normalize_weights (teaching.md §The code)")


def test_gate_gradients_reach_the_weight_not_the_bias(impl, reference):
    gate, ref = _pair(impl, reference, dict(n_group=4, topk_group=2), seed=1)
    x = torch.randn(2, 6, 64, generator=torch.Generator().manual_seed(45))
    probe = torch.randn(16, 16, generator=torch.Generator().manual_seed(46))  # a loss that sees expert ids
    losses = []
    for module in (gate, ref):
        idx, weight = module(x)
        dense = torch.zeros(12, 16).scatter(1, idx.long(), weight)   # (tokens, experts), order-free
        loss = (dense @ probe).square().sum()
        loss.backward()
        losses.append(loss.item())
    assert gate.weight.grad is not None and gate.weight.grad.abs().sum() > 0, (
        "no gradient reached gate.weight: topk_weight must come from scores.gather(...) on the differentiable "
        "scores, not from inside select_experts / torch.no_grad (teaching.md §Gradients)")
    assert_close(gate.weight.grad, ref.weight.grad, atol=1e-5, rtol=1e-4, what="gate.weight.grad",
                 hint="the weights are the unbiased scores gathered at the chosen indices, normalised, then scaled "
                      "(teaching.md §Gradients)")
    assert gate.e_score_correction_bias.grad is None, (
        "e_score_correction_bias received a gradient: it only selects experts and is moved by the balancing rule, "
        "never by backprop (teaching.md §Gradients)")
