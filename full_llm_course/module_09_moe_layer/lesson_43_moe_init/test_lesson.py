"""Graded tests for lesson 43: DeepseekV3MoE.__init__ (routed experts, gate, shared expert)."""

import pytest
import torch
from kimi_course.testing import assert_close


pytestmark = pytest.mark.usefixtures("one_thread")    # many tiny matmuls: thread hand-offs cost more than they save


def _pair(impl, reference, seed=0, **overrides):
    torch.manual_seed(seed)
    got = impl.DeepseekV3MoE(impl.KimiK2Config.tiny(**overrides))
    torch.manual_seed(seed)
    want = reference.DeepseekV3MoE(reference.KimiK2Config.tiny(**overrides))
    return got, want


def _shapes(module):
    return {name: tuple(p.shape) for name, p in module.named_parameters()}


@pytest.mark.parametrize("overrides", [{}, dict(n_routed_experts=24, num_experts_per_tok=6, moe_intermediate_size=20)])
def test_parameter_names_and_shapes(impl, reference, overrides):
    got, want = _pair(impl, reference, **overrides)
    experts = getattr(got, "experts", None)
    assert isinstance(experts, torch.nn.ModuleList), (
        f"self.experts is {type(experts).__name__}: use nn.ModuleList so every expert is registered (saved, "
        "trained, moved by .to()) and named experts.0, experts.1, ... (teaching.md §The code)")
    assert len(experts) == len(want.experts), (
        f"{len(experts)} routed experts, expected n_routed_experts = {len(want.experts)} (teaching.md §The code)")
    assert isinstance(getattr(got, "gate", None), impl.MoEGate), "self.gate must be a MoEGate (teaching.md §The code)"
    got_shapes, want_shapes = _shapes(got), _shapes(want)
    missing, extra = sorted(set(want_shapes) - set(got_shapes)), sorted(set(got_shapes) - set(want_shapes))
    assert not missing and not extra, (
        f"parameter names differ from the checkpoint layout: missing {missing[:4]}, unexpected {extra[:4]} "
        "(experts.N.*, gate.*, shared_experts.*: teaching.md §The code)")
    wrong = {n: (got_shapes[n], want_shapes[n]) for n in want_shapes if got_shapes[n] != want_shapes[n]}
    assert not wrong, (f"wrong shapes (got, expected): {dict(list(wrong.items())[:3])}: experts are "
                       "moe_intermediate_size wide, the shared expert moe_intermediate_size * n_shared_experts "
                       "(teaching.md §Shapes)")
    assert got.num_experts_per_tok == want.num_experts_per_tok, "self.num_experts_per_tok = config.num_experts_per_tok"


def test_initial_values_match_reference_under_same_seed(impl, reference):
    got, want = _pair(impl, reference, seed=43)
    got_state, want_state = got.state_dict(), want.state_dict()
    for name in ("experts.0.gate_proj.weight", "experts.15.down_proj.weight", "gate.weight",
                 "shared_experts.up_proj.weight"):
        assert name in got_state, f"no parameter {name} (teaching.md §The code)"
        assert_close(got_state[name], want_state[name], atol=0, what=f"{name} after torch.manual_seed(43)",
                     hint="build the experts first, in index order, then the gate, then the shared expert: the "
                          "draw order decides the values (teaching.md §The code)")


def test_shared_expert_width_and_none(impl, reference):
    two, want_two = _pair(impl, reference, n_shared_experts=2)
    assert two.shared_experts is not None and two.shared_experts.intermediate_size == 64, (
        f"n_shared_experts=2, moe_intermediate_size=32: shared expert width "
        f"{getattr(two.shared_experts, 'intermediate_size', None)}, expected 64, one MLP of width "
        "moe_intermediate_size * n_shared_experts (teaching.md §Why one wide shared MLP)")
    assert _shapes(two) == _shapes(want_two), "n_shared_experts=2: parameter shapes differ from the answer key"
    none, _ = _pair(impl, reference, n_shared_experts=None)
    assert hasattr(none, "shared_experts") and none.shared_experts is None, (
        "n_shared_experts=None: set self.shared_experts = None (forward tests it) (teaching.md §The code)")
    assert not any(n.startswith("shared_experts") for n, _ in none.named_parameters())


def test_kimi_k2_sizes_on_meta_device(impl):
    config = impl.KimiK2Config.kimi_k2()
    with torch.device("meta"):
        moe = impl.DeepseekV3MoE(config)
    assert len(moe.experts) == 384, f"{len(moe.experts)} experts, expected 384"
    assert tuple(moe.experts[0].gate_proj.weight.shape) == (2048, 7168), (
        f"Kimi-K2 expert gate_proj {tuple(moe.experts[0].gate_proj.weight.shape)} != (2048, 7168): experts use "
        "moe_intermediate_size, not intermediate_size (teaching.md §Shapes)")
    total = sum(p.numel() for p in moe.parameters())
    assert total == 16_958_226_816, (f"one Kimi-K2 MoE layer has {total:,} parameters, expected 16,958,226,816 "
                                     "(teaching.md §What one layer costs)")


def test_forward_with_reference_weights(impl, reference):
    """The constructor's modules must be the ones forward (answer key) uses, with the checkpoint's names."""
    got, want = _pair(impl, reference, seed=1)
    with torch.no_grad():
        want.gate.e_score_correction_bias.normal_(0, 0.05, generator=torch.Generator().manual_seed(2))
    got.load_state_dict(want.state_dict())
    x = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert_close(got(x), want(x), atol=1e-6, what="DeepseekV3MoE(tiny)(x) with the answer key's weights",
                     hint="experts, gate and shared_experts as in teaching.md §The code")
