"""Decoding token by token with the KV cache gives the logits of one full forward."""

import pytest
import torch

from helpers import assert_close, randomize_, tiny_config
from kimik2 import KimiK2ForCausalLM, KVCache

CONFIGS = {
    "kimi_yarn": {},
    "no_q_lora-linear": dict(q_lora_rank=None, rope_scaling={"type": "linear", "factor": 2.0}),
    "plain_rope-groups": dict(rope_scaling=None, n_group=4, topk_group=2),
}


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_cached_decoding_equals_full_forward(name, implementation):
    model = randomize_(KimiK2ForCausalLM(tiny_config(**CONFIGS[name]))).eval()
    model.set_attn_implementation(implementation)
    input_ids = torch.randint(0, 97, (2, 40))
    with torch.no_grad():
        full = model(input_ids).logits
        out = model(input_ids[:, :25], use_cache=True)
        steps = [out.logits]
        cache = out.past_key_values
        assert isinstance(cache, KVCache) and cache.get_seq_length() == 25
        for t in range(25, 40):
            out = model(input_ids[:, t:t + 1], past_key_values=cache, use_cache=True)
            steps.append(out.logits)
    assert cache.get_seq_length() == 40
    assert_close(torch.cat(steps, dim=1), full, atol=1e-5, what="cached vs full logits")


def test_cached_decoding_with_left_padding():
    model = randomize_(KimiK2ForCausalLM(tiny_config())).eval()
    input_ids = torch.randint(0, 97, (2, 30))
    mask = torch.ones(2, 30, dtype=torch.long)
    mask[0, :5] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        full = model(input_ids, attention_mask=mask, position_ids=positions).logits
        out = model(input_ids[:, :20], attention_mask=mask[:, :20], position_ids=positions[:, :20], use_cache=True)
        steps = [out.logits]
        for t in range(20, 30):
            out = model(input_ids[:, t:t + 1], attention_mask=mask[:, :t + 1], position_ids=positions[:, t:t + 1],
                        past_key_values=out.past_key_values, use_cache=True)
            steps.append(out.logits)
    real = mask.bool()
    assert_close(torch.cat(steps, dim=1)[real], full[real], atol=1e-5, what="left-padded cached logits")


def test_cache_bytes_per_token():
    config = tiny_config()
    model = KimiK2ForCausalLM(config).eval()
    with torch.no_grad():
        cache = model(torch.randint(0, 97, (1, 5)), use_cache=True).past_key_values
    per_layer = config.num_attention_heads * (config.qk_head_dim + config.v_head_dim) * 4
    assert cache.bytes_per_token() == config.num_hidden_layers * per_layer
