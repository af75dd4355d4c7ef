"""Lesson 13: the linear-scaling table is the plain table read at position / factor.

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes linear_cos.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3LinearScalingRotaryEmbedding, DeepseekV3RotaryEmbedding

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False)

plain = DeepseekV3RotaryEmbedding(8, max_position_embeddings=64, base=10000.0)
linear = DeepseekV3LinearScalingRotaryEmbedding(8, max_position_embeddings=64, base=10000.0, scaling_factor=4.0)
print("plain  _positions(6):", plain._positions(6, None))
print("linear _positions(6):", linear._positions(6, None))

plain._set_cos_sin_cache(16, None)
linear._set_cos_sin_cache(16, None)
print("cos_cached shape:", tuple(linear.cos_cached.shape), linear.cos_cached.dtype,
      "max_seq_len_cached:", linear.max_seq_len_cached)
print("linear cos row 4:", linear.cos_cached[4])
print("plain  cos row 1:", plain.cos_cached[1])
rows = torch.arange(0, 16, 4)
print("linear rows 0,4,8,12 == plain rows 0,1,2,3:",
      torch.equal(linear.cos_cached[rows], plain.cos_cached[:4]),
      torch.equal(linear.sin_cached[rows], plain.sin_cached[:4]))

# Kimi-K2 sizes: dim 64 (qk_rope_head_dim), base 50000, a hypothetical factor 32.
kimi = DeepseekV3LinearScalingRotaryEmbedding(64, max_position_embeddings=131072, base=50000.0, scaling_factor=32.0)
kimi._set_cos_sin_cache(8192, None)
print("Kimi-sized table:", tuple(kimi.cos_cached.shape), f"{kimi.cos_cached.numel() * 4 * 2 / 2**20:.1f} MiB for cos+sin")
last = kimi._positions(8192, None)[-1].item()
print(f"position 8191 is rotated as position {last:.4f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
base_dim, s = 64, 4
p = torch.arange(0, 64, dtype=torch.float32)
ref = DeepseekV3RotaryEmbedding(base_dim, base=10000.0)
lin = DeepseekV3LinearScalingRotaryEmbedding(base_dim, base=10000.0, scaling_factor=s)
ref._set_cos_sin_cache(64, None)
lin._set_cos_sin_cache(64, None)
for ax, i in zip(axes, (0, 4)):
    ax.plot(p, ref.cos_cached[:, i], "k.-", label="plain RoPE")
    ax.plot(p, lin.cos_cached[:, i], "b.-", label=f"linear, factor {s}")
    ax.set_title(f"pair {i}: θ = {ref.inv_freq[i].item():.3f} rad/token")
    ax.set_xlabel("position p")
axes[0].set_ylabel("cos_cached[p, i]")
axes[0].legend(fontsize=8)
fig.suptitle("Linear scaling reads the plain table at p / factor: every pair turns factor times slower")
fig.tight_layout()
fig.savefig(HERE / "linear_cos.png", dpi=110)
print("wrote linear_cos.png")
