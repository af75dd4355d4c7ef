"""Graded tests for lesson 02: count_parameters(config) in size.py, total and active parameters from the config."""

import pytest
import torch

CASES = {
    "Kimi-K2": ("kimi_k2", {}),
    "DeepSeek-V3": ("deepseek_v3", {}),
    "tiny": ("tiny", {}),
    "tiny, q_lora_rank None (q_proj instead of q_a/q_b)": ("tiny", dict(q_lora_rank=None)),
    "tiny, tied embeddings": ("tiny", dict(tie_word_embeddings=True)),
    "tiny, moe_layer_freq 2 over 6 layers": ("tiny", dict(num_hidden_layers=6, moe_layer_freq=2)),
    "tiny, no dense layer, 2 shared experts": ("tiny", dict(first_k_dense_replace=0, n_shared_experts=2)),
    "tiny, greedy gate (no correction bias)": ("tiny", dict(topk_method="greedy")),
}
HINTS = {
    "Kimi-K2": "1 dense layer + 60 MoE layers, 384 experts of which 8 are active, 1 shared",
    "DeepSeek-V3": "first_k_dense_replace = 3 here: use the config, not Kimi-K2's numbers",
    "tiny, q_lora_rank None (q_proj instead of q_a/q_b)": "use attention_parameters(config): it handles q_lora_rank None",
    "tiny, tied embeddings": "with tie_word_embeddings the lm_head IS the embedding: count it once",
    "tiny, moe_layer_freq 2 over 6 layers": "a layer is MoE only if config.is_moe_layer(i) (odd layers stay dense here)",
    "tiny, no dense layer, 2 shared experts": "n_shared_experts multiplies the expert size; every layer is MoE here",
    "tiny, greedy gate (no correction bias)": "e_score_correction_bias exists only for topk_method 'noaux_tc'",
}


def _config(module, preset, overrides):
    return getattr(module.KimiK2Config, preset)(**overrides)


@pytest.mark.parametrize("label", list(CASES))
def test_count_parameters_matches_reference(impl, reference, label):
    preset, overrides = CASES[label]
    got = impl.count_parameters(_config(impl, preset, overrides))
    want = reference.count_parameters(_config(reference, preset, overrides))
    assert isinstance(got, dict) and set(got) == {"total", "active"}, (
        f"count_parameters must return {{'total': int, 'active': int}}, got {got!r} (teaching.md §Counting)")
    for key in ("total", "active"):
        assert got[key] == want[key], (
            f"{label}: {key} = {got[key]:,}, expected {want[key]:,} (off by {got[key] - want[key]:+,}). "
            f"{HINTS.get(label, '')} (teaching.md §Counting)")


@pytest.mark.parametrize("overrides", [{}, dict(tie_word_embeddings=True), dict(q_lora_rank=None, moe_layer_freq=2)])
def test_count_equals_a_built_model(impl, reference, overrides):
    """The count from the config must equal the parameters of a model actually built from it."""
    config = reference.KimiK2Config.tiny(**overrides)
    torch.manual_seed(0)
    model = reference.KimiK2ForCausalLM(config)
    built = sum(p.numel() for p in model.parameters())
    skipped = sum((len(m.experts) - m.num_experts_per_tok) * sum(p.numel() for p in m.experts[0].parameters())
                  for m in model.modules() if isinstance(m, reference.DeepseekV3MoE))
    got = impl.count_parameters(impl.KimiK2Config.tiny(**overrides))
    assert got["total"] == built, (f"tiny{overrides}: total {got['total']:,} but the built model has {built:,} "
                                   "parameters: count every tensor once, norms and gate bias included "
                                   "(teaching.md §Counting)")
    assert got["active"] == built - skipped, (
        f"tiny{overrides}: active {got['active']:,}, expected {built - skipped:,}: a token uses every parameter "
        "except the routed experts it is not sent to (teaching.md §Counting)")
