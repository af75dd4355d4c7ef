"""Graded tests for lesson 37: MoEGate.__init__ (weight and e_score_correction_bias) and reset_parameters."""

import math

import pytest
import torch
from kimi_course.testing import assert_close


def _gate(module, seed=0, **overrides):
    torch.manual_seed(seed)
    return module.MoEGate(module.KimiK2Config.tiny(**overrides))


@pytest.mark.parametrize("overrides", [{}, dict(hidden_size=96, n_routed_experts=24, num_experts_per_tok=6)])
def test_weight_shape_and_bound(impl, overrides):
    gate = _gate(impl, **overrides)
    config = impl.KimiK2Config.tiny(**overrides)
    shape = (config.n_routed_experts, config.hidden_size)
    assert isinstance(gate.weight, torch.nn.Parameter) and gate.weight.requires_grad, (
        "MoEGate.weight must be a trainable nn.Parameter (teaching.md §The code)")
    assert tuple(gate.weight.shape) == shape, (
        f"weight shape {tuple(gate.weight.shape)} != (n_routed_experts, hidden_size) = {shape}: one row per "
        "expert, like an nn.Linear(hidden, experts) weight (teaching.md §The code)")
    assert gate.weight.dtype == torch.float32, f"weight dtype {gate.weight.dtype}, expected float32"
    bound = 1 / math.sqrt(config.hidden_size)
    w = gate.weight.detach()
    assert w.abs().max().item() <= bound + 1e-7, (
        f"max |weight| {w.abs().max().item():.5f} > 1/sqrt(hidden) = {bound:.5f}: kaiming_uniform_ with a = sqrt(5) "
        "and fan_in = hidden_size (teaching.md §Why kaiming_uniform)")
    assert w.abs().max().item() > 0.9 * bound and abs(w.std().item() - bound / math.sqrt(3)) < 0.15 * bound, (
        f"weight std {w.std().item():.5f}, max {w.abs().max().item():.5f}: expected uniform on +-{bound:.5f} "
        f"(std {bound / math.sqrt(3):.5f}); is reset_parameters called from __init__? (teaching.md §Why kaiming_uniform)")


def test_weight_matches_reference_under_same_seed(impl, reference):
    assert_close(_gate(impl, seed=3).weight.detach(), _gate(reference, seed=3).weight.detach(), atol=0,
                 what="MoEGate(tiny).weight after torch.manual_seed(3)",
                 hint="create the weight, then call reset_parameters, which draws kaiming_uniform_(weight, "
                      "a=math.sqrt(5)) and nothing else (teaching.md §The code)")


def test_kimi_k2_sized_weight(impl, reference):
    config = impl.KimiK2Config.kimi_k2()
    torch.manual_seed(0)
    gate = impl.MoEGate(config)
    assert tuple(gate.weight.shape) == (384, 7168), f"Kimi-K2 gate weight {tuple(gate.weight.shape)} != (384, 7168)"
    torch.manual_seed(0)
    want = reference.MoEGate(reference.KimiK2Config.kimi_k2()).weight.detach()
    assert_close(gate.weight.detach(), want, atol=0, what="Kimi-K2 MoEGate weight (384, 7168), seed 0",
                 hint="bound 1/sqrt(7168) = 0.011811: fan_in is hidden_size (teaching.md §Why kaiming_uniform)")


def test_correction_bias_noaux_tc(impl):
    gate = _gate(impl)
    bias = getattr(gate, "e_score_correction_bias", None)
    assert bias is not None, "noaux_tc gate has no e_score_correction_bias (teaching.md §The code)"
    assert isinstance(bias, torch.nn.Parameter), (
        f"e_score_correction_bias is a {type(bias).__name__}: it must be an nn.Parameter (stored in the checkpoint "
        "and counted), not a buffer (teaching.md §Why the bias starts at zero)")
    assert not bias.requires_grad, ("e_score_correction_bias.requires_grad is True: it is moved by the balancing "
                                    "rule, never by gradients (teaching.md §Why the bias starts at zero)")
    assert tuple(bias.shape) == (16,) and bias.dtype == torch.float32, (
        f"bias shape {tuple(bias.shape)} dtype {bias.dtype}: expected (n_routed_experts,) = (16,) float32")
    assert torch.equal(bias, torch.zeros(16)), ("e_score_correction_bias is not all zeros: torch.empty leaves "
                                                "garbage; start from zeros (teaching.md §Why the bias starts at zero)")
    names = [n for n, _ in gate.named_parameters()]
    assert sorted(names) == ["e_score_correction_bias", "weight"], f"gate parameters {names}"


def test_greedy_gate_has_no_bias(impl):
    gate = _gate(impl, topk_method="greedy")
    names = [n for n, _ in gate.named_parameters()]
    assert not hasattr(gate, "e_score_correction_bias") and names == ["weight"], (
        f"greedy gate has parameters {names}: only topk_method == 'noaux_tc' creates e_score_correction_bias "
        "(teaching.md §The code)")


def test_reset_parameters_redraws_weight_only(impl, reference):
    gate, ref = _gate(impl), _gate(reference)
    with torch.no_grad():
        gate.e_score_correction_bias.fill_(0.25)
    before = gate.weight.detach().clone()
    torch.manual_seed(11)
    gate.reset_parameters()
    torch.manual_seed(11)
    ref.reset_parameters()
    assert not torch.equal(before, gate.weight.detach()), "reset_parameters did not change the weight"
    bound = 1 / math.sqrt(64)
    assert gate.weight.detach().abs().max().item() <= bound + 1e-7, (
        "after reset_parameters max |weight| exceeds 1/sqrt(hidden) (teaching.md §Why kaiming_uniform)")
    assert_close(gate.weight.detach(), ref.weight.detach(), atol=0, what="weight after reset_parameters, seed 11",
                 hint="reset_parameters draws kaiming_uniform_(weight, a=math.sqrt(5)) (teaching.md §Re-drawing)")
    assert torch.equal(gate.e_score_correction_bias, torch.full((16,), 0.25)), (
        "reset_parameters changed e_score_correction_bias: it re-draws the weight only (teaching.md §Re-drawing)")
