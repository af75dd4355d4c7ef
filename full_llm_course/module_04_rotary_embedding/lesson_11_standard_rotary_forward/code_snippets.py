"""Lesson 11: forward: grow the cache only when needed, slice, cast to x's dtype.

Run: python code_snippets.py   (writes score_decay.png next to this file)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3RotaryEmbedding
from kimik2.rope import rotate_half

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=120)

# 1. Growth and reuse of the cache.
print("== 1. when is the table rebuilt? ==")
rope = DeepseekV3RotaryEmbedding(64, 131072, 50000.0)
builds = []
original = rope._set_cos_sin_cache
rope._set_cos_sin_cache = lambda seq_len, device: (builds.append(seq_len), original(seq_len, device))
x = torch.zeros(1, dtype=torch.bfloat16)
for seq_len in (16, 8, 16, 100, 40, 101):
    cos, sin = rope(x, seq_len=seq_len)
    print(f"forward(seq_len={seq_len:>3}) -> cos {tuple(cos.shape)} {cos.dtype}, "
          f"max_seq_len_cached {rope.max_seq_len_cached:>3}, builds so far {builds}")
print("cached table dtype:", rope.cos_cached.dtype)

# 2. Slicing: a short request after a long one gives the same rows as a fresh table.
fresh = DeepseekV3RotaryEmbedding(64, 131072, 50000.0)
print("\n== 2. slice ==")
print("rows 0..7 after growth == fresh table of 8:",
      torch.equal(rope(torch.zeros(1), 8)[0], fresh(torch.zeros(1), 8)[0]))
print("bf16 slice == float32 slice cast:", torch.equal(rope(x, 8)[0], rope(torch.zeros(1), 8)[0].bfloat16()))

# 3. The decay of the score with distance, for a key equal to its query.
print("\n== 3. score vs relative distance (dim 64, 2000 random unit vectors, key = query) ==")
g = torch.Generator().manual_seed(0)
q = torch.randn(2000, 64, generator=g)
q = q / q.norm(dim=-1, keepdim=True)
distances = torch.unique(torch.cat([torch.logspace(0, 5, 200).round().long(), torch.tensor([1, 10, 100, 1000, 10000])]))
curves = {}
for base in (10000.0, 50000.0):
    r = DeepseekV3RotaryEmbedding(64, base=base)
    cos, sin = r(q, int(distances.max()) + 1)
    rotated = q[:, None, :] * cos[distances] + rotate_half(q)[:, None, :] * sin[distances]  # k at distance d
    curves[base] = (q[:, None, :] * rotated).sum(-1).mean(0)                                # q at 0 . k at d
    picks = {d: curves[base][(distances == d).nonzero()[0, 0]].item() for d in (1, 10, 100, 1000, 10000)}
    print(f"base {base:>7.0f}: " + ", ".join(f"d={d}: {v:.3f}" for d, v in picks.items()))

fig, ax = plt.subplots(figsize=(7.5, 4))
for base, curve in curves.items():
    ax.semilogx(distances, curve, label=f"base {base:.0f}")
ax.axhline(0, color="0.5", lw=0.6)
ax.axvline(4096, color="0.4", ls="--", lw=0.8)
ax.text(4300, 0.85, "4096", fontsize=8)
ax.set_xlabel("relative distance n - m (log)")
ax.set_ylabel("mean score q . R(n-m) q  (|q| = 1)")
ax.set_title("RoPE: a matching key scores less the further away it is")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "score_decay.png", dpi=110)
print("\nwrote score_decay.png")
