"""Decoding token by token with the KV cache gives the logits of one full forward, in both MLA
modes: expanded keys/values, and absorbed attention over the latent cache."""

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
@pytest.mark.parametrize("mla_mode", ["expanded", "absorbed"])
def test_cached_decoding_equals_full_forward(name, implementation, mla_mode):
    model = randomize_(KimiK2ForCausalLM(tiny_config(**CONFIGS[name]))).eval()
    model.set_attn_implementation(implementation)
    input_ids = torch.randint(0, 97, (2, 40))
    with torch.no_grad():
        full = model(input_ids).logits                    # expanded, no cache: the reference
        model.set_mla_mode(mla_mode)
        out = model(input_ids[:, :25], use_cache=True)
        steps = [out.logits]
        cache = out.past_key_values
        assert isinstance(cache, KVCache) and cache.get_seq_length() == 25
        for t in range(25, 40):
            out = model(input_ids[:, t:t + 1], past_key_values=cache, use_cache=True)
            steps.append(out.logits)
    assert cache.get_seq_length() == 40
    assert_close(torch.cat(steps, dim=1), full, atol=1e-5, what="cached vs full logits")


@pytest.mark.parametrize("mla_mode", ["expanded", "absorbed"])
def test_cached_decoding_with_left_padding(mla_mode):
    model = randomize_(KimiK2ForCausalLM(tiny_config())).eval()
    model.set_mla_mode(mla_mode)
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


def test_latent_cache_holds_kv_lora_rank_plus_rope_values():
    config = tiny_config()
    model = KimiK2ForCausalLM(config).eval()
    model.set_mla_mode("absorbed")
    with torch.no_grad():
        cache = model(torch.randint(0, 97, (1, 5)), use_cache=True).past_key_values
    assert cache.layout == "latent"
    assert cache.bytes_per_token() == config.num_hidden_layers * (config.kv_lora_rank + config.qk_rope_head_dim) * 4


def test_a_cache_of_the_other_layout_is_refused():
    model = KimiK2ForCausalLM(tiny_config()).eval()
    model.set_mla_mode("absorbed")
    with pytest.raises(ValueError, match="KVCache\\(layout='latent'\\)"):
        model(torch.randint(0, 97, (1, 3)), past_key_values=KVCache(), use_cache=True)
    with pytest.raises(ValueError, match="choose one of"):
        model.set_mla_mode("compressed")


@pytest.mark.parametrize("mla_mode", ["expanded", "absorbed"])
def test_max_logit_record_equals_the_scores_computed_the_long_way(mla_mode):
    """track_max_logit keeps, per head, the largest scaled logit any query gives a key it may see,
    as a running maximum over forwards."""
    config = tiny_config()
    model = randomize_(KimiK2ForCausalLM(config)).eval()
    model.set_mla_mode(mla_mode)
    attention = model.model.layers[1].self_attn
    attention.track_max_logit = True
    with torch.no_grad():
        model(torch.randint(0, 97, (1, 6)))               # evaluation forwards are not recorded
    assert attention.max_logit is None
    model.train()                                         # no dropout in this config: same outputs
    input_ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(3))
    padded = torch.ones(2, 12, dtype=torch.long)
    padded[0, :4] = 0
    batches = [(input_ids, padded), (input_ids[:1, :5], torch.ones(1, 5, dtype=torch.long))]
    inputs = []
    hook = attention.register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
    with torch.no_grad():
        for ids, mask in batches:
            model(ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0))
    hook.remove()

    expected = torch.full((config.num_attention_heads,), float("-inf"))
    with torch.no_grad():
        for x, (ids, mask) in zip(inputs, batches):
            q_nope, q_pe = attention.project_queries(x).split([config.qk_nope_head_dim, config.qk_rope_head_dim], -1)
            latent, k_pe = attention.project_latent(x)
            k_nope, _ = attention.expand_latent(latent)
            q_pe, k_pe = attention.apply_decoupled_rope(q_pe, k_pe, (mask.cumsum(-1) - 1).clamp(min=0), 0)
            scores = (q_nope @ k_nope.transpose(2, 3) + q_pe @ k_pe.transpose(2, 3)) * attention.softmax_scale
            for b in range(ids.shape[0]):
                for query in range(ids.shape[1]):
                    for key in range(query + 1):
                        if mask[b, key]:
                            expected = torch.maximum(expected, scores[b, :, query, key])
    assert_close(attention.max_logit, expected, atol=1e-5, what=f"max_logit per head ({mla_mode})")


def test_decoding_rebuilds_the_rope_table_a_logarithmic_number_of_times():
    """Token-by-token decoding asks for one more table row per step; the attention rounds its request
    up to a power of two, so the table of each layer is rebuilt about log2(t) times, not t times.
    Past max_position_embeddings (64 here) it asks for the exact length, as dynamic NTK needs."""
    torch.manual_seed(0)
    model = randomize_(KimiK2ForCausalLM(tiny_config())).eval()
    rope = model.model.layers[0].self_attn.rotary_emb
    builds = []
    original = rope._set_cos_sin_cache
    rope._set_cos_sin_cache = lambda seq_len, device: (builds.append(seq_len), original(seq_len, device))
    ids = torch.randint(0, model.config.vocab_size, (1, 5))
    with torch.no_grad():
        output = model(ids, use_cache=True)
        for _ in range(61):                                  # positions 5 .. 65
            output = model(ids[:, :1], past_key_values=output.past_key_values, use_cache=True)
    assert builds == [8, 16, 32, 64, 65, 66], builds
