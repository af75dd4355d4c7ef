"""Lesson 09: RoPE from 2-D rotations, the relative-position property, inv_freq.

Run: python code_snippets.py   (writes rotation_pairs.png and wavelengths.png next to this file)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3RotaryEmbedding, KimiK2Config

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=120)


def rot(angle):
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


# 1. The relative-position property for one pair: R(m)^T R(n) = R(n - m).
print("== 1. R(m)^T R(n) = R(n - m) ==")
theta = 0.3
for m, n in ((2, 5), (10, 13), (100, 103)):
    lhs = rot(m * theta).T @ rot(n * theta)
    print(f"m={m:<3} n={n:<3} max |R(m)^T R(n) - R(n-m)| = {(lhs - rot((n - m) * theta)).abs().max().item():.1e}")
g = torch.Generator().manual_seed(0)
q, k = torch.randn(2, generator=g, dtype=torch.float64), torch.randn(2, generator=g, dtype=torch.float64)
for m, n in ((2, 5), (10, 13), (100, 103), (7, 7), (50, 50)):
    score = (rot(m * theta) @ q) @ (rot(n * theta) @ k)
    print(f"q at {m:<3}, k at {n:<3}: score {score.item():+.6f}")

# 2. inv_freq for Kimi-K2 (theta 50000) and DeepSeek-V3 (theta 10000), dim = qk_rope_head_dim = 64.
print("\n== 2. inv_freq ==")
k2, ds = KimiK2Config.kimi_k2(), KimiK2Config.deepseek_v3()
print("Kimi-K2: qk_rope_head_dim", k2.qk_rope_head_dim, "| hidden/heads", k2.hidden_size // k2.num_attention_heads,
      "| rope_theta", k2.rope_theta, "| DeepSeek-V3 rope_theta", ds.rope_theta)
rope_k2 = DeepseekV3RotaryEmbedding(k2.qk_rope_head_dim, k2.max_position_embeddings, k2.rope_theta)
rope_ds = DeepseekV3RotaryEmbedding(ds.qk_rope_head_dim, ds.max_position_embeddings, ds.rope_theta)
print("inv_freq shape", tuple(rope_k2.inv_freq.shape), rope_k2.inv_freq.dtype)
for name, rope in (("Kimi-K2", rope_k2), ("DSv3   ", rope_ds)):
    f = rope.inv_freq.tolist()
    print(f"{name} inv_freq[0:4] = {[round(v, 4) for v in f[:4]]}  inv_freq[30:32] = {f[30]:.3e}, {f[31]:.3e}")
by_hand = 50000.0 ** (-torch.arange(0, 64, 2, dtype=torch.float64) / 64)
print("max |inv_freq - 50000^(-2i/64)| (float64 truth):", (rope_k2.inv_freq.double() - by_hand).abs().max().item())
print("buffers:", [n for n, _ in rope_k2.named_buffers()], "| state_dict:", list(rope_k2.state_dict()),
      "| attention_scaling", rope_k2.attention_scaling, "| max_seq_len_cached", rope_k2.max_seq_len_cached)

# 3. Wavelengths: how many positions a pair needs for one full turn.
print("\n== 3. wavelengths 2*pi/theta_i (positions) ==")
for name, rope in (("Kimi-K2 (50000)", rope_k2), ("DSv3 (10000)", rope_ds)):
    wl = 2 * math.pi / rope.inv_freq
    print(f"{name}: fastest {wl[0]:.2f}, pair 16 {wl[16]:.0f}, slowest {wl[-1]:.0f}; "
          f"pairs that turn less than once in 4096: {(wl > 4096).sum().item()}, in 131072: {(wl > 131072).sum().item()}")

# Figure 1: one 2-D pair rotated over positions 0..15, a fast pair and a slow pair.
fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
vec = torch.tensor([1.0, 0.3], dtype=torch.float64)
for ax, idx in zip(axes, (0, 12)):
    th = rope_k2.inv_freq[idx].item()
    pts = torch.stack([rot(p * th) @ vec for p in range(16)])
    ax.add_patch(plt.Circle((0, 0), vec.norm().item(), fill=False, color="0.8"))
    colors = plt.cm.viridis(torch.linspace(0, 1, 16).numpy())
    for p in range(16):
        ax.annotate("", xy=pts[p].tolist(), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=colors[p]))
    for p in (0, 1, 2, 15):
        ax.text(*(pts[p] * 1.12).tolist(), str(p), fontsize=8, ha="center", va="center")
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.set_title(f"pair i={idx}: theta_i = {th:.3g} rad/position\n(wavelength {2 * math.pi / th:.1f} positions)")
    ax.set_xlabel("dimension 2i")
    ax.set_ylabel("dimension 2i+1")
fig.suptitle("The same 2-D vector at positions 0..15 (colour = position), Kimi-K2 frequencies")
fig.tight_layout()
fig.savefig(HERE / "rotation_pairs.png", dpi=110)

# Figure 2: wavelength per pair index, theta 10000 vs 50000, dim 64.
fig, ax = plt.subplots(figsize=(7.5, 4.2))
i = torch.arange(32)
ax.semilogy(i, 2 * math.pi / rope_ds.inv_freq, "o-", ms=3, label="theta 10000 (DeepSeek-V3)")
ax.semilogy(i, 2 * math.pi / rope_k2.inv_freq, "s-", ms=3, label="theta 50000 (Kimi-K2)")
for length, text in ((4096, "4096 (pre-training context)"), (131072, "131072 (after YaRN x32)")):
    ax.axhline(length, color="0.4", ls="--", lw=0.8)
    ax.text(0.5, length * 1.2, text, fontsize=8)
ax.set_xlabel("pair index i (dimensions 2i, 2i+1 of the 64 rope dims)")
ax.set_ylabel("wavelength 2*pi/theta_i (positions, log)")
ax.set_title("RoPE wavelengths at dim 64: a larger base stretches the slow pairs")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "wavelengths.png", dpi=110)
print("\nwrote rotation_pairs.png, wavelengths.png")
