"""Lesson 19: yarn_find_correction_dim, the pair index that makes a given number of turns
over the original context.

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes correction_dim.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from kimik2.rope import yarn_find_correction_dim

HERE = Path(__file__).parent
MODELS = {  # name: (rope dim, rope_theta, original_max_position_embeddings, beta_fast, beta_slow)
    "Kimi-K2": (64, 50000.0, 4096, 1.0, 1.0),
    "DeepSeek-V3": (64, 10000.0, 4096, 32.0, 1.0),
}

# 1. The formula step by step at Kimi-K2's values (n = 1 turn, d = 64, base 50000, L = 4096)
d, base, L, n = 64, 50000.0, 4096, 1.0
print("Kimi-K2, n = 1:")
print(f"  L / (2*pi*n)          = {L / (2 * math.pi * n):.4f}")
print(f"  ln of that            = {math.log(L / (2 * math.pi * n)):.4f}")
print(f"  2 * ln(base)          = {2 * math.log(base):.4f}")
print(f"  64 * 6.4799 / 21.6396 = {d * math.log(L / (2 * math.pi * n)) / (2 * math.log(base)):.4f}")
print(f"  yarn_find_correction_dim(1, 64, 50000, 4096) = {yarn_find_correction_dim(1, 64, 50000.0, 4096):.4f}")

# 2. Check by counting turns: pair i turns L / (2*pi*base^(2i/d)) times over L tokens
print("turns over 4096 tokens, Kimi-K2 (base 50000):")
for i in (0, 10, 18, 19, 20, 21, 31):
    wavelength = 2 * math.pi * base ** (2 * i / d)
    print(f"  pair {i:2d}: wavelength {wavelength:12,.1f} tokens, turns {L / wavelength:10.4f}")

# 3. Both models at their beta_fast and beta_slow
for name, (d, base, L, beta_fast, beta_slow) in MODELS.items():
    print(f"{name}: corr_dim(beta_fast={beta_fast:g}) = {yarn_find_correction_dim(beta_fast, d, base, L):.4f}, "
          f"corr_dim(beta_slow={beta_slow:g}) = {yarn_find_correction_dim(beta_slow, d, base, L):.4f}")

# 4. The wrong length: max_position_embeddings (131072) instead of the original 4096
print(f"Kimi-K2 with L = 131072 by mistake: corr_dim(1) = {yarn_find_correction_dim(1, 64, 50000.0, 131072):.4f}")

# 5. Sizes of the usual slips, and the tiny test config
print(f"doubling n moves the index by d*ln2/(2 ln b) = {64 * math.log(2) / (2 * math.log(50000.0)):.4f} pairs")
print(f"forgetting 2*pi shifts it by d*ln(2pi)/(2 ln b) = {64 * math.log(2 * math.pi) / (2 * math.log(50000.0)):.4f} pairs")
print(f"tiny config (d 16, base 50000, L 256): corr_dim(1) = {yarn_find_correction_dim(1, 16, 50000.0, 256):.4f}")

# 6. Figure: correction dimension against num_rotations
rotations = [2 ** (k / 8) for k in range(-24, 8 * 8 + 1)]  # 1/8 .. 256
fig, ax = plt.subplots(figsize=(7.5, 4.3))
for (name, (d, base, L, beta_fast, beta_slow)), color in zip(MODELS.items(), ("tab:red", "tab:blue")):
    ax.plot(rotations, [yarn_find_correction_dim(r, d, base, L) for r in rotations], color=color,
            label=f"{name} (base {base:g}, L = {L})")
    for beta, marker in ((beta_fast, "o"), (beta_slow, "s")):
        value = yarn_find_correction_dim(beta, d, base, L)
        ax.plot([beta], [value], marker, color=color, ms=7)
        ax.annotate(f"{value:.2f}", (beta, value), textcoords="offset points", xytext=(6, 4), fontsize=8, color=color)
ax.axhspan(0, 31, color="0.92", zorder=0, label="pairs that exist (0..31)")
ax.set_xscale("log", base=2)
ax.set_xlabel("num_rotations n (full turns over the original 4096 tokens)")
ax.set_ylabel("correction dimension i(n) (pair index)")
ax.set_title("i(n) = d·ln(L/(2πn)) / (2·ln base);  o = beta_fast, s = beta_slow")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(HERE / "correction_dim.png", dpi=110)
print("wrote correction_dim.png")
