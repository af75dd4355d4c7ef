"""Lesson 80: how much memory the KV cache of the real Kimi-K2 needs, next to its 2.05 TB of weights.

Run: python code_snippets.py   (a second or two; writes cache_memory.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kimik2 import KimiK2Config  # noqa: E402
from kimik2.size import count_parameters, kv_cache_bytes, kv_cache_values_per_token, weight_bytes  # noqa: E402

HERE = Path(__file__).parent
kimi, deepseek = KimiK2Config.kimi_k2(), KimiK2Config.deepseek_v3()
CONTEXTS = {"4K": 4096, "32K": 32768, "128K": 131072}
SERVING_BATCH = 64

# 1. Per token.
print("1. cache per token, bf16")
for name, config in (("Kimi-K2", kimi), ("DeepSeek-V3", deepseek)):
    values = kv_cache_values_per_token(config)
    print(f"  {name:11s}: values per token per layer {values}; {config.num_hidden_layers} layers -> "
          f"latent {kv_cache_bytes(config, 1):,d} B, expanded {kv_cache_bytes(config, 1, latent=False):,d} B per token")

# 2. Kimi-K2 at 4K, 32K and 128K, batch 1 and a serving batch, against the weights.
weights = weight_bytes(kimi)                                   # bf16, 2 bytes per parameter
print(f"\n2. Kimi-K2, bf16 weights: {count_parameters(kimi)['total']:,d} parameters = {weights / 1e12:.2f} TB "
      f"(FP8 checkpoint: about {weight_bytes(kimi, 1.0) / 1e12:.2f} TB)")
print(f"  {'context':>7s} {'batch':>5s} {'latent':>10s} {'% of weights':>12s} {'expanded':>11s} {'% of weights':>12s}")
for label, tokens in CONTEXTS.items():
    for batch in (1, SERVING_BATCH):
        latent = batch * kv_cache_bytes(kimi, tokens)
        expanded = batch * kv_cache_bytes(kimi, tokens, latent=False)
        print(f"  {label:>7s} {batch:5d} {latent / 1e9:8.1f} GB {100 * latent / weights:11.1f}% "
              f"{expanded / 1e9:8.1f} GB {100 * expanded / weights:11.1f}%")

# 3. Capacity: tokens of cache per 100 GB, and when the cache equals the weights.
print("\n3. what fits")
for name, latent in (("latent", True), ("expanded", False)):
    per_token = kv_cache_bytes(kimi, 1, latent=latent)
    print(f"  {name:8s}: 100 GB hold {100e9 / per_token:12,.0f} tokens = {100e9 / per_token / 32768:7.1f} sequences of "
          f"32K; the cache equals the bf16 weights at {weights / per_token:13,.0f} tokens")

# 4. The same with the cache in FP8 (1 byte per value), as a what-if.
print("\n4. what if the cache were stored in FP8 (1 byte per value): Kimi-K2, 64 sequences of 128K tokens")
for name, latent in (("latent", True), ("expanded", False)):
    print(f"  {name:8s}: bf16 {SERVING_BATCH * kv_cache_bytes(kimi, 131072, latent=latent) / 1e9:9.1f} GB, "
          f"fp8 {SERVING_BATCH * kv_cache_bytes(kimi, 131072, 1.0, latent=latent) / 1e9:9.1f} GB")

# Figure: cache size against context for batch 1 and the serving batch, with the weights as a line.
contexts = [2 ** i for i in range(10, 18)]
fig, ax = plt.subplots(figsize=(8.5, 4.8))
for batch, style in ((1, "-"), (SERVING_BATCH, "--")):
    for name, latent, color in (("latent", True, "tab:green"), ("expanded", False, "tab:red")):
        ax.plot(contexts, [batch * kv_cache_bytes(kimi, t, latent=latent) / 1e9 for t in contexts], style,
                color=color, marker="o", ms=3, label=f"{name} cache, batch {batch}")
ax.axhline(weights / 1e9, color="black", lw=1.2, label=f"weights, bf16 ({weights / 1e12:.2f} TB)")
ax.axhline(weight_bytes(kimi, 1.0) / 1e9, color="gray", lw=1, ls=":", label="weights, FP8 (about 1 byte each)")
for tokens in CONTEXTS.values():
    ax.axvline(tokens, color="lightgray", lw=0.8, zorder=0)
ax.set_xscale("log", base=2)
ax.set_xticks(contexts, [f"{t // 1024}K" for t in contexts])
ax.set_yscale("log")
ax.set_xlabel("context length (tokens per sequence)")
ax.set_ylabel("GB (bf16 cache)")
ax.set_title("Kimi-K2 KV cache vs weights (61 layers, bf16)")
ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()
fig.savefig(HERE / "cache_memory.png", dpi=110)
print("wrote cache_memory.png")
