"""Lesson 20: yarn_find_correction_range rounds the two correction dimensions outward and
clamps them to [0, dim - 1].

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes correction_range.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from kimik2.rope import yarn_find_correction_dim, yarn_find_correction_range

HERE = Path(__file__).parent
MODELS = {  # name: (rope dim, rope_theta, original_max_position_embeddings, beta_fast, beta_slow)
    "Kimi-K2": (64, 50000.0, 4096, 1.0, 1.0),
    "DeepSeek-V3": (64, 10000.0, 4096, 32.0, 1.0),
}

for name, (d, base, L, beta_fast, beta_slow) in MODELS.items():
    fast, slow = yarn_find_correction_dim(beta_fast, d, base, L), yarn_find_correction_dim(beta_slow, d, base, L)
    print(f"{name:11s}: corr_dim(beta_fast={beta_fast:g}) = {fast:.4f} -> floor {math.floor(fast)}; "
          f"corr_dim(beta_slow={beta_slow:g}) = {slow:.4f} -> ceil {math.ceil(slow)}; "
          f"range = {yarn_find_correction_range(beta_fast, beta_slow, d, base, L)}")

print("tiny config (d 16, base 50000, L 256, betas 1, 1):", yarn_find_correction_range(1.0, 1.0, 16, 50000.0, 256))
print("Kimi-K2 with max_position_embeddings 131072 by mistake:",
      yarn_find_correction_range(1.0, 1.0, 64, 50000.0, 131072))
print("DeepSeek-V3 with the betas swapped (beta_slow, beta_fast):",
      yarn_find_correction_range(1.0, 32.0, 64, 10000.0, 4096))
print("clamping: beta_fast 2000 ->", f"corr_dim {yarn_find_correction_dim(2000.0, 64, 10000.0, 4096):.4f},",
      "range", yarn_find_correction_range(2000.0, 1.0, 64, 10000.0, 4096))
print("clamping: beta_slow 1e-6 ->", f"corr_dim {yarn_find_correction_dim(1e-6, 64, 10000.0, 4096):.4f},",
      "range", yarn_find_correction_range(32.0, 1e-6, 64, 10000.0, 4096))
print("both betas 1 on an integer boundary (d 64, base 10000, L = 2*pi*10000^(40/64)):",
      yarn_find_correction_range(1.0, 1.0, 64, 10000.0, 2 * math.pi * 10000.0 ** (40 / 64)))

# Figure: turns per pair over 4096 tokens, the two beta levels and the rounded range
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, (name, (d, base, L, beta_fast, beta_slow)) in zip(axes, MODELS.items()):
    pairs = list(range(d // 2))
    turns = [L / (2 * math.pi * base ** (2 * i / d)) for i in pairs]
    low, high = yarn_find_correction_range(beta_fast, beta_slow, d, base, L)
    ax.axvspan(low, high, color="tab:orange", alpha=0.25, label=f"range [low, high] = [{low}, {high}]")
    ax.semilogy(pairs, turns, "o-", ms=3.5, color="tab:blue", label="turns of pair i over 4096 tokens")
    ax.axhline(beta_fast, color="tab:red", ls="--", lw=1, label=f"beta_fast = {beta_fast:g}")
    ax.axhline(beta_slow, color="tab:green", ls=":", lw=1.5, label=f"beta_slow = {beta_slow:g}")
    ax.set_title(f"{name}: base {base:g}, betas ({beta_fast:g}, {beta_slow:g})")
    ax.set_xlabel("frequency pair i")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("full turns over L = 4096 tokens (log)")
fig.tight_layout()
fig.savefig(HERE / "correction_range.png", dpi=110)
print("wrote correction_range.png")
