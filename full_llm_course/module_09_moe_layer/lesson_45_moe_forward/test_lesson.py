"""Graded tests for lesson 45: DeepseekV3MoE.forward (gate, bincount into tokens_per_expert, dispatch, shared expert)."""

import pytest
import torch
from kimi_course.testing import assert_close


pytestmark = pytest.mark.usefixtures("one_thread")    # many tiny matmuls: thread hand-offs cost more than they save


def _pair(impl, reference, seed=0, bias=True, **overrides):
    torch.manual_seed(seed)
    want = reference.DeepseekV3MoE(reference.KimiK2Config.tiny(**overrides))
    if bias:
        with torch.no_grad():
            want.gate.e_score_correction_bias.normal_(0, 0.05, generator=torch.Generator().manual_seed(seed + 100))
    got = impl.DeepseekV3MoE(impl.KimiK2Config.tiny(**overrides))
    got.load_state_dict(want.state_dict())
    return got, want


@pytest.mark.parametrize("overrides", [{}, dict(n_group=4, topk_group=2), dict(n_shared_experts=None)],
                         ids=["kimi-routing", "groups", "no-shared-expert"])
def test_forward_matches_reference(impl, reference, overrides):
    got, want = _pair(impl, reference, **overrides)
    x = torch.randn(3, 7, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = got(x)
        assert out.shape == x.shape, (f"output shape {tuple(out.shape)} != input shape {tuple(x.shape)}: view the "
                                      "dispatched (b*s, H) back to (b, s, H) (teaching.md §The code)")
        assert_close(out, want(x), atol=1e-6, what=f"DeepseekV3MoE(tiny, {overrides})(x)",
                     hint="gate -> bincount(minlength=E) -> dispatch(..., counts.tolist()) -> view -> + shared "
                          "expert when there is one (teaching.md §The code)")


def test_forward_equals_the_block_formula(impl, reference):
    """y_t = sum_j w_tj FFN_e(t,j)(x_t) + FFN_shared(x_t), computed here with explicit loops."""
    got, _ = _pair(impl, reference, seed=2)
    x = torch.randn(2, 4, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = got(x)
        idx, weight = got.gate(x)
        flat = x.reshape(-1, 64)
        rows = [sum(weight[t, j] * got.experts[int(idx[t, j])](flat[t]) for j in range(idx.shape[1]))
                + got.shared_experts(flat[t]) for t in range(flat.shape[0])]
        expected = torch.stack(rows).view(2, 4, 64)
    assert_close(out, expected, atol=1e-5, what="forward vs routed sum + shared expert, token by token",
                 hint="add shared_experts(hidden_states) to the routed output (teaching.md §The code)")


def test_tokens_per_expert_counts_and_accumulates(impl, reference):
    got, _ = _pair(impl, reference, seed=4)
    xs = [torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(s)) for s in (5, 6)]
    expected = torch.zeros(16, dtype=torch.long)
    for x in xs:
        with torch.no_grad():
            got(x)
            idx, _ = got.gate(x)
        expected += torch.bincount(idx.view(-1), minlength=16)
    counter = got.tokens_per_expert
    assert counter.dtype == torch.long and counter.shape == (16,), (
        f"tokens_per_expert is {counter.dtype} {tuple(counter.shape)}; add an int64 (E,) bincount to it")
    assert int(counter.sum()) == 2 * 10 * 4, (
        f"tokens_per_expert sums to {int(counter.sum())} after two forwards of 10 tokens with top-4, expected 80: "
        "ADD each forward's counts (+=), do not replace or reset them (teaching.md §The counter)")
    assert torch.equal(counter, expected), (
        f"tokens_per_expert {counter.tolist()} != accumulated bincount of topk_idx {expected.tolist()} "
        "(teaching.md §The code)")
    assert "tokens_per_expert" not in got.state_dict(), "tokens_per_expert must stay out of the state dict"


def test_gradients_reach_gate_experts_and_shared(impl, reference):
    got, want = _pair(impl, reference, seed=7)
    x = torch.randn(2, 6, 64, generator=torch.Generator().manual_seed(8))
    probe = torch.randn(2, 6, 64, generator=torch.Generator().manual_seed(9))
    got.train()
    want.train()
    for layer in (got, want):
        (layer(x) * probe).sum().backward()
    for name in ("gate.weight", "shared_experts.down_proj.weight", "experts.3.gate_proj.weight"):
        mine = got.get_parameter(name).grad
        assert mine is not None, f"no gradient reached {name}: forward must stay differentiable (teaching.md §Training mode)"
        assert_close(mine, want.get_parameter(name).grad, atol=1e-5, what=f"gradient of {name}",
                     hint="same forward in training and evaluation mode (teaching.md §Training mode)")


def test_bf16_activations(impl, reference):
    got, want = _pair(impl, reference, seed=10)
    for layer in (got, want):
        layer.bfloat16()
        layer.gate.float()
    x = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(11)).bfloat16()
    with torch.no_grad():
        out = got(x)
    assert out.dtype == torch.bfloat16, f"bf16 input gave a {out.dtype} output"
    assert_close(out, want(x), atol=1e-2, what="forward with bf16 activations and a float32 gate",
                 hint="teaching.md §The code")

