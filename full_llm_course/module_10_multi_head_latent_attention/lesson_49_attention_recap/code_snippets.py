"""Lesson 49: attention recap - scaled dot-product attention, MHA, MQA, GQA, repeat_kv, and
what each design caches per token, with Kimi-K2's numbers.

Run: python code_snippets.py   (about 2 s; writes kv_cache_per_token.png and head_sharing.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kimik2 import KimiK2Config  # noqa: E402
from kimik2.size import kv_cache_bytes, kv_cache_values_per_token  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=110)

# 1. Why divide by sqrt(d): q.k of two random unit-variance vectors has variance d.
print("== 1. the 1/sqrt(d) scale")
g = torch.Generator().manual_seed(0)
for d in (16, 64, 192):
    q = torch.randn(20000, d, generator=g)
    k = torch.randn(20000, d, generator=g)
    dots = (q * k).sum(-1)
    print(f"d = {d:3d}: std(q.k) = {dots.std():6.2f}  (sqrt(d) = {math.sqrt(d):5.2f});"
          f"  std(q.k / sqrt(d)) = {(dots / math.sqrt(d)).std():.3f}")
q = torch.randn(1, 192, generator=g)
k = torch.randn(1000, 192, generator=g)
raw, scaled = (q @ k.T).softmax(-1), (q @ k.T / math.sqrt(192)).softmax(-1)
print(f"one query, 1000 keys, d = 192: largest softmax weight {raw.max():.3f} unscaled, {scaled.max():.3f} scaled")


# 2. Attention by hand equals PyTorch's fused kernel.
def attention(q, k, v, causal=True):
    """softmax(q k^T / sqrt(d) + causal mask) v for q (b, h, s, d), k (b, h, t, d), v (b, h, t, dv)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])           # (b, h, s, t)
    if causal:
        s, t = scores.shape[-2:]
        future = torch.ones(s, t, dtype=torch.bool).triu(t - s + 1)      # key j > query i (+ offset)
        scores = scores.masked_fill(future, float("-inf"))
    return scores.softmax(-1) @ v                                        # (b, h, s, dv)


print("\n== 2. attention by hand vs F.scaled_dot_product_attention")
b, h, s, d, dv = 2, 4, 5, 24, 16
q = torch.randn(b, h, s, d, generator=g)
k = torch.randn(b, h, s, d, generator=g)
v = torch.randn(b, h, s, dv, generator=g)
mine, fused = attention(q, k, v), F.scaled_dot_product_attention(q, k, v, is_causal=True)
print(f"q {tuple(q.shape)} k {tuple(k.shape)} v {tuple(v.shape)} -> out {tuple(mine.shape)}; "
      f"max |by hand - sdpa| = {(mine - fused).abs().max():.1e}")


# 3. repeat_kv: GQA's g key/value heads serve h query heads, h/g each.
def repeat_kv(x, n_rep):
    """(b, g, t, d) -> (b, g * n_rep, t, d): kv head j serves query heads j*n_rep ... (j+1)*n_rep - 1."""
    batch, groups, length, dim = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None].expand(batch, groups, n_rep, length, dim).reshape(batch, groups * n_rep, length, dim)


print("\n== 3. repeat_kv (GQA with 8 query heads, 2 key/value heads)")
n_heads, n_kv = 8, 2
q = torch.randn(1, n_heads, s, d, generator=g)
k = torch.randn(1, n_kv, s, d, generator=g)
v = torch.randn(1, n_kv, s, dv, generator=g)
ids = torch.arange(n_kv).float().view(1, n_kv, 1, 1)   # each kv head holds its own id
print("kv head used by each query head, repeat_kv:       ", repeat_kv(ids, n_heads // n_kv).flatten().long().tolist())
print("kv head used by each query head, x.repeat (wrong):",
      ids.repeat(1, n_heads // n_kv, 1, 1).flatten().long().tolist())
gqa = attention(q, repeat_kv(k, 4), repeat_kv(v, 4))
native = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
wrong = attention(q, k.repeat(1, 4, 1, 1), v.repeat(1, 4, 1, 1))
print(f"repeat_kv + attention vs sdpa(enable_gqa=True): max diff {(gqa - native).abs().max():.1e}")
print(f"tiled with x.repeat instead:                     max diff {(wrong - native).abs().max():.2f}")

# MLA's one rope key per token is broadcast, not repeated: a stride-0 view, no copy.
k_pe = torch.randn(1, 1, 6, 64, generator=g)
view = k_pe.expand(-1, 64, -1, -1)
print(f"k_pe {tuple(k_pe.shape)} -> expand to {tuple(view.shape)}: stride {view.stride()}, "
      f"same storage: {view.data_ptr() == k_pe.data_ptr()}")

# 4. What one token costs in the cache, per layer and over the whole model (bf16, 2 bytes a value).
print("\n== 4. KV cache per token, Kimi-K2 (64 heads, k 192 = 128 + 64, v 128, 61 layers, bf16)")
config = KimiK2Config.kimi_k2()
per = kv_cache_values_per_token(config)
heads, dk, dv, layers = config.num_attention_heads, config.qk_head_dim, config.v_head_dim, config.num_hidden_layers
print("kv_cache_values_per_token(kimi_k2):", per)
schemes = {  # values per token per layer
    "MHA, 64 kv heads": per["expanded"],
    "GQA, 8 kv heads": 8 * (dk + dv),
    "MQA, 1 kv head": 1 * (dk + dv),
    "MLA latent, 512 + 64": per["latent"],
}
context = config.max_position_embeddings
print(f"{'scheme':22s} {'values/layer':>12s} {'bytes/token':>12s} {'GiB at 131072 tokens':>21s}")
for name, values in schemes.items():
    per_token = values * layers * 2
    print(f"{name:22s} {values:12,d} {per_token:12,d} {per_token * context / 2**30:21.2f}")
print("kv_cache_bytes(config, 1, latent=False) =", f"{kv_cache_bytes(config, 1, latent=False):,}",
      "| kv_cache_bytes(config, 1) =", f"{kv_cache_bytes(config, 1):,}")
print(f"MHA / MLA = {per['expanded']} / {per['latent']} = {per['expanded'] / per['latent']:.1f}x")
print(f"MLA caches as much as GQA with {per['latent'] / (dk + dv):.2f} kv heads of (192 + 128) "
      f"or {per['latent'] / (2 * 128):.2f} heads of (128 + 128)")
v3 = kv_cache_values_per_token(KimiK2Config.deepseek_v3())
print(f"DeepSeek-V3 (128 heads): {v3}, ratio {v3['expanded'] / v3['latent']:.1f}x")

# Figure 1: values per token and per layer (log scale) and GiB of one sequence against its length.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
names, values = list(schemes), list(schemes.values())
colors = ["tab:red", "tab:orange", "tab:olive", "tab:blue"]
bars = ax1.barh(names[::-1], values[::-1], color=colors[::-1])
ax1.set_xscale("log")
ax1.set_xlim(100, 2e5)
ax1.set_xlabel("values cached per token per layer (log scale)")
ax1.set_title("Kimi-K2 shapes: what one token leaves in one layer")
for bar, val in zip(bars, values[::-1]):
    ax1.text(val * 1.1, bar.get_y() + bar.get_height() / 2, f"{val:,}", va="center")
tokens = torch.linspace(1024, context, 100)
for (name, val), color in zip(schemes.items(), colors):
    ax2.plot(tokens.numpy(), (tokens * val * layers * 2 / 2**30).numpy(), label=name, color=color)
ax2.set_yscale("log")
ax2.set_ylim(0.05, 1000)
ax2.set_xlabel("tokens in the sequence")
ax2.set_ylabel("KV cache of one sequence, GiB (bf16, 61 layers)")
ax2.set_title("Cache of one sequence vs its length")
ax2.legend(loc="lower right", fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "kv_cache_per_token.png", dpi=110)
plt.close(fig)

# Figure 2: who shares what. 8 query heads on top; what is cached below.
fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
panels = [("MHA: 8 kv heads", 8), ("GQA: 2 kv heads", 2), ("MQA: 1 kv head", 1), ("MLA: 1 latent + 1 k_pe", 0)]
for ax, (title, n_kv) in zip(axes, panels):
    ax.set_xlim(-0.5, 8.5)
    ax.set_ylim(-0.6, 3.2)
    ax.axis("off")
    ax.set_title(title)
    for i in range(8):
        ax.add_patch(plt.Rectangle((i + 0.1, 2.4), 0.8, 0.5, color="tab:green"))
    ax.text(4.5, 3.0, "query heads", ha="center", fontsize=8)
    if n_kv:
        width = 8 / n_kv
        for j in range(n_kv):
            ax.add_patch(plt.Rectangle((j * width + 0.1, 0.2), width - 0.2, 0.6, color="tab:red"))
            for i in range(j * int(width), (j + 1) * int(width)):
                ax.plot([i + 0.5, j * width + width / 2], [2.4, 0.8], color="gray", lw=0.8)
        ax.text(4.5, -0.3, f"cached: {n_kv} x (k, v)", ha="center", fontsize=8)
    else:
        for i in range(8):  # per-head k_nope, v: recomputed from the latent, not cached
            ax.add_patch(plt.Rectangle((i + 0.1, 1.4), 0.8, 0.5, fill=False, ec="tab:red", ls="--"))
            ax.plot([i + 0.5, i + 0.5], [2.4, 1.9], color="gray", lw=0.8)
            ax.plot([i + 0.5, 3.0], [1.4, 0.8], color="gray", lw=0.6)
            ax.plot([i + 0.5, 7.25], [1.4, 0.8], color="tab:purple", lw=0.5)
        ax.text(4.5, 2.05, "per-head k_nope, v: decompressed, not cached", ha="center", fontsize=7,
                bbox=dict(fc="white", ec="none", pad=0.5))
        ax.add_patch(plt.Rectangle((0.5, 0.2), 5.0, 0.6, color="tab:blue"))
        ax.add_patch(plt.Rectangle((6.5, 0.2), 1.5, 0.6, color="tab:purple"))
        ax.text(3.0, 0.45, "c_KV (512)", ha="center", color="white", fontsize=8)
        ax.text(7.25, 0.45, "k_pe", ha="center", color="white", fontsize=8)
        ax.text(4.5, -0.3, "cached: 512 + 64 values", ha="center", fontsize=8)
fig.suptitle("Who shares keys and values (8 query heads drawn; Kimi-K2 has 64)")
fig.tight_layout()
fig.savefig(HERE / "head_sharing.png", dpi=110)
plt.close(fig)
print("\nwrote kv_cache_per_token.png and head_sharing.png")
