"""Graded tests for lesson 75: the cache layouts, DeepseekV3Attention.cache_layout and KVCache.bytes_per_token."""

import pytest
import torch
from kimi_course.testing import assert_close

MODES = {"expanded": "expanded", "absorbed": "latent"}


def _model(impl, seed=0, **overrides):
    torch.manual_seed(seed)
    return impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny(**(dict(v_head_dim=12) | overrides))).eval()


@pytest.mark.parametrize("mla_mode", list(MODES))
def test_cache_layout_follows_the_mla_mode(impl, reference, mla_mode):
    attention = impl.DeepseekV3Attention(impl.KimiK2Config.tiny(), layer_idx=0)
    attention.mla_mode = mla_mode
    assert attention.cache_layout == MODES[mla_mode], (
        f"cache_layout in {mla_mode!r} mode is {attention.cache_layout!r}; expected {MODES[mla_mode]!r} "
        "(teaching.md §Which layout a layer asks for)")
    model = _model(impl)
    model.set_mla_mode(mla_mode)
    with torch.no_grad():
        cache = model(torch.randint(0, 512, (1, 3), generator=torch.Generator().manual_seed(1)),
                      use_cache=True).past_key_values
    assert cache.layout == MODES[mla_mode], (
        f"use_cache=True in {mla_mode!r} mode built a {cache.layout!r} cache; the model asks layer 0's "
        "cache_layout (teaching.md §Which layout a layer asks for)")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
def test_bytes_per_token_counts_one_position_of_one_sequence(impl, reference, dtype):
    """Batch 3, 5 positions, 3 layers of different widths: bytes for ONE position of ONE sequence."""
    g = torch.Generator().manual_seed(2)
    shapes = {0: ((4, 32), (4, 16)), 1: ((4, 32), (4, 12)), 2: ((1, 48), (1, 16))}
    mine, ref = impl.KVCache(), reference.KVCache()
    for layer, ((kh, kd), (vh, vd)) in shapes.items():
        key = torch.randn(3, kh, 5, kd, generator=g).to(dtype)
        value = torch.randn(3, vh, 5, vd, generator=g).to(dtype)
        mine.update(key, value, layer)
        ref.update(key, value, layer)
    size = torch.tensor([], dtype=dtype).element_size()
    by_hand = sum((kh * kd + vh * vd) * size for (kh, kd), (vh, vd) in shapes.values())
    got = mine.bytes_per_token()
    assert got == by_hand == ref.bytes_per_token(), (
        f"bytes_per_token() = {got} for a {dtype} cache of batch 3 and 5 positions; expected {by_hand} = sum over "
        f"layers of (heads x key dim + heads x value dim) x {size} bytes: count one position of one sequence "
        "(teaching.md §The code)")


@pytest.mark.parametrize("layout", ["expanded", "latent"])
def test_bytes_per_token_at_kimi_k2_sizes(impl, reference, layout):
    """61 layers of Kimi-K2-shaped entries on the meta device (no memory): 20480 or 576 values per layer, bf16."""
    shapes = {"expanded": ((1, 64, 1, 192), (1, 64, 1, 128)), "latent": ((1, 1, 1, 512), (1, 1, 1, 64))}[layout]
    cache = impl.KVCache(layout=layout)
    for layer in range(61):
        cache.update(torch.empty(*shapes[0], dtype=torch.bfloat16, device="meta"),
                     torch.empty(*shapes[1], dtype=torch.bfloat16, device="meta"), layer)
    values = {"expanded": 64 * (192 + 128), "latent": 512 + 64}[layout]
    assert cache.bytes_per_token() == 61 * values * 2, (
        f"Kimi-K2 {layout} cache: bytes_per_token() = {cache.bytes_per_token()}; expected 61 x {values} x 2 = "
        f"{61 * values * 2} (teaching.md §The code)")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("mla_mode", list(MODES))
def test_a_filled_model_cache_reports_its_bytes(impl, reference, mla_mode, dtype):
    model = _model(impl, seed=3).to(dtype)
    model.set_mla_mode(mla_mode)
    with torch.no_grad():
        cache = model(torch.randint(0, 512, (2, 7), generator=torch.Generator().manual_seed(4)),
                      use_cache=True).past_key_values
    cfg = model.config
    per_layer = {"expanded": cfg.num_attention_heads * (cfg.qk_nope_head_dim + cfg.qk_rope_head_dim + cfg.v_head_dim),
                 "absorbed": cfg.kv_lora_rank + cfg.qk_rope_head_dim}[mla_mode]
    size = torch.tensor([], dtype=dtype).element_size()
    assert cache.bytes_per_token() == cfg.num_hidden_layers * per_layer * size, (
        f"{mla_mode} tiny model in {dtype}: bytes_per_token() = {cache.bytes_per_token()}; expected "
        f"{cfg.num_hidden_layers} layers x {per_layer} values x {size} B (teaching.md §The code)")


def test_what_each_layout_stores(impl, reference):
    """The expanded cache holds keys [k_nope | rotated k_pe] per head and values; the latent cache holds the
    normalised c_KV and the rotated k_pe, one head each (checked on layer 1 against its own projections)."""
    model = _model(impl, seed=5)
    ids = torch.randint(0, 512, (2, 6), generator=torch.Generator().manual_seed(6))
    attention = model.model.layers[1].self_attn
    inputs = []
    hook = attention.register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
    caches = {}
    with torch.no_grad():
        for mode in MODES:
            model.set_mla_mode(mode)
            caches[mode] = model(ids, use_cache=True).past_key_values
        hook.remove()
        x = inputs[0]
        positions = torch.arange(6)[None]
        _, q_pe = attention.project_queries(x).split([attention.qk_nope_head_dim, attention.qk_rope_head_dim], -1)
        latent, k_pe = attention.project_latent(x)
        _, k_pe = attention.apply_decoupled_rope(q_pe, k_pe, positions, 0)
        k_nope, value = attention.expand_latent(latent)
    cfg = model.config
    expanded, compact = caches["expanded"], caches["absorbed"]
    assert tuple(expanded.keys[1].shape) == (2, 4, 6, cfg.qk_nope_head_dim + cfg.qk_rope_head_dim), (
        f"expanded keys of layer 1: {tuple(expanded.keys[1].shape)}")
    assert_close(expanded.keys[1], torch.cat([k_nope, k_pe.expand(-1, 4, -1, -1)], -1), atol=1e-6,
                 what="expanded cache, layer 1 keys",
                 hint="per head [k_nope | rotated k_pe] (teaching.md §Why 576 numbers are enough)")
    assert_close(expanded.values[1], value, atol=1e-6, what="expanded cache, layer 1 values")
    assert_close(compact.keys[1], latent.unsqueeze(1), atol=1e-6, what="latent cache, layer 1 first tensor",
                 hint="the normalised c_KV as (b, 1, t, kv_lora_rank) (teaching.md §Which layout a layer asks for)")
    assert_close(compact.values[1], k_pe, atol=1e-6, what="latent cache, layer 1 second tensor",
                 hint="k_pe after RoPE, (b, 1, t, qk_rope_head_dim) (teaching.md §Which layout a layer asks for)")


@pytest.mark.parametrize("mla_mode, wrong", [("absorbed", "expanded"), ("expanded", "latent")])
def test_a_cache_of_the_other_layout_is_refused(impl, reference, mla_mode, wrong):
    model = _model(impl)
    model.set_mla_mode(mla_mode)
    right = MODES[mla_mode]
    with pytest.raises(ValueError, match=f"KVCache\\(layout='{right}'\\)"):
        with torch.no_grad():
            model(torch.randint(0, 512, (1, 3)), past_key_values=impl.KVCache(layout=wrong))
