"""Graded tests for lesson 62: DeepseekV3Model.__init__ (the layer stack, the final norm, init_weights)."""

import torch
from kimi_course.testing import assert_close


def _pair(impl, reference, seed=0, **overrides):
    torch.manual_seed(seed)
    got = impl.DeepseekV3Model(impl.KimiK2Config.tiny(**overrides))
    torch.manual_seed(seed)
    want = reference.DeepseekV3Model(reference.KimiK2Config.tiny(**overrides))
    return got, want


def test_state_dict_matches_reference(impl, reference):
    got, want = _pair(impl, reference, seed=0)
    got_sd, want_sd = got.state_dict(), want.state_dict()
    missing, extra = sorted(set(want_sd) - set(got_sd)), sorted(set(got_sd) - set(want_sd))
    assert not missing and not extra, (
        f"state_dict names differ: missing {missing[:4]} ({len(missing)}), unexpected {extra[:4]} ({len(extra)}). "
        "Store the layers in an nn.ModuleList named `layers` and the final norm as `norm` (teaching.md §The code)")
    for name, tensor in want_sd.items():
        assert_close(got_sd[name], tensor, atol=0.0, what=f"{name} (tiny model, seed 0)",
                     hint="build the layers, then the norm, then call self.init_weights() (teaching.md §The code)")


def test_layers_kinds_and_indices(impl, reference):
    got, _ = _pair(impl, reference, seed=1, num_hidden_layers=6, first_k_dense_replace=2)
    kinds = [type(layer.mlp).__name__ for layer in got.layers]
    assert len(got.layers) == 6, f"{len(got.layers)} layers for num_hidden_layers=6 (teaching.md §The code)"
    assert kinds == ["DeepseekV3MLP"] * 2 + ["DeepseekV3MoE"] * 4, (
        f"layer kinds {kinds} for first_k_dense_replace=2: build DeepseekV3DecoderLayer(config, i) for i in "
        "range(num_hidden_layers) (teaching.md §Pitfalls)")
    indices = [layer.self_attn.layer_idx for layer in got.layers]
    assert indices == list(range(6)), f"attention layer_idx {indices}, expected 0..5 (teaching.md §The code)"


def test_final_norm(impl, reference):
    got, _ = _pair(impl, reference, seed=2, rms_norm_eps=1e-5)
    norm = got.norm
    assert type(norm).__name__ == "DeepseekV3RMSNorm", f"model.norm is {type(norm).__name__}, expected DeepseekV3RMSNorm"
    assert norm.variance_epsilon == 1e-5, (f"model.norm eps {norm.variance_epsilon} with rms_norm_eps=1e-5: pass "
                                           "eps=config.rms_norm_eps (teaching.md §The code)")
    assert_close(norm.weight.detach(), torch.ones(64), atol=0.0, what="model.norm.weight",
                 hint="a fresh RMSNorm gain is all ones (teaching.md §The code)")


def test_init_weights_ran_on_the_layers(impl, reference):
    got, _ = _pair(impl, reference, seed=3)
    for name in ("layers.0.mlp.up_proj.weight", "layers.3.self_attn.kv_b_proj.weight", "embed_tokens.weight"):
        std = got.state_dict()[name].std().item()
        assert abs(std - 0.02) < 2.5e-3, (f"{name} has std {std:.4f}, expected 0.02: call self.init_weights() after "
                                          "creating the layers (teaching.md §The code)")


def test_kimi_k2_sized_model_on_meta(impl, reference):
    """Kimi-K2's sizes with its first layer only (dense): shapes on the meta device."""
    with torch.device("meta"):
        got = impl.DeepseekV3Model(impl.KimiK2Config(num_hidden_layers=1))
        want = reference.DeepseekV3Model(reference.KimiK2Config(num_hidden_layers=1))
    got_shapes = {k: tuple(v.shape) for k, v in got.state_dict().items()}
    want_shapes = {k: tuple(v.shape) for k, v in want.state_dict().items()}
    assert got_shapes == want_shapes, (
        f"Kimi-K2-sized model: {sorted(set(got_shapes.items()) ^ set(want_shapes.items()))[:4]} "
        "(teaching.md §The real sizes)")
    assert got_shapes["norm.weight"] == (7168,)
