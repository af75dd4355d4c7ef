"""Graded tests for lesson 59: KimiK2Config.is_moe_layer and DeepseekV3DecoderLayer.__init__."""

import pytest
import torch
from kimi_course.testing import assert_close

MAP_CASES = {
    "Kimi-K2": ("kimi_k2", {}),
    "DeepSeek-V3": ("deepseek_v3", {}),
    "tiny": ("tiny", {}),
    "tiny, 9 layers, first_k_dense_replace=2, moe_layer_freq=3": (
        "tiny", dict(num_hidden_layers=9, first_k_dense_replace=2, moe_layer_freq=3)),
    "tiny, first_k_dense_replace=0": ("tiny", dict(first_k_dense_replace=0)),
    "tiny, no routed experts (a dense model)": ("tiny", dict(n_routed_experts=None)),
}


def _config(package, preset, overrides):
    return getattr(package.KimiK2Config, preset)(**overrides)


def _layer_map(config):
    return "".join("M" if config.is_moe_layer(i) else "D" for i in range(config.num_hidden_layers))


@pytest.mark.parametrize("label", list(MAP_CASES))
def test_is_moe_layer_map(impl, reference, label):
    preset, overrides = MAP_CASES[label]
    got = _layer_map(_config(impl, preset, overrides))
    want = _layer_map(_config(reference, preset, overrides))
    assert got == want, (f"{label}: layer map {got} != expected {want} (D dense, M MoE). A layer is MoE iff the "
                         "config has routed experts, layer_idx >= first_k_dense_replace and layer_idx % "
                         "moe_layer_freq == 0 (teaching.md §The rule)")


def _pair(impl, reference, layer_idx, seed=0, **overrides):
    torch.manual_seed(seed)
    got = impl.DeepseekV3DecoderLayer(impl.KimiK2Config.tiny(**overrides), layer_idx)
    torch.manual_seed(seed)
    want = reference.DeepseekV3DecoderLayer(reference.KimiK2Config.tiny(**overrides), layer_idx)
    return got, want


@pytest.mark.parametrize("layer_idx", [0, 1, 3])
def test_layer_state_dict_matches_reference(impl, reference, layer_idx):
    got, want = _pair(impl, reference, layer_idx, seed=layer_idx)
    kind = type(want.mlp).__name__
    assert type(got.mlp).__name__ == kind, (
        f"tiny layer {layer_idx}: mlp is {type(got.mlp).__name__}, expected {kind} (the tiny config is DMMM: "
        "layer 0 dense) - choose with config.is_moe_layer(layer_idx) (teaching.md §The code)")
    got_sd, want_sd = got.state_dict(), want.state_dict()
    missing, extra = sorted(set(want_sd) - set(got_sd)), sorted(set(got_sd) - set(want_sd))
    assert not missing and not extra, (
        f"tiny layer {layer_idx}: state_dict names differ: missing {missing[:4]}, unexpected {extra[:4]}. "
        "The attribute names are the checkpoint's: self_attn, mlp, input_layernorm, post_attention_layernorm "
        "(teaching.md §The code)")
    for name, tensor in want_sd.items():
        assert_close(got_sd[name], tensor, atol=0.0, what=f"tiny layer {layer_idx}: {name} (seed {layer_idx})",
                     hint="create self_attn, then mlp, then the two norms: the creation order is the order of the "
                          "random draws (tasks.md §Coding task)")


def test_norms_read_rms_norm_eps_and_attention_gets_its_index(impl, reference):
    got, _ = _pair(impl, reference, 2, rms_norm_eps=1e-5)
    for name in ("input_layernorm", "post_attention_layernorm"):
        norm = getattr(got, name)
        assert norm.variance_epsilon == 1e-5, (
            f"{name}.variance_epsilon = {norm.variance_epsilon} with rms_norm_eps=1e-5: pass "
            "eps=config.rms_norm_eps (teaching.md §The code)")
        assert norm.weight.shape == (64,), f"{name}.weight has shape {tuple(norm.weight.shape)}, expected (64,)"
    assert got.self_attn.layer_idx == 2, (
        f"self_attn.layer_idx = {got.self_attn.layer_idx}, expected 2: pass layer_idx to DeepseekV3Attention so "
        "it uses its own KV-cache slot (teaching.md §The code)")
    assert got.hidden_size == 64, f"hidden_size = {got.hidden_size}, expected config.hidden_size = 64"


def test_deepseek_style_dense_layers_forward(impl, reference):
    """first_k_dense_replace=3 as in DeepSeek-V3: layer 2 dense, layer 3 MoE; the built layers run."""
    x = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(7))
    for idx, kind in ((2, "DeepseekV3MLP"), (3, "DeepseekV3MoE")):
        got, want = _pair(impl, reference, idx, seed=10 + idx, first_k_dense_replace=3, num_hidden_layers=5)
        assert type(got.mlp).__name__ == kind, (
            f"first_k_dense_replace=3: layer {idx} has {type(got.mlp).__name__}, expected {kind} "
            "(teaching.md §The rule)")
        with torch.no_grad():
            assert_close(got(x), want(x), atol=1e-6, what=f"layer {idx} output (first_k_dense_replace=3)",
                         hint="same modules, same creation order as the answer key (teaching.md §The code)")


def test_kimi_k2_dense_layer_shapes_on_meta(impl, reference):
    """One real Kimi-K2 layer (layer 0, dense, hidden 7168, intermediate 18432), shapes only."""
    with torch.device("meta"):
        got = impl.DeepseekV3DecoderLayer(impl.KimiK2Config.kimi_k2(), 0)
        want = reference.DeepseekV3DecoderLayer(reference.KimiK2Config.kimi_k2(), 0)
    got_shapes = {k: tuple(v.shape) for k, v in got.state_dict().items()}
    want_shapes = {k: tuple(v.shape) for k, v in want.state_dict().items()}
    assert got_shapes == want_shapes, (
        f"Kimi-K2 layer 0: shapes differ: {sorted(set(got_shapes.items()) ^ set(want_shapes.items()))[:4]}. "
        "Layer 0 is the dense MLP of width 18432 (teaching.md §Why the dense layer is 18432 wide)")
    assert got_shapes["mlp.gate_proj.weight"] == (18432, 7168)
