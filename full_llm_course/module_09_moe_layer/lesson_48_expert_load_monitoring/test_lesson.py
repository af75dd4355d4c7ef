"""Graded tests for lesson 48: kimik2.balance.expert_load and max_violation (MaxVio)."""

import pytest
import torch
from kimi_course.testing import assert_close


pytestmark = pytest.mark.usefixtures("one_thread")    # many tiny matmuls: thread hand-offs cost more than they save


def test_max_violation_on_hand_made_loads(impl):
    loads = torch.tensor([[4, 4, 4, 4], [8, 0, 4, 4], [16, 0, 0, 0], [5, 3, 4, 4]])   # int64, like expert_load
    got = impl.balance.max_violation(loads)
    # (max - mean) / mean per row: means 4, 4, 4, 4
    expected = torch.tensor([0.0, (8 - 4) / 4, (16 - 4) / 4, (5 - 4) / 4])
    assert_close(got, expected, atol=1e-6, what="max_violation of four hand-made loads (one per row)",
                 hint="(max - mean) / mean along the LAST axis, computed in float (teaching.md §MaxVio)")


def test_max_violation_one_layer_and_reference(impl, reference):
    generator = torch.Generator().manual_seed(0)
    table = torch.randint(0, 50, (5, 384), generator=generator)
    assert_close(impl.balance.max_violation(table), reference.balance.max_violation(table), atol=1e-6,
                 what="max_violation of a random (5, 384) int64 load table", hint="teaching.md §The code")
    single = impl.balance.max_violation(table[2])
    assert single.dim() == 0, f"a single (E,) load must give a scalar, got shape {tuple(single.shape)}"
    assert_close(single, reference.balance.max_violation(table[2]), atol=1e-6, what="max_violation of one (384,) load",
                 hint="reduce along dim=-1 (teaching.md §The code)")


def test_max_violation_worst_case_is_e_over_k_minus_one(impl):
    """Kimi-K2: 100 tokens all pick experts 0-7 of 384."""
    load = torch.zeros(384, dtype=torch.long)
    load[:8] = 100
    got = impl.balance.max_violation(load).item()
    assert abs(got - 47.0) < 1e-4, (f"MaxVio {got:.4f} when every token picks the same 8 of 384 experts, expected "
                                    "E/k - 1 = 47 (teaching.md §MaxVio)")


def _model(impl):
    config = impl.KimiK2Config.tiny()
    torch.manual_seed(0)
    return impl.KimiK2ForCausalLM(config).eval(), config


def test_expert_load_after_a_forward(impl):
    model, config = _model(impl)
    layers = impl.balance.moe_layers(model)
    inputs = {}
    hooks = [layer.register_forward_pre_hook(lambda m, args, i=i: inputs.__setitem__(i, args[0]))
             for i, layer in enumerate(layers)]
    ids = torch.randint(0, config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model(ids)
        for hook in hooks:
            hook.remove()
        expected = torch.stack([torch.bincount(layer.gate(inputs[i])[0].view(-1), minlength=16)
                                for i, layer in enumerate(layers)])
    load = impl.balance.expert_load(model)
    assert isinstance(load, torch.Tensor) and load.shape == (3, 16), (
        f"expert_load gave {type(load).__name__} {tuple(getattr(load, 'shape', ()))}, expected a (MoE layers, E) = "
        "(3, 16) tensor: stack every MoE layer's tokens_per_expert (teaching.md §The code)")
    assert load.dtype == torch.long, f"expert_load dtype {load.dtype}, expected int64 counts"
    assert torch.equal(load, expected), (
        f"expert_load row sums {load.sum(-1).tolist()} (expected {expected.sum(-1).tolist()}): row l must be the "
        "tokens_per_expert of the l-th MoE layer, in layer order (teaching.md §The code)")


def test_expert_load_is_a_snapshot_and_reset_clears_it(impl):
    model, config = _model(impl)
    ids = torch.randint(0, config.vocab_size, (2, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        model(ids)
    first = impl.balance.expert_load(model)
    kept = first.clone()
    with torch.no_grad():
        model(ids)
    assert torch.equal(first, kept), ("the table returned by expert_load changed after another forward: return a copy "
                                      "(torch.stack copies), not a view of the live counters (teaching.md §The code)")
    assert torch.equal(impl.balance.expert_load(model), 2 * kept), "the live counters should have doubled"
    impl.balance.reset_expert_load(model)
    assert int(impl.balance.expert_load(model).sum()) == 0, "after reset_expert_load every count is 0"
