"""Graded tests for lesson 34: DeepseekV3MLP.__init__ in mlp.py (sizes, three bias-free Linears, act_fn)."""

import pytest
import torch

from kimi_course.testing import assert_close

# label -> (preset, config overrides, constructor keyword arguments given as config field names or ints)
CASES = {
    "tiny dense MLP": ("tiny", {}, {}),
    "tiny expert (intermediate_size=moe_intermediate_size)": ("tiny", {}, {"intermediate_size": "moe_intermediate_size"}),
    "tiny, explicit hidden_size=48 and intermediate_size=24": ("tiny", {}, {"hidden_size": 48, "intermediate_size": 24}),
    "tiny, explicit hidden_size=40 only": ("tiny", {}, {"hidden_size": 40}),
    "Kimi-K2 dense MLP (meta device)": ("kimi_k2", {}, {}),
    "Kimi-K2 expert (meta device)": ("kimi_k2", {}, {"intermediate_size": "moe_intermediate_size"}),
}


def _build(module, preset, overrides, kwargs):
    config = getattr(module.KimiK2Config, preset)(**overrides)
    resolved = {k: getattr(config, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    if preset == "tiny":
        return module.DeepseekV3MLP(config, **resolved)
    with torch.device("meta"):
        return module.DeepseekV3MLP(config, **resolved)


@pytest.mark.parametrize("label", list(CASES))
def test_sizes_and_linear_shapes(impl, reference, label):
    preset, overrides, kwargs = CASES[label]
    got, want = _build(impl, preset, overrides, kwargs), _build(reference, preset, overrides, kwargs)
    for attr in ("hidden_size", "intermediate_size"):
        assert getattr(got, attr, None) == getattr(want, attr), (
            f"{label}: self.{attr} = {getattr(got, attr, None)!r}, expected {getattr(want, attr)}: an argument left "
            "as None falls back to config.hidden_size / config.intermediate_size (teaching.md §The constructor)")
    for name in ("gate_proj", "up_proj", "down_proj"):
        layer = getattr(got, name, None)
        assert isinstance(layer, torch.nn.Linear), (
            f"{label}: self.{name} is {type(layer).__name__}, expected nn.Linear (teaching.md §The constructor)")
        expected = getattr(want, name).weight.shape
        assert layer.weight.shape == expected, (
            f"{label}: {name}.weight has shape {tuple(layer.weight.shape)}, expected {tuple(expected)}: nn.Linear(in, out) "
            "stores (out, in); gate/up map hidden -> intermediate, down maps back (teaching.md §Shapes)")
        assert layer.bias is None, (f"{label}: {name} has a bias; build it with bias=False "
                                    "(teaching.md §No biases)")
    names = sorted(n for n, _ in got.named_parameters())
    assert names == sorted(n for n, _ in want.named_parameters()), (
        f"{label}: parameters {names}, expected only gate_proj.weight, up_proj.weight and down_proj.weight "
        "(the checkpoint uses these names; teaching.md §The constructor)")


@pytest.mark.parametrize("act", ["silu", "gelu", "relu", "gelu_pytorch_tanh"])
def test_act_fn_matches_hidden_act(impl, reference, act):
    z = torch.randn(4, 257, generator=torch.Generator().manual_seed(34)) * 3
    z[0, :7] = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    got = impl.DeepseekV3MLP(impl.KimiK2Config.tiny(hidden_act=act)).act_fn
    want = reference.DeepseekV3MLP(reference.KimiK2Config.tiny(hidden_act=act)).act_fn
    assert callable(got), f"hidden_act={act!r}: self.act_fn is {got!r}, not a function (teaching.md §act_fn)"
    hint = ("look the function up in ACTIVATIONS by config.hidden_act; 'gelu' is the exact erf GELU and "
            "'gelu_pytorch_tanh' the tanh approximation (teaching.md §act_fn)")
    assert_close(got(z), want(z), atol=1e-6, what=f"act_fn for hidden_act={act!r}", hint=hint)
    assert_close(got(z.bfloat16()), want(z.bfloat16()), atol=0.0, what=f"act_fn for hidden_act={act!r} in bf16",
                 hint=hint)
