"""Lesson 10: the cos/sin cache: positions, outer product, concat(freqs, freqs).

Run: python code_snippets.py   (writes cos_table.png next to this file)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3RotaryEmbedding
from kimik2.rope import rotate_half

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=120)

# 1. A tiny table: dim 8, base 10000, 4 positions.
print("== 1. tiny table: dim 8, 4 positions ==")
rope = DeepseekV3RotaryEmbedding(8, base=10000.0)
rope._set_cos_sin_cache(4, None)
print("positions", rope._positions(4, None))
print("inv_freq ", rope.inv_freq)
print("cos_cached\n", rope.cos_cached)
print("sin_cached\n", rope.sin_cached)
print("shape", tuple(rope.cos_cached.shape), rope.cos_cached.dtype, "| max_seq_len_cached", rope.max_seq_len_cached)

# 2. Kimi-K2 sizes.
print("\n== 2. Kimi-K2: dim 64, base 50000 ==")
k2 = DeepseekV3RotaryEmbedding(64, 131072, 50000.0)
k2._set_cos_sin_cache(4096, None)
print("cos_cached", tuple(k2.cos_cached.shape), k2.cos_cached.dtype,
      "| halves equal:", torch.equal(k2.cos_cached[:, :32], k2.cos_cached[:, 32:]))
print(f"two float32 tables at 131072 positions: {2 * 131072 * 64 * 4 / 2**20:.0f} MiB")

# 3. Why concat(freqs, freqs): rotate_half pairs dimension i with i + dim/2.
print("\n== 3. cos/sin + rotate_half = a rotation of pairs (i, i + 32) ==")
g = torch.Generator().manual_seed(0)
x, pos = torch.randn(64, generator=g), 37
c, s = k2.cos_cached[pos], k2.sin_cached[pos]
y = x * c + rotate_half(x) * s
for i in (0, 5, 31):
    angle = pos * k2.inv_freq[i]
    a, b = x[i], x[i + 32]
    expected = (a * torch.cos(angle) - b * torch.sin(angle), a * torch.sin(angle) + b * torch.cos(angle))
    print(f"pair ({i:>2}, {i + 32}): rope gives ({y[i]:+.4f}, {y[i + 32]:+.4f})  2-D rotation gives "
          f"({expected[0]:+.4f}, {expected[1]:+.4f})")
print("norm kept:", f"{x.norm():.4f} -> {y.norm():.4f}")

# 4. Why float32: the angle at a late position in bf16.
print("\n== 4. float32 tables ==")
p = 4001
angle32 = p * k2.inv_freq[5]
angle16 = (torch.tensor(float(p), dtype=torch.bfloat16) * k2.inv_freq[5].bfloat16()).float()
print(f"position {p}, pair 5: angle fp32 {angle32:.4f} rad, bf16 {angle16:.4f} rad -> "
      f"cos {torch.cos(angle32):+.4f} vs {torch.cos(angle16):+.4f}")

# 5. attention_scaling multiplies both tables (1.0 for plain RoPE).
half = DeepseekV3RotaryEmbedding(8)
half.attention_scaling = 0.5
half._set_cos_sin_cache(4, None)
print("\n== 5. attention_scaling 0.5: cos^2 + sin^2 =", (half.cos_cached**2 + half.sin_cached**2)[1, :4])

# Figure: the cos table for 256 positions at Kimi-K2's 64 dims.
fig, ax = plt.subplots(figsize=(8, 4))
im = ax.imshow(k2.cos_cached[:256].T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest")
ax.axhline(31.5, color="k", lw=1)
ax.set_xlabel("position")
ax.set_ylabel("dimension (0-31 | 32-63: the same frequencies again)")
ax.set_title("cos_cached[:256] for dim 64, base 50000: concat(freqs, freqs)")
fig.colorbar(im, ax=ax, label="cos(position * theta_i)")
fig.tight_layout()
fig.savefig(HERE / "cos_table.png", dpi=110)
print("\nwrote cos_table.png")
