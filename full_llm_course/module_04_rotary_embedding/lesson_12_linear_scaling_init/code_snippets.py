"""Lesson 12: the linear-scaling (position interpolation) class and what its __init__ stores.

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes pi_angles.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3LinearScalingRotaryEmbedding, DeepseekV3RotaryEmbedding

HERE = Path(__file__).parent

# 1. What __init__ leaves behind: the plain state plus one float.
plain = DeepseekV3RotaryEmbedding(16, max_position_embeddings=1024, base=10000.0)
linear = DeepseekV3LinearScalingRotaryEmbedding(16, max_position_embeddings=1024, base=10000.0, scaling_factor=4.0)
print("MRO:", [cls.__name__ for cls in type(linear).__mro__[:3]])
print("scaling_factor:", linear.scaling_factor)
print("buffers:", [name for name, _ in linear.named_buffers()], "parameters:", len(list(linear.parameters())))
print("inv_freq equal to plain RoPE's:", torch.equal(linear.inv_freq, plain.inv_freq))
print("max_seq_len_cached after __init__:", linear.max_seq_len_cached)
print("state_dict keys:", list(linear.state_dict()))

# 2. Kimi-K2 sizes (a hypothetical linear Kimi-K2: the real one uses YaRN, module 05).
kimi = DeepseekV3LinearScalingRotaryEmbedding(64, max_position_embeddings=131072, base=50000.0, scaling_factor=32.0)
print("Kimi-sized inv_freq:", tuple(kimi.inv_freq.shape), kimi.inv_freq.dtype,
      f"fastest {kimi.inv_freq[0].item():.4f}, slowest {kimi.inv_freq[-1].item():.3e} rad/token")

# 3. Why interpolate: the largest angle each pair reached in training vs at s times the length.
dim, base, trained, s = 64, 10000.0, 4096, 8
inv_freq = DeepseekV3RotaryEmbedding(dim, base=base).inv_freq.double()
seen = (trained - 1) * inv_freq                      # largest angle seen in training, per pair
extrap = (s * trained - 1) * inv_freq                # needed at s * trained without interpolation
interp = (s * trained - 1) / s * inv_freq            # with positions divided by s
full_turn = seen >= 2 * math.pi
print(f"dim {dim}, base {base:.0f}, trained on {trained} positions, s = {s}:")
print(f"  pairs that completed a full turn in training: {int(full_turn.sum())} of {dim // 2}"
      f" (pairs {int(full_turn.sum())}..{dim // 2 - 1} never did)")
for i in (0, 16, 24, 31):
    print(f"  pair {i:2d}: seen up to {seen[i].item():9.3f} rad, extrapolated {extrap[i].item():9.3f}, "
          f"interpolated {interp[i].item():9.3f}")

fig, ax = plt.subplots(figsize=(7.5, 4.2))
pairs = torch.arange(dim // 2)
ax.semilogy(pairs, seen, "k-o", ms=3, label=f"seen in training (positions < {trained})")
ax.semilogy(pairs, extrap, "r--", label=f"needed at {s * trained} positions, no interpolation")
ax.semilogy(pairs, interp, "b:", lw=2.5, label=f"needed at {s * trained} positions, positions / {s}")
ax.axhline(2 * math.pi, color="grey", lw=0.8)
ax.text(0.5, 2 * math.pi * 1.2, "one full turn (2π)", color="grey")
ax.set_xlabel("pair index i (frequency base^(-2i/d))")
ax.set_ylabel("largest rotation angle (rad)")
ax.set_title("Position interpolation keeps every pair inside the angles it was trained on")
ax.legend(fontsize=8, loc="lower left")
fig.tight_layout()
fig.savefig(HERE / "pi_angles.png", dpi=110)
print("wrote pi_angles.png")
