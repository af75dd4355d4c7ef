"""count_parameters from the config alone vs models actually built (on the meta device)."""

import time

import pytest
import torch

from helpers import tiny_config
from kimik2 import KimiK2Config, KimiK2ForCausalLM, count_parameters, kv_cache_values_per_token
from kimik2.moe import DeepseekV3MoE


def counted_from_model(model: KimiK2ForCausalLM) -> dict[str, int]:
    """Total = every parameter once; active = total minus the routed experts a token skips."""
    total = sum(p.numel() for p in model.parameters())
    skipped = 0
    for module in model.modules():
        if isinstance(module, DeepseekV3MoE):
            per_expert = sum(p.numel() for p in module.experts[0].parameters())
            skipped += (len(module.experts) - module.num_experts_per_tok) * per_expert
    return {"total": total, "active": total - skipped}


@pytest.mark.parametrize("overrides", [
    {}, dict(q_lora_rank=None), dict(attention_bias=True), dict(tie_word_embeddings=True),
    dict(num_hidden_layers=6, moe_layer_freq=2, first_k_dense_replace=1), dict(topk_method="greedy"),
    dict(n_shared_experts=None), dict(n_shared_experts=2),
])
def test_count_matches_built_model(overrides):
    model = KimiK2ForCausalLM(tiny_config(**overrides))
    assert count_parameters(model.config) == counted_from_model(model)


def test_kimi_k2_on_the_meta_device():
    """1,026,408,232,448 total / 32,861,500,928 active (DeepSeek-V3: 671.0B / 37.55B, matching its
    published 671B / 37B); built without memory in well under a minute."""
    config = KimiK2Config.kimi_k2()
    assert count_parameters(config) == {"total": 1_026_408_232_448, "active": 32_861_500_928}
    assert count_parameters(KimiK2Config.deepseek_v3()) == {"total": 671_026_419_200, "active": 37_552_297_472}
    start = time.perf_counter()
    with torch.device("meta"):
        model = KimiK2ForCausalLM(config)
    elapsed = time.perf_counter() - start
    assert counted_from_model(model) == count_parameters(config)
    assert elapsed < 45, f"building Kimi-K2 on the meta device took {elapsed:.0f} s"
    assert model.model.layers[1].mlp.experts[383].down_proj.weight.shape == (7168, 2048)


def test_kv_cache_values_per_token():
    """Kimi-K2: 512 + 64 = 576 latent values vs 64 x (192 + 128) = 20480 expanded (35.6x)."""
    values = kv_cache_values_per_token(KimiK2Config.kimi_k2())
    assert values == {"latent": 576, "expanded": 20480}


@pytest.mark.parametrize("overrides", [{}, dict(q_lora_rank=None),
                                       dict(tie_word_embeddings=True, num_hidden_layers=5, moe_layer_freq=2)])
def test_forward_flops_equal_torchs_flop_counter(overrides):
    """One decoded token against a cache of 36: torch's own FLOP counter over every matmul and
    attention call of the real forward pass is the independent reference."""
    from torch.utils.flop_counter import FlopCounterMode
    from kimik2.size import forward_flops_per_token
    config = KimiK2Config.tiny(**overrides)
    model = KimiK2ForCausalLM(config).eval()
    input_ids = torch.randint(0, config.vocab_size, (1, 37))
    with torch.no_grad():
        cache = model(input_ids[:, :36], use_cache=True).past_key_values
        with FlopCounterMode(display=False) as counter:
            model(input_ids[:, 36:], past_key_values=cache, use_cache=True)
    assert forward_flops_per_token(config, context_length=37) == counter.get_total_flops()


def test_memory_of_kimi_k2():
    """bf16 weights: 2 bytes x 1,026,408,232,448; the latent cache at 128K tokens: 576 values x 61
    layers x 131072 x 2 bytes = 8.6 GiB, against 305 GiB for expanded keys and values."""
    from kimik2.size import kv_cache_bytes, weight_bytes
    config = KimiK2Config.kimi_k2()
    assert weight_bytes(config) == 2_052_816_464_896
    assert weight_bytes(config, bytes_per_parameter=1) == 1_026_408_232_448
    assert kv_cache_bytes(config, 131072) == 576 * 61 * 131072 * 2
    assert kv_cache_bytes(config, 131072, latent=False) == 20480 * 61 * 131072 * 2
