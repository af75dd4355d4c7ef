"""Graded tests for lesson 38: MoEGate.compute_scores (float32 logits x W^T, then sigmoid)."""

import pytest
import torch
from kimi_course.testing import assert_close

HINT = "cast both hidden_states and weight to float32, F.linear, then sigmoid (teaching.md §The code)"


def _pair(impl, reference, seed=0, **overrides):
    torch.manual_seed(seed)
    got = impl.MoEGate(impl.KimiK2Config.tiny(**overrides))
    torch.manual_seed(seed)
    want = reference.MoEGate(reference.KimiK2Config.tiny(**overrides))
    return got, want


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_compute_scores_tiny(impl, reference, dtype):
    gate, ref = _pair(impl, reference)
    x = torch.randn(10, 64, generator=torch.Generator().manual_seed(1)).to(dtype)
    got = gate.compute_scores(x)
    want = ref.compute_scores(x)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32, (
        f"compute_scores on {dtype} input returned {getattr(got, 'dtype', type(got))}: scores must stay float32 "
        "(teaching.md §What bf16 scoring would change)")
    assert_close(got, want, atol=1e-6, what=f"compute_scores(x {tuple(x.shape)} {dtype})", hint=HINT)
    assert bool(((got > 0) & (got < 1)).all()), "scores outside (0, 1): use sigmoid, not softmax or raw logits"


def test_scores_are_sigmoid_not_softmax(impl, reference):
    gate, ref = _pair(impl, reference, seed=4)
    x = torch.randn(5, 64, generator=torch.Generator().manual_seed(5))
    got = gate.compute_scores(x)
    sums = got.sum(-1)
    assert not torch.allclose(sums, torch.ones_like(sums), atol=1e-3), (
        "every row of the scores sums to 1: that is a softmax; Kimi-K2 scores each expert with an independent "
        "sigmoid (teaching.md §Sigmoid vs softmax)")
    assert_close(got, ref.compute_scores(x), atol=1e-6, what="compute_scores (fp32 input)", hint=HINT)


def test_bf16_weight_is_cast_to_float32(impl, reference):
    """A gate whose weight was cast to bf16 (model.to(torch.bfloat16)) must still score in float32."""
    gate, ref = _pair(impl, reference, seed=2)
    gate.to(torch.bfloat16)
    ref.to(torch.bfloat16)
    x = torch.randn(7, 64, generator=torch.Generator().manual_seed(3)).bfloat16()
    got = gate.compute_scores(x)
    assert_close(got, ref.compute_scores(x), atol=1e-6, what="compute_scores with a bf16 weight and bf16 input",
                 hint="cast the weight with .float() as well as the input: F.linear needs both in float32 "
                      "(teaching.md §The code)")


def test_compute_scores_kimi_k2_hidden(impl, reference):
    """One real Kimi-K2 dimension: hidden 7168 (with 8 experts to stay fast), bf16 tokens."""
    overrides = dict(hidden_size=7168, n_routed_experts=8, num_experts_per_tok=2)
    gate, ref = _pair(impl, reference, seed=7, **overrides)
    x = torch.randn(16, 7168, generator=torch.Generator().manual_seed(8)).bfloat16()
    got = gate.compute_scores(x)
    want = ref.compute_scores(x)
    assert tuple(got.shape) == (16, 8), f"scores shape {tuple(got.shape)} != (tokens, n_routed_experts) = (16, 8)"
    assert_close(got, want, atol=1e-6, what="compute_scores at hidden 7168 (bf16 tokens)",
                 hint="a bf16 matmul over 7168 terms is off by ~1e-3: " + HINT)


def test_scores_stay_float32_under_bf16_autocast(impl):
    """A bf16 training run (lesson 85) wraps the forward in torch.autocast, which recasts every linear to
    bf16 however its inputs were cast; the router must switch autocast off for its own product."""
    torch.manual_seed(0)
    gate = impl.MoEGate(impl.KimiK2Config.tiny())
    x = torch.randn(64, 64, generator=torch.Generator().manual_seed(7)) * 4
    exact = torch.sigmoid(x.double() @ gate.weight.detach().double().T)        # independent float64 scores
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = gate.compute_scores(x)
    assert got.dtype == torch.float32, f"compute_scores under autocast returned {got.dtype}: scores stay float32"
    assert_close(got.double(), exact, atol=1e-6,
                 what="compute_scores(x) inside torch.autocast('cpu', dtype=torch.bfloat16) vs float64 scores",
                 hint="inside autocast, .float() does not keep F.linear in float32: wrap the product in "
                      "torch.autocast(device_type, enabled=False) (teaching.md §Under autocast)")
