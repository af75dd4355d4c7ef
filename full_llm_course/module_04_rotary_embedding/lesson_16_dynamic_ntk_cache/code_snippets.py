"""Lesson 16: dynamic NTK's _set_cos_sin_cache raises the base once the table outgrows
max_position_embeddings.

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes dynamic_base.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3DynamicNTKScalingRotaryEmbedding

HERE = Path(__file__).parent
torch.set_printoptions(precision=6, sci_mode=True)


def dynamic_base(base, dim, seq_len, max_pos, factor):
    """The base the table is built with: unchanged up to max_pos, then base * ratio^(dim/(dim-2))."""
    if seq_len <= max_pos:
        return base
    return base * (factor * seq_len / max_pos - (factor - 1)) ** (dim / (dim - 2))


rope = DeepseekV3DynamicNTKScalingRotaryEmbedding(16, max_position_embeddings=1024, base=10000.0, scaling_factor=2.0)
rope._set_cos_sin_cache(512, None)
print("L = 512 : inv_freq", rope.inv_freq[[0, 1, -1]], "table", tuple(rope.cos_cached.shape))
rope._set_cos_sin_cache(2048, None)
ratio = 2.0 * 2048 / 1024 - (2.0 - 1)
print(f"L = 2048: ratio = 2*2048/1024 - 1 = {ratio}, base' = 10000 * {ratio}^(16/14) = "
      f"{dynamic_base(10000.0, 16, 2048, 1024, 2.0):.1f}")
print("          inv_freq", rope.inv_freq[[0, 1, -1]], "table", tuple(rope.cos_cached.shape))
print("          self.base is still", rope.base)
expected = 1.0 / dynamic_base(10000.0, 16, 2048, 1024, 2.0) ** (torch.arange(0, 16, 2).float() / 16)
print("          matches 1/base'^(2i/d):", torch.allclose(rope.inv_freq, expected, rtol=1e-6))

print("Kimi-like sizes: dim 64, base 50000, max_position_embeddings 4096, factor 2:")
for seq_len in (4096, 4097, 8192, 16384, 32768):
    b = dynamic_base(50000.0, 64, seq_len, 4096, 2.0)
    slowest = 2 * math.pi * b ** ((64 - 2) / 64)
    print(f"  L = {seq_len:6d}: base' = {b:14,.1f}   slowest wavelength {slowest:12,.0f} tokens")

fig, axes = plt.subplots(1, 2, figsize=(10.5, 4))
lengths = torch.arange(1, 8 * 4096 + 1, 64)
for factor, color in ((1.0, "tab:gray"), (2.0, "tab:blue"), (4.0, "tab:green")):
    bases = [dynamic_base(10000.0, 64, int(n), 4096, factor) for n in lengths]
    axes[0].plot(lengths, bases, color=color, label=f"factor s = {factor:.0f}")
    waves = [(b / 10000.0) ** (62 / 64) for b in bases]   # new slowest wavelength / old one
    axes[1].plot(lengths, waves, color=color, label=f"factor s = {factor:.0f}")
axes[1].plot(lengths, lengths / 4096, "k:", label="L / L_max")
for ax in axes:
    ax.axvline(4096, color="k", lw=0.8, ls="--")
    ax.set_xlabel("sequence length L (tokens)")
    ax.legend(fontsize=8)
axes[0].set_ylabel("base used for the table")
axes[0].set_title("Dynamic NTK base, d = 64, base 10000, L_max = 4096")
axes[1].set_ylabel("slowest wavelength: new / old")
axes[1].set_title("Growth r = s·L/L_max − (s−1) of the slowest wavelength")
fig.tight_layout()
fig.savefig(HERE / "dynamic_base.png", dpi=110)
print("wrote dynamic_base.png")
