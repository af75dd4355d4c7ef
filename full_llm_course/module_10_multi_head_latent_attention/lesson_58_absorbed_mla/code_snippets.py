"""Lesson 58: absorbed MLA - attention over the 576-value latent, and the cache it allows.

Run: python code_snippets.py   (about 10 seconds; writes absorbed_cost.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import DeepseekV3Attention, KimiK2Config, KimiK2ForCausalLM, KVCache  # noqa: E402
from kimik2.size import kv_cache_bytes, kv_cache_values_per_token  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, linewidth=110)

# 1. The identity for one head: q_nope . (W_UK c) == (W_UK^T q_nope) . c
print("1. one head, one query, one key (tiny sizes: nope 16, latent 32)")
tiny = KimiK2Config.tiny()
torch.manual_seed(0)
attn = DeepseekV3Attention(tiny, layer_idx=0).eval()
heads, nope, v_dim, rank = tiny.num_attention_heads, tiny.qk_nope_head_dim, tiny.v_head_dim, tiny.kv_lora_rank
kv_b = attn.kv_b_proj.weight.view(heads, nope + v_dim, rank)           # (h, nope + v, r): rows [k_nope | v] per head
w_uk, w_uv = kv_b.split([nope, v_dim], dim=1)                          # (h, nope, r), (h, v, r)
print(f"  kv_b_proj.weight {tuple(attn.kv_b_proj.weight.shape)} -> view {tuple(kv_b.shape)} -> "
      f"W_UK {tuple(w_uk.shape)}, W_UV {tuple(w_uv.shape)}")
g = torch.Generator().manual_seed(1)
q_nope, c = torch.randn(nope, generator=g), torch.randn(rank, generator=g)
with torch.no_grad():
    k_nope = w_uk[0] @ c                                                # expand the key: (nope,)
    q_latent = w_uk[0].T @ q_nope                                       # fold W_UK into the query: (r,)
print(f"  q_nope . k_nope = {(q_nope @ k_nope).item():.6f};  q_latent . c = {(q_latent @ c).item():.6f}")

# 2. A whole layer, expanded vs absorbed, at the tiny size and at Kimi-K2's head sizes.
print("\n2. the same layer in both modes (no cache)")
kimi_heads = dict(hidden_size=256, num_attention_heads=2, num_key_value_heads=2, q_lora_rank=96, kv_lora_rank=512,
                  qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128)
for label, overrides in (("tiny", {}), ("Kimi-K2 head sizes, 2 heads", kimi_heads)):
    torch.manual_seed(0)
    layer = DeepseekV3Attention(KimiK2Config.tiny(**overrides), layer_idx=0).eval()
    x = 2 * torch.randn(2, 9, layer.hidden_size, generator=torch.Generator().manual_seed(2))
    for implementation in ("sdpa", "eager"):
        layer.attn_implementation = implementation
        with torch.no_grad():
            layer.mla_mode = "expanded"
            expanded = layer(x)
            layer.mla_mode = "absorbed"
            absorbed = layer(x)
        print(f"  {label:28s} {implementation:5s}: max |expanded - absorbed| = "
              f"{(expanded - absorbed).abs().max().item():.1e} (output scale {expanded.abs().max().item():.2f})")

# 3. Decoding with a latent cache, through the whole tiny model.
print("\n3. tiny model: prefill 6 tokens, decode 4 greedily; absorbed + latent cache vs expanded, no cache")
torch.manual_seed(0)
model = KimiK2ForCausalLM(tiny).eval()
ids = torch.randint(0, 512, (2, 6), generator=torch.Generator().manual_seed(3))
model.set_mla_mode("absorbed")
with torch.no_grad():
    out = model(ids, use_cache=True)
    cache, tokens, step_logits = out.past_key_values, ids, [out.logits]
    for _ in range(4):
        next_token = step_logits[-1][:, -1].argmax(-1, keepdim=True)
        tokens = torch.cat([tokens, next_token], dim=1)
        step = model(next_token, past_key_values=cache)
        step_logits.append(step.logits)
    absorbed_logits = torch.cat(step_logits, dim=1)
    model.set_mla_mode("expanded")
    expanded_logits = model(tokens).logits                           # (2, 10, vocab)
print(f"  cache layout {cache.layout!r}: layer 0 holds c_KV {tuple(cache.keys[0].shape)} and k_pe "
      f"{tuple(cache.values[0].shape)}")
print(f"  logits over 10 positions: max |absorbed+cache - expanded| = "
      f"{(absorbed_logits - expanded_logits).abs().max().item():.1e}")

# 4. Bytes per token: KVCache.bytes_per_token for both layouts on the tiny model.
print("\n4. KVCache.bytes_per_token on the tiny model (4 layers, float32)")
for mode in ("expanded", "absorbed"):
    model.set_mla_mode(mode)
    with torch.no_grad():
        cache = model(ids, use_cache=True).past_key_values
    per_layer = kv_cache_values_per_token(tiny)["latent" if mode == "absorbed" else "expanded"]
    print(f"  {mode:8s} (layout {cache.layout!r:10s}): {cache.bytes_per_token():5d} bytes per token "
          f"= 4 layers x {per_layer} values x 4 bytes")

# 5. Kimi-K2 and DeepSeek-V3 at full size, by formula.
print("\n5. cache per token, full models, bf16 (2 bytes per value)")
for name, config in (("Kimi-K2", KimiK2Config()), ("DeepSeek-V3", KimiK2Config.deepseek_v3())):
    values = kv_cache_values_per_token(config)
    h, d_qk, d_v = config.num_attention_heads, config.qk_head_dim, config.v_head_dim
    print(f"  {name}: per layer {h} x ({d_qk} + {d_v}) = {values['expanded']} vs {config.kv_lora_rank} + "
          f"{config.qk_rope_head_dim} = {values['latent']} values ({values['expanded'] / values['latent']:.1f}x); "
          f"{config.num_hidden_layers} layers: {kv_cache_bytes(config, 1, latent=False):,d} vs "
          f"{kv_cache_bytes(config, 1):,d} bytes per token")
    for tokens_ in (4096, 131072):
        print(f"    {tokens_:6d} tokens: expanded {kv_cache_bytes(config, tokens_, latent=False) / 2 ** 30:7.2f} GiB, "
              f"latent {kv_cache_bytes(config, tokens_) / 2 ** 30:5.2f} GiB")

# 6. Work per decoded token and layer at context t (Kimi-K2: 64 heads).
print("\n6. one decoded token, one Kimi-K2 layer, context t: values read and multiply-adds")
H, R, ROPE, NOPE, V = 64, 512, 64, 128, 128
fold = H * (NOPE * R + V * R)                 # W_UK into the query, W_UV after attention
expand_one = R * H * (NOPE + V)               # kv_b_proj for one cached position


def costs(t):
    return {"expanded cache": (t * H * (NOPE + ROPE + V), H * t * (NOPE + ROPE + V)),
            "latent cache, re-expanded": (t * (R + ROPE), t * expand_one + H * t * (NOPE + ROPE + V)),
            "absorbed (latent cache)": (t * (R + ROPE), H * t * (R + ROPE + R) + fold)}


for t in (4096, 131072):
    for name, (read, macs) in costs(t).items():
        print(f"  t={t:6d} {name:26s}: cache read {read * 2 / 2 ** 20:7.1f} MiB (bf16), {macs / 1e9:8.2f} G "
              f"multiply-adds, {macs / read:7.1f} per cached value read")
print("  prefill of t tokens at once (causal: query i sees i + 1 keys), one layer:")
for t in (4096, 32768):
    pairs = t * (t + 1) // 2
    expanded = t * expand_one + H * pairs * (NOPE + ROPE + V)
    absorbed = t * fold + H * pairs * (R + ROPE + R)
    print(f"    t={t:5d}: expanded {expanded / 1e12:6.2f} T, absorbed {absorbed / 1e12:6.2f} T multiply-adds "
          f"({absorbed / expanded:.2f}x)")

# Figure: cache size per token and work per decoded token.
ts = [2 ** i for i in range(10, 18)]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
for name, style in (("expanded cache", "-"), ("latent cache, re-expanded", "--"), ("absorbed (latent cache)", "-.")):
    ax1.plot(ts, [costs(t)[name][0] * 2 / 2 ** 20 for t in ts], style, marker="o", ms=3, label=name)
    ax2.plot(ts, [costs(t)[name][1] / 1e9 for t in ts], style, marker="o", ms=3, label=name)
for ax, label in ((ax1, "MiB of cache read per decoded token (bf16)"), (ax2, "G multiply-adds per decoded token")):
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("context length t")
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
ax1.set_title("Memory traffic, one Kimi-K2 layer: 35.6x less")
ax2.set_title("Compute, one Kimi-K2 layer")
fig.tight_layout()
fig.savefig(HERE / "absorbed_cost.png", dpi=110)
print("wrote absorbed_cost.png")
