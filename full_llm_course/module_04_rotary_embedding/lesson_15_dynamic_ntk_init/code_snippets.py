"""Lesson 15: the dynamic NTK class's __init__, and why raising the base is gentler than
dividing positions (per-pair frequency ratios of linear vs NTK scaling).

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes ntk_vs_linear.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3DynamicNTKScalingRotaryEmbedding, DeepseekV3RotaryEmbedding

HERE = Path(__file__).parent

dynamic = DeepseekV3DynamicNTKScalingRotaryEmbedding(16, max_position_embeddings=1024, base=10000.0, scaling_factor=2.0)
plain = DeepseekV3RotaryEmbedding(16, max_position_embeddings=1024, base=10000.0)
print("scaling_factor:", dynamic.scaling_factor, "base:", dynamic.base,
      "max_position_embeddings:", dynamic.max_position_embeddings)
print("inv_freq equal to plain RoPE's after __init__:", torch.equal(dynamic.inv_freq, plain.inv_freq))
print("max_seq_len_cached:", dynamic.max_seq_len_cached)

# NTK-aware base: base' = base * r^(d/(d-2)) divides pair i's frequency by r^(2i/(d-2)).
d, base = 64, 10000.0
i = torch.arange(d // 2, dtype=torch.float64)
theta = base ** (-2 * i / d)
print(f"d = {d}: exponent d/(d-2) = {d / (d - 2):.6f}")
for r in (4.0, 8.0):
    new_base = base * r ** (d / (d - 2))
    ratio = (new_base ** (-2 * i / d)) / theta
    print(f"r = {r:.0f}: base' = {new_base:,.1f}; frequency ratio pair 0 = {ratio[0].item():.4f}, "
          f"pair 16 = {ratio[16].item():.4f}, pair {d // 2 - 1} = {ratio[-1].item():.4f} (1/r = {1 / r:.4f})")
    wave_old, wave_new = 2 * torch.pi / theta[-1], 2 * torch.pi / (new_base ** (-2 * i[-1] / d))
    print(f"        slowest wavelength {wave_old.item():,.0f} -> {wave_new.item():,.0f} tokens "
          f"(x {(wave_new / wave_old).item():.4f})")
naive = (base * 4.0) ** (-2 * i / d) / theta
print(f"naive base * r (r = 4): slowest pair ratio {naive[-1].item():.4f}, not 1/r = 0.25")

fig, ax = plt.subplots(figsize=(7.5, 4.2))
for r, color in ((4.0, "tab:blue"), (8.0, "tab:green")):
    ratio = (base * r ** (d / (d - 2))) ** (-2 * i / d) / theta
    ax.plot(i, torch.full_like(i, 1 / r), "--", color=color, label=f"linear (positions / {r:.0f})")
    ax.plot(i, ratio, "-o", ms=3, color=color, label=f"NTK, base·{r:.0f}^(d/(d-2))")
ax.set_yscale("log")
ax.set_xlabel("pair index i (0 = fastest)")
ax.set_ylabel("new frequency / old frequency")
ax.set_title(f"Per-pair frequency ratio, d = {d}: linear slows every pair, NTK spares the fast ones")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "ntk_vs_linear.png", dpi=110)
print("wrote ntk_vs_linear.png")
