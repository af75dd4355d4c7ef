"""Graded tests for lesson 44: DeepseekV3MoE.dispatch (sort by expert, run each expert once, index_add_ back)."""

import pytest
import torch
from kimi_course.testing import assert_close


pytestmark = pytest.mark.usefixtures("one_thread")    # many tiny matmuls: thread hand-offs cost more than they save


def _pair(impl, reference, seed=0, **overrides):
    torch.manual_seed(seed)
    want = reference.DeepseekV3MoE(reference.KimiK2Config.tiny(**overrides))
    got = impl.DeepseekV3MoE(impl.KimiK2Config.tiny(**overrides))
    got.load_state_dict(want.state_dict())
    return got, want


def _routing(n, k, experts, seed):
    """Random distinct experts per token and positive weights."""
    generator = torch.Generator().manual_seed(seed)
    idx = torch.stack([torch.randperm(experts, generator=generator)[:k] for _ in range(n)])
    weight = torch.rand(n, k, generator=generator) + 0.1
    return idx, weight, torch.bincount(idx.view(-1), minlength=experts).tolist()


def test_worked_example_equals_the_definition(impl, reference):
    """The 4-token, 2-slot, 4-expert example of teaching.md, against y_t = sum_j w_tj FFN_e(t,j)(x_t)."""
    got, _ = _pair(impl, reference, n_routed_experts=4, num_experts_per_tok=2, hidden_size=8, moe_intermediate_size=6)
    topk_idx = torch.tensor([[2, 0], [1, 2], [0, 3], [2, 1]])
    topk_weight = torch.tensor([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1], [0.5, 0.5]])
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = got.dispatch(x, topk_idx, topk_weight, [2, 2, 3, 1])
        expected = torch.stack([sum(topk_weight[t, j] * got.experts[int(topk_idx[t, j])](x[t]) for j in range(2))
                                for t in range(4)])
    assert_close(out, expected, atol=1e-6, what="dispatch on the worked example (4 tokens, k=2, E=4)",
                 hint="token t = order // top_k; every token's k weighted expert outputs must be ADDED "
                      "(index_add_), not assigned (teaching.md §Why index_add_)")


def test_matches_reference_tiny(impl, reference):
    got, want = _pair(impl, reference, seed=1)
    x = torch.randn(24, 64, generator=torch.Generator().manual_seed(2))
    idx, weight, counts = _routing(24, 4, 16, seed=3)
    with torch.no_grad():
        assert_close(got.dispatch(x, idx, weight, counts), want.dispatch(x, idx, weight, counts), atol=1e-6,
                     what="dispatch(x (24, 64), topk_idx (24, 4), topk_weight, counts) with 16 experts",
                     hint="argsort(stable=True) the flattened topk_idx, take each expert's run of sorted slots "
                          "(the counts of tokens_per_expert, in order), weight its rows (teaching.md §The code)")


def test_gradients_match_reference(impl, reference):
    got, want = _pair(impl, reference, seed=4)
    idx, weight, counts = _routing(12, 4, 16, seed=5)
    x0 = torch.randn(12, 64, generator=torch.Generator().manual_seed(6))
    probe = torch.randn(12, 64, generator=torch.Generator().manual_seed(7))
    grads = []
    for layer in (got, want):
        x, w = x0.clone().requires_grad_(), weight.clone().requires_grad_()
        (layer.dispatch(x, idx, w, counts) * probe).sum().backward()
        grads.append((x.grad, w.grad, layer.experts[3].down_proj.weight.grad))
    for name, mine, expected in zip(("x", "topk_weight", "experts[3].down_proj.weight"), *grads):
        assert mine is not None, (f"no gradient reached {name}: dispatch must stay differentiable (no torch.no_grad, "
                                  "no .detach(), no .item()) (teaching.md §Why it trains)")
        assert_close(mine, expected, atol=1e-5, what=f"gradient of {name} through dispatch",
                     hint="gather the weights with topk_weight.view(-1)[order] so each lands back in its own slot "
                          "(teaching.md §Why it trains)")


def test_bf16_input_float32_accumulation(impl, reference):
    got, want = _pair(impl, reference, seed=8)
    got.bfloat16()
    want.bfloat16()
    x = torch.randn(16, 64, generator=torch.Generator().manual_seed(9)).bfloat16()
    idx, weight, counts = _routing(16, 4, 16, seed=10)
    with torch.no_grad():
        out = got.dispatch(x, idx, weight, counts)
        expected = want.dispatch(x, idx, weight, counts)
    assert out.dtype == torch.bfloat16, f"output dtype {out.dtype}: cast the float32 sum back to x.dtype once, at the end"
    assert_close(out, expected, atol=1e-2, what="dispatch with bf16 activations",
                 hint="accumulate in a float32 buffer: expert(x[tokens]).float() * weights, index_add_, then "
                      ".to(x.dtype) (teaching.md §float32 accumulation)")
    assert (out.float() - expected.float()).abs().mean() < 1e-4, (
        "bf16 dispatch differs on average from the answer key: accumulate in float32, not in bf16 "
        "(teaching.md §float32 accumulation)")


def test_kimi_k2_routing_with_idle_experts(impl, reference):
    """One real Kimi-K2 dimension: 384 experts, 8 per token; most experts get no token."""
    got, want = _pair(impl, reference, seed=11, n_routed_experts=384, num_experts_per_tok=8, moe_intermediate_size=8)
    x = torch.randn(10, 64, generator=torch.Generator().manual_seed(12))
    idx, weight, counts = _routing(10, 8, 384, seed=13)
    assert counts.count(0) > 300
    with torch.no_grad():
        assert_close(got.dispatch(x, idx, weight, counts), want.dispatch(x, idx, weight, counts), atol=1e-6,
                     what="dispatch with 384 experts, top-8, 10 tokens",
                     hint="walk all 384 counts (zeros included) and skip experts with no tokens "
                          "(teaching.md §The code)")
