"""Graded tests for lesson 07: DeepseekV3RMSNorm.__init__."""

import torch


def test_weight_is_a_parameter_of_ones(impl):
    norm = impl.DeepseekV3RMSNorm(7168)
    weight = getattr(norm, "weight", None)
    assert isinstance(weight, torch.nn.Parameter), (
        f"norm.weight should be an nn.Parameter, got {type(weight).__name__}: teaching.md §The code")
    assert tuple(weight.shape) == (7168,), f"weight shape {tuple(weight.shape)} != (7168,): one gain per channel"
    assert weight.dtype == torch.float32, f"weight dtype {weight.dtype} != torch.float32 (use the default dtype)"
    assert bool((weight == 1).all()), "weight should start as all ones, so the layer is a pure normalisation at init"
    assert weight.requires_grad, "weight must be trainable (requires_grad=True)"


def test_only_a_weight_in_the_state_dict(impl, reference):
    keys = sorted(impl.DeepseekV3RMSNorm(64).state_dict())
    expected = sorted(reference.DeepseekV3RMSNorm(64).state_dict())
    assert keys == expected, (f"state_dict keys {keys} != {expected}: checkpoints hold only `weight` "
                              "(no bias, eps is a plain float): teaching.md §Pitfalls")
    assert sum(p.numel() for p in impl.DeepseekV3RMSNorm(1536).parameters()) == 1536, "parameters != hidden_size"


def test_variance_epsilon_stored(impl):
    assert impl.DeepseekV3RMSNorm(64).variance_epsilon == 1e-6, (
        "the default eps must be 1e-6 (the latent norms rely on it): teaching.md §eps")
    assert impl.DeepseekV3RMSNorm(64, eps=1e-5).variance_epsilon == 1e-5, "eps passed by keyword is not stored"
    assert impl.DeepseekV3RMSNorm(64, 3e-4).variance_epsilon == 3e-4, "eps passed by position is not stored"


def test_latent_norms_keep_default_eps_in_a_model(impl):
    model = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny(rms_norm_eps=1e-5))
    seen = {}
    for name, module in model.named_modules():
        if isinstance(module, impl.DeepseekV3RMSNorm):
            seen[name.split(".")[-1]] = (module.weight.shape[0], module.variance_epsilon)
    expected = {"input_layernorm": (64, 1e-5), "post_attention_layernorm": (64, 1e-5), "norm": (64, 1e-5),
                "q_a_layernorm": (48, 1e-6), "kv_a_layernorm": (32, 1e-6)}
    assert seen == expected, (f"norms (width, eps) by name {seen} != {expected}: "
                              "teaching.md §Where the 245 norms sit")
