"""Graded tests for lesson 66: kimik2.parity.compare_layer_outputs against transformers' DeepseekV3ForCausalLM."""

import math

import pytest
import torch

NOT_IN_TRANSFORMERS = ("topk_method", "scoring_func", "aux_loss_alpha", "seq_aux", "ep_size", "moe_layer_freq",
                       "rope_scaling")


@pytest.fixture(scope="module")
def models(impl, tmp_path_factory):
    """transformers' model with O(1) weights, and the same checkpoint loaded into impl.KimiK2ForCausalLM."""
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
    from transformers.utils import logging

    logging.set_verbosity_error()
    values = impl.KimiK2Config.tiny().to_dict()
    hf_config = DeepseekV3Config(**{k: v for k, v in values.items() if k not in NOT_IN_TRANSFORMERS},
                                 rope_scaling=values["rope_scaling"])
    torch.manual_seed(0)
    theirs = DeepseekV3ForCausalLM(hf_config).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if "norm" in name:
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))
        for layer in theirs.model.layers[1:]:
            layer.mlp.gate.e_score_correction_bias.copy_(torch.rand(16, generator=g) * 0.2 - 0.1)
    folder = tmp_path_factory.mktemp("parity")
    theirs.save_pretrained(folder)
    ours = impl.KimiK2ForCausalLM.from_pretrained(folder).eval()
    return ours, theirs


IDS = torch.randint(0, 512, (2, 12), generator=torch.Generator().manual_seed(2))


def test_clean_models_agree_everywhere(impl, reference, models):
    ours, theirs = models
    report = impl.parity.compare_layer_outputs(ours, theirs, IDS)
    names = reference.parity.checkpoint_names(4)
    assert isinstance(report, list) and [c.name for c in report] == names, (
        f"checkpoint names {[getattr(c, 'name', c) for c in report][:5]}... != checkpoint_names(4) {names[:5]}...: "
        "one Checkpoint per name, in execution order (teaching.md §The debugger)")
    bad = [(c.name, c.max_abs_diff) for c in report if not c.ok]
    assert not bad, f"checkpoints flagged although the models agree: {bad[:3]} (teaching.md §The reports)"
    expected = reference.parity.compare_layer_outputs(ours, theirs, IDS)
    for got, want in zip(report, expected):
        assert isinstance(got.max_abs_diff, float), f"{got.name}: max_abs_diff must be a Python float (.item())"
        assert abs(got.max_abs_diff - want.max_abs_diff) <= 1e-9, (
            f"{got.name}: max_abs_diff {got.max_abs_diff:.3e}, expected {want.max_abs_diff:.3e}: the largest absolute "
            "elementwise difference of the two captured outputs (teaching.md §The debugger)")


def test_atol_decides_ok(impl, reference, models):
    ours, theirs = models
    report = impl.parity.compare_layer_outputs(ours, theirs, IDS, atol=1e-7)
    expected = reference.parity.compare_layer_outputs(ours, theirs, IDS, atol=1e-7)
    got_flags, want_flags = [c.ok for c in report], [c.ok for c in expected]
    assert got_flags == want_flags and not all(want_flags), (
        f"with atol=1e-7, ok flags {got_flags} != expected {want_flags}: ok means max_abs_diff <= atol "
        "(teaching.md §The debugger)")


def test_flags_a_perturbed_o_proj(impl, reference, models):
    ours, theirs = models
    weight = ours.model.layers[1].self_attn.o_proj.weight
    with torch.no_grad():
        weight.mul_(1.001)
    try:
        report = impl.parity.compare_layer_outputs(ours, theirs, IDS)
    finally:
        with torch.no_grad():
            weight.div_(1.001)
    first = reference.parity.first_divergence(report)
    assert first is not None and first.name == "model.layers.1.self_attn", (
        f"layer 1's o_proj scaled by 1.001: first divergence {first.name if first else None}, expected "
        "model.layers.1.self_attn (teaching.md §The reports)")
    assert all(c.ok for c in report[:6]), "the checkpoints before layer 1's attention must still agree"


def test_flags_a_perturbed_shared_expert(impl, reference, models):
    ours, theirs = models
    weight = ours.model.layers[3].mlp.shared_experts.down_proj.weight
    with torch.no_grad():
        weight.mul_(1.01)
    try:
        report = impl.parity.compare_layer_outputs(ours, theirs, IDS)
    finally:
        with torch.no_grad():
            weight.div_(1.01)
    first = reference.parity.first_divergence(report)
    assert first is not None and first.name == "model.layers.3.mlp", (
        f"layer 3's shared expert perturbed: first divergence {first.name if first else None}, expected "
        "model.layers.3.mlp (teaching.md §The debugger)")


def test_flags_skipped_rope_deinterleave(impl, reference, models):
    ours, theirs = models
    original = impl.rope.deinterleave
    impl.rope.deinterleave = lambda x: x
    try:
        report = impl.parity.compare_layer_outputs(ours, theirs, IDS)
    finally:
        impl.rope.deinterleave = original
    first = reference.parity.first_divergence(report)
    assert first is not None and first.name == "model.layers.0.self_attn", (
        f"rope de-interleave skipped: first divergence {first.name if first else None}, expected "
        "model.layers.0.self_attn (teaching.md §The reports)")
