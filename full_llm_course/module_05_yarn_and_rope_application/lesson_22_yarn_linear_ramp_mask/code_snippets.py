"""Lesson 22: yarn_linear_ramp_mask, the 0 -> 1 ramp over frequency pairs.

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes ramp.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2.rope import yarn_find_correction_range, yarn_linear_ramp_mask

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, linewidth=120)
MODELS = {"Kimi-K2": (1.0, 1.0, 64, 50000.0, 4096), "DeepSeek-V3": (32.0, 1.0, 64, 10000.0, 4096)}

ranges = {}
for name, args in MODELS.items():
    low, high = yarn_find_correction_range(*args)
    ranges[name] = (low, high)
    ramp = yarn_linear_ramp_mask(low, high, 32)
    print(f"{name} (low {low}, high {high}): ramp shape {tuple(ramp.shape)}, dtype {ramp.dtype}")
    print(f"  ramp[{low - 2}:{high + 3}] =", ramp[low - 2:high + 3])
    print(f"  pairs strictly blended (0 < ramp < 1): {((ramp > 0) & (ramp < 1)).sum().item()}")

print("tiny config (low 2, high 3, 8 pairs):", yarn_linear_ramp_mask(2, 3, 8))
print("guard, low == high == 5, 8 pairs:   ", yarn_linear_ramp_mask(5, 5, 8))
no_guard = torch.clamp((torch.arange(8, dtype=torch.float32) - 5) / (5 - 5), 0, 1)
print("same without the guard (0/0 at i=5):", no_guard)
print("low clamped to 0, high 4, 6 pairs: ", yarn_linear_ramp_mask(0, 4, 6))

# Figure: 1 - ramp (share of the original frequency kept) over the 32 pairs, both models
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
pairs = torch.arange(32)
for ax, (name, (low, high)) in zip(axes, ranges.items()):
    keep = 1 - yarn_linear_ramp_mask(low, high, 32)
    ax.bar(pairs, keep, color="tab:blue", alpha=0.8, label="1 − ramp: weight of the original frequency (extrapolate)")
    ax.bar(pairs, 1 - keep, bottom=keep, color="tab:orange", alpha=0.6, label="ramp: weight of frequency / factor (interpolate)")
    ax.axvline(low, color="k", ls="--", lw=1)
    ax.axvline(high, color="k", ls=":", lw=1.2)
    ax.set_title(f"{name}: low = {low} (dashed), high = {high} (dotted)")
    ax.set_xlabel("frequency pair i (0 = fastest)")
    ax.set_xlim(-0.7, 31.7)
axes[0].set_ylabel("blend weight")
axes[0].legend(fontsize=7.5, loc="lower left")
fig.tight_layout()
fig.savefig(HERE / "ramp.png", dpi=110)
print("wrote ramp.png")
