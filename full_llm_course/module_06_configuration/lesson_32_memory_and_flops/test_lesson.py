"""Graded tests for lesson 32: weight_bytes, kv_cache_bytes and forward_flops_per_token in size.py."""

import pytest
import torch

PRESETS = {
    "Kimi-K2": ("kimi_k2", {}),
    "DeepSeek-V3": ("deepseek_v3", {}),
    "tiny": ("tiny", {}),
    "tiny, q_lora_rank None": ("tiny", dict(q_lora_rank=None)),
    "tiny, tied embeddings, moe_layer_freq 2": ("tiny", dict(tie_word_embeddings=True, num_hidden_layers=5,
                                                            moe_layer_freq=2)),
    "tiny, greedy gate": ("tiny", dict(topk_method="greedy")),
}


def _config(module, label):
    preset, overrides = PRESETS[label]
    return getattr(module.KimiK2Config, preset)(**overrides)


@pytest.mark.parametrize("label", ["Kimi-K2", "DeepSeek-V3", "tiny", "tiny, tied embeddings, moe_layer_freq 2"])
@pytest.mark.parametrize("bytes_per_parameter", [2, 1, 0.5])
def test_weight_bytes(impl, reference, label, bytes_per_parameter):
    got = impl.size.weight_bytes(_config(impl, label), bytes_per_parameter)
    want = reference.size.weight_bytes(_config(reference, label), bytes_per_parameter)
    assert isinstance(got, int), f"weight_bytes returned {type(got).__name__}: return an int number of bytes"
    assert got == want, (f"{label}: weight_bytes(config, {bytes_per_parameter}) = {got:,}, expected {want:,}: every "
                         "parameter (count_parameters(config)['total']) times the bytes per parameter "
                         "(teaching.md §Weights)")


@pytest.mark.parametrize("label", ["Kimi-K2", "DeepSeek-V3", "tiny"])
@pytest.mark.parametrize("tokens, bytes_per_value", [(1, 2), (131072, 2), (1000, 1), (37, 4)])
@pytest.mark.parametrize("latent", [True, False])
def test_kv_cache_bytes(impl, reference, label, tokens, bytes_per_value, latent):
    got = impl.size.kv_cache_bytes(_config(impl, label), tokens, bytes_per_value, latent)
    want = reference.size.kv_cache_bytes(_config(reference, label), tokens, bytes_per_value, latent)
    what = ("latent: kv_lora_rank + qk_rope_head_dim values per layer" if latent else
            "expanded: heads x (qk_head_dim + v_head_dim) values per layer")
    assert got == want, (f"{label}: kv_cache_bytes(tokens={tokens}, bytes={bytes_per_value}, latent={latent}) = "
                         f"{got!r}, expected {want:,} ({what}, times num_hidden_layers; teaching.md §The KV cache)")


def test_kv_cache_bytes_defaults(impl):
    got = impl.size.kv_cache_bytes(impl.KimiK2Config.kimi_k2(), 1)
    assert got == 70_272, (f"kv_cache_bytes(kimi_k2, 1) = {got!r}, expected 576 x 61 x 2 = 70,272: the defaults are "
                           "bf16 (2 bytes) and the latent cache (teaching.md §The KV cache)")


@pytest.mark.parametrize("label", list(PRESETS))
@pytest.mark.parametrize("context_length", [0, 1, 37, 4096, 131072])
def test_forward_flops_match_reference(impl, reference, label, context_length):
    got = impl.size.forward_flops_per_token(_config(impl, label), context_length)
    want = reference.size.forward_flops_per_token(_config(reference, label), context_length)
    hint = ("the weights part: 2 x (active parameters - embedding lookup - norm weights - correction bias)"
            if context_length == 0 else
            "attention adds 2 x layers x heads x context x (qk_head_dim + v_head_dim)")
    assert got == want, (f"{label}, context {context_length}: forward_flops_per_token = {got!r}, expected {want:,} "
                         f"(off by {got - want:+,}): {hint} (teaching.md §FLOPs per token)")


@pytest.mark.parametrize("overrides", [{}, dict(q_lora_rank=None),
                                       dict(tie_word_embeddings=True, num_hidden_layers=5, moe_layer_freq=2)])
def test_forward_flops_equal_torchs_flop_counter(impl, overrides):
    """Independent check: torch counts every matmul of a real decode step of the tiny model built from impl."""
    from torch.utils.flop_counter import FlopCounterMode
    config = impl.KimiK2Config.tiny(**overrides)
    torch.manual_seed(0)
    model = impl.KimiK2ForCausalLM(config).eval()
    input_ids = torch.randint(0, config.vocab_size, (1, 37), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        cache = model(input_ids[:, :36], use_cache=True).past_key_values
        with FlopCounterMode(display=False) as counter:
            model(input_ids[:, 36:], past_key_values=cache, use_cache=True)
    counted = counter.get_total_flops()
    got = impl.size.forward_flops_per_token(config, context_length=37)
    assert got == counted, (f"tiny{overrides}: forward_flops_per_token(config, 37) = {got!r} but FlopCounterMode "
                            f"counted {counted:,} FLOPs for one decoded token with 36 cached "
                            f"({ {str(k): v for k, v in counter.get_flop_counts()['Global'].items()} }) "
                            "(teaching.md §Checking against torch)")
