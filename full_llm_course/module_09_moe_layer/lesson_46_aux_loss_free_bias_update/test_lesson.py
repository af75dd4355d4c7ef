"""Graded tests for lesson 46: MoEGate.update_correction_bias (the auxiliary-loss-free sign rule)."""

import pytest
import torch
from kimi_course.testing import assert_close


pytestmark = pytest.mark.usefixtures("one_thread")    # many tiny matmuls: thread hand-offs cost more than they save


def _gate(module, **overrides):
    torch.manual_seed(0)
    return module.MoEGate(module.KimiK2Config.tiny(**overrides))


def test_sign_rule_with_ties(impl):
    gate = _gate(impl, n_routed_experts=4, num_experts_per_tok=2)
    gate.update_correction_bias(torch.tensor([5, 1, 3, 3]), speed=0.01)      # mean 3: two experts exactly at it
    expected = torch.tensor([-0.01, 0.01, 0.0, 0.0])
    assert_close(gate.e_score_correction_bias.detach(), expected, atol=1e-7,
                 what="bias after one update with load [5, 1, 3, 3] and speed 0.01",
                 hint="bias += speed * sign(mean load - load): overloaded experts go DOWN, an expert exactly at the "
                      "mean does not move (teaching.md §The rule)")


def test_random_counts_and_repeated_updates_match_reference(impl, reference):
    gate, want = _gate(impl), _gate(reference)
    start = 0.05 * torch.randn(16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        gate.e_score_correction_bias.copy_(start)
        want.e_score_correction_bias.copy_(start)
    generator = torch.Generator().manual_seed(2)
    expected = start.clone()
    for step in range(5):
        counts = torch.randint(0, 40, (16,), generator=generator)            # int64, mean usually not an integer
        gate.update_correction_bias(counts, speed=0.001)
        want.update_correction_bias(counts, speed=0.001)
        load = counts.double()
        expected += 0.001 * torch.sign(load.mean() - load).float()
    assert_close(gate.e_score_correction_bias.detach(), want.e_score_correction_bias.detach(), atol=1e-7,
                 what="bias after 5 updates on random int64 counts", hint="teaching.md §The code")
    assert_close(gate.e_score_correction_bias.detach(), expected, atol=1e-6,
                 what="bias after 5 updates vs the sign rule computed in the test",
                 hint="add to the existing bias, do not overwrite it; compare each load with the mean load "
                      "(teaching.md §The rule)")


def test_update_is_in_place_float32_and_outside_autograd(impl):
    gate = _gate(impl)
    bias = gate.e_score_correction_bias
    gate.update_correction_bias(torch.arange(16), speed=0.001)
    assert gate.e_score_correction_bias is bias, (
        "update_correction_bias replaced the bias Parameter: update it in place (+=) so the gate and the "
        "checkpoint keep the same tensor (teaching.md §The code)")
    assert isinstance(bias, torch.nn.Parameter) and not bias.requires_grad, (
        "e_score_correction_bias must stay a Parameter with requires_grad=False (teaching.md §The code)")
    assert bias.dtype == torch.float32 and bias.grad_fn is None, f"bias dtype {bias.dtype}, grad_fn {bias.grad_fn}"
    assert float(bias.abs().sum()) > 0, "the update did not change the bias"


def test_update_correction_biases_over_the_model(impl):
    config = impl.KimiK2Config.tiny()
    torch.manual_seed(0)
    model = impl.KimiK2ForCausalLM(config)
    ids = torch.randint(0, config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        model(ids)
    layers = impl.balance.moe_layers(model)
    before = [layer.gate.e_score_correction_bias.detach().clone() for layer in layers]
    load = torch.stack([layer.tokens_per_expert.clone() for layer in layers])
    used = impl.balance.update_correction_biases(model, speed=0.002)
    assert torch.equal(used, load)
    for i, (layer, old) in enumerate(zip(layers, before)):
        counts = load[i].double()
        expected = old + 0.002 * torch.sign(counts.mean() - counts).float()
        assert_close(layer.gate.e_score_correction_bias.detach(), expected, atol=1e-7,
                     what=f"bias of MoE layer {i} after update_correction_biases(model, 0.002)",
                     hint="each layer's gate.update_correction_bias gets that layer's tokens_per_expert "
                          "(teaching.md §The code)")
    assert int(impl.balance.expert_load(model).sum()) == 0, "counters must be zero after the update"


def test_balances_a_skewed_router_without_touching_the_weights(impl):
    config = impl.KimiK2Config.tiny(n_routed_experts=8, num_experts_per_tok=2)
    gate = _gate(impl, n_routed_experts=8, num_experts_per_tok=2)
    with torch.no_grad():
        gate.weight[:2] += 0.6 * torch.ones(64) / 8
    tokens = torch.randn(1, 512, 64, generator=torch.Generator().manual_seed(4)) + 0.3

    def load():
        with torch.no_grad():
            idx, _ = gate(tokens)
        return torch.bincount(idx.view(-1), minlength=8)

    def max_violation(counts):
        counts = counts.float()
        return ((counts.max() - counts.mean()) / counts.mean()).item()

    first = max_violation(load())
    for _ in range(300):
        gate.update_correction_bias(load(), speed=0.005)
    last = max_violation(load())
    assert first > 1.0 and last < 0.25 * first, (
        f"MaxVio went from {first:.3f} to {last:.3f} after 300 updates; it should fall below a quarter: is the "
        "sign right (overloaded experts lose bias)? (teaching.md §Experiment)")
    with torch.no_grad():
        idx, weight = gate(tokens)
        scores = torch.sigmoid(tokens.view(-1, 64) @ gate.weight.T).gather(1, idx)
    assert_close(weight, scores / scores.sum(-1, keepdim=True) * config.routed_scaling_factor, atol=1e-6,
                 what="mixing weights after 300 bias updates",
                 hint="the update only changes e_score_correction_bias (teaching.md §The weights are still the "
                      "unbiased scores)")
