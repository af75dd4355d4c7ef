"""Graded tests for lesson 80: kimik2.size.kv_cache_values_per_token (and kv_cache_bytes, which uses it)."""

import pytest
import torch


def _by_hand(config):
    heads = config.num_attention_heads
    return {"latent": config.kv_lora_rank + config.qk_rope_head_dim,
            "expanded": heads * (config.qk_nope_head_dim + config.qk_rope_head_dim + config.v_head_dim)}


def test_values_per_token_of_kimi_k2(impl, reference):
    got = impl.size.kv_cache_values_per_token(impl.KimiK2Config.kimi_k2())
    assert got == {"latent": 576, "expanded": 20480}, (
        f"Kimi-K2: kv_cache_values_per_token = {got}; expected {{'latent': 576, 'expanded': 20480}}: latent = "
        "kv_lora_rank + qk_rope_head_dim = 512 + 64, expanded = heads x (qk_head_dim + v_head_dim) = 64 x (192 + 128) "
        "(teaching.md §Values per token)")


CONFIGS = {
    "DeepSeek-V3": lambda package: package.KimiK2Config.deepseek_v3(),
    "tiny": lambda package: package.KimiK2Config.tiny(),
    "tiny, 3 heads, v 12, rope 8": lambda package: package.KimiK2Config.tiny(
        num_attention_heads=3, num_key_value_heads=3, v_head_dim=12, qk_rope_head_dim=8),
    "tiny, kv_lora_rank 48": lambda package: package.KimiK2Config.tiny(kv_lora_rank=48),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_values_per_token_follow_the_config(impl, reference, name):
    config = CONFIGS[name](impl)
    got = impl.size.kv_cache_values_per_token(config)
    want = _by_hand(config)
    assert got == want == reference.size.kv_cache_values_per_token(CONFIGS[name](reference)), (
        f"{name}: kv_cache_values_per_token = {got}; expected {want} (read every size from the config: heads, "
        "qk_nope_head_dim, qk_rope_head_dim, v_head_dim, kv_lora_rank; teaching.md §Values per token)")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("mla_mode", ["expanded", "absorbed"])
def test_kv_cache_bytes_equals_a_filled_cache(impl, reference, mla_mode, dtype):
    """The formula against the bytes the model's own cache holds after a prefill of 9 tokens (batch 1)."""
    torch.manual_seed(0)
    config = impl.KimiK2Config.tiny(num_attention_heads=3, num_key_value_heads=3, v_head_dim=12)
    model = impl.KimiK2ForCausalLM(config).eval().to(dtype)
    model.set_mla_mode(mla_mode)
    with torch.no_grad():
        cache = model(torch.randint(0, 512, (1, 9), generator=torch.Generator().manual_seed(1)),
                      use_cache=True).past_key_values
    held = sum(t.numel() * t.element_size() for t in list(cache.keys.values()) + list(cache.values.values()))
    size = torch.tensor([], dtype=dtype).element_size()
    formula = impl.size.kv_cache_bytes(config, 9, bytes_per_value=size, latent=mla_mode == "absorbed")
    assert formula == held, (
        f"{mla_mode} tiny model in {dtype}: kv_cache_bytes(config, 9) = {formula}, but its cache holds {held} bytes "
        "after 9 tokens (teaching.md §Values per token)")


def test_kimi_k2_cache_at_128k_tokens(impl, reference):
    config = impl.KimiK2Config.kimi_k2()
    tokens = 131072
    latent = impl.size.kv_cache_bytes(config, tokens)
    expanded = impl.size.kv_cache_bytes(config, tokens, latent=False)
    assert (latent, expanded) == (61 * 576 * tokens * 2, 61 * 20480 * tokens * 2), (
        f"Kimi-K2 at 128K tokens, bf16: latent {latent:,d} and expanded {expanded:,d} bytes; expected "
        f"{61 * 576 * tokens * 2:,d} (9.2 GB) and {61 * 20480 * tokens * 2:,d} (327.5 GB) (teaching.md §The numbers)")
