"""Graded tests for lesson 61: KimiK2PreTrainedModel._init_weights (Linear and MoEGate branches) and init_weights."""

import math

import torch
from torch import nn
from kimi_course.testing import assert_close


def _init(package, config, module, seed):
    torch.manual_seed(seed)
    package.KimiK2PreTrainedModel(config)._init_weights(module)
    return module


def test_linear_weight_normal_and_bias_zero(impl, reference):
    got = nn.Linear(7168, 96, bias=True)       # one real Kimi-K2 dimension: fan_in 7168
    want = nn.Linear(7168, 96, bias=True)
    with torch.no_grad():
        for layer in (got, want):
            layer.weight.fill_(3.0)
            layer.bias.fill_(3.0)
    _init(impl, impl.KimiK2Config.tiny(), got, seed=0)
    _init(reference, reference.KimiK2Config.tiny(), want, seed=0)
    assert_close(got.bias.detach(), torch.zeros(96), atol=0.0, what="Linear bias after _init_weights",
                 hint="zero the bias with nn.init.zeros_ (teaching.md §The code)")
    std = got.weight.std().item()
    assert abs(std - 0.02) < 5e-4, (f"Linear weight std {std:.5f} after _init_weights, expected initializer_range "
                                    "0.02: nn.init.normal_(weight, mean=0.0, std=std) (teaching.md §The rule)")
    assert_close(got.weight.detach(), want.weight.detach(), atol=0.0, what="Linear(7168 -> 96) weight, seed 0",
                 hint="exactly one nn.init.normal_ draw on the weight; no extra random calls (teaching.md §The code)")


def test_linear_uses_initializer_range_and_allows_no_bias(impl, reference):
    layer = nn.Linear(2048, 64, bias=False)
    _init(impl, impl.KimiK2Config.tiny(initializer_range=0.05), layer, seed=1)
    std = layer.weight.std().item()
    assert abs(std - 0.05) < 1.5e-3, (f"with initializer_range=0.05 the Linear std is {std:.4f}: read "
                                      "config.initializer_range (teaching.md §The code)")


def test_gate_keeps_kaiming_and_zero_bias(impl, reference):
    got, want = impl.MoEGate(impl.KimiK2Config.tiny()), reference.MoEGate(reference.KimiK2Config.tiny())
    with torch.no_grad():
        for gate in (got, want):
            gate.weight.fill_(3.0)
            gate.e_score_correction_bias.fill_(0.3)
    _init(impl, impl.KimiK2Config.tiny(), got, seed=2)
    _init(reference, reference.KimiK2Config.tiny(), want, seed=2)
    assert_close(got.e_score_correction_bias.detach(), torch.zeros(16), atol=0.0,
                 what="e_score_correction_bias after _init_weights",
                 hint="the routing bias starts at zero (teaching.md §The code)")
    bound = 1 / math.sqrt(64)
    assert got.weight.abs().max().item() <= bound, (
        f"gate weight reaches {got.weight.abs().max().item():.4f} > 1/sqrt(64) = {bound}: the gate keeps its kaiming "
        "uniform init (module.reset_parameters()), not normal(0, 0.02) (teaching.md §The rule)")
    assert_close(got.weight.detach(), want.weight.detach(), atol=0.0, what="gate weight after _init_weights, seed 2",
                 hint="call module.reset_parameters() (teaching.md §The code)")


def test_init_weights_reaches_every_module(impl, reference):
    """Fill every parameter of a tiny model with 7, then init_weights() under a fixed seed, in both packages."""
    models = []
    for package in (impl, reference):
        torch.manual_seed(0)
        model = package.KimiK2ForCausalLM(package.KimiK2Config.tiny(attention_bias=True))
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(7.0)
        torch.manual_seed(3)
        model.init_weights()
        models.append(model.state_dict())
    got, want = models
    assert set(got) == set(want)
    for name, tensor in want.items():
        assert_close(got[name], tensor, atol=0.0, what=f"{name} after init_weights() (seed 3, all params were 7)",
                     hint="init_weights = self.apply(self._init_weights): every submodule, children first "
                          "(teaching.md §The code)")


def test_fresh_model_matches_reference(impl, reference):
    torch.manual_seed(4)
    got = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny()).state_dict()
    torch.manual_seed(4)
    want = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny()).state_dict()
    for name, tensor in want.items():
        assert_close(got[name], tensor, atol=0.0, what=f"{name} of a fresh tiny KimiK2ForCausalLM (seed 4)",
                     hint="the model's constructor ends with init_weights(): teaching.md §The code")


def test_meta_device_builds_without_drawing(impl, reference):
    with torch.device("meta"):
        model = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny(hidden_size=7168, num_hidden_layers=1))
    weight = model.model.layers[0].self_attn.q_a_proj.weight
    assert weight.is_meta and tuple(weight.shape) == (48, 7168), (
        "building on the meta device must work: _init_weights returns before drawing (teaching.md §The code)")
