"""Lesson 27 (experiment): plain RoPE, linear interpolation, dynamic NTK and YaRN compared past the
trained length, on geometry alone (no trained model).

Setup: d = 64, base 10000, "trained" on distances 0..L-1 with plain RoPE (L = 1024), used up to 4L.
Run: python code_snippets.py   (prints the table in teaching.md, writes three PNGs)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import (DeepseekV3DynamicNTKScalingRotaryEmbedding, DeepseekV3LinearScalingRotaryEmbedding,
                    DeepseekV3RotaryEmbedding, DeepseekV3YarnRotaryEmbedding)
from kimik2.rope import rotate_half

HERE = Path(__file__).parent
D, BASE, L, S = 64, 10000.0, 1024, 4
N = S * L                                  # evaluate distances 0 .. 4L - 1
x = torch.zeros(1)
yarn = dict(max_position_embeddings=N, base=BASE, scaling_factor=S, original_max_position_embeddings=L,
            mscale=1.0, mscale_all_dim=1.0)    # attention_scaling = 1: geometry only, no temperature
variants = {
    "plain (extrapolate)": DeepseekV3RotaryEmbedding(D, L, BASE),
    "linear PI, s=4": DeepseekV3LinearScalingRotaryEmbedding(D, N, BASE, scaling_factor=S),
    "dynamic NTK (table for 4L)": DeepseekV3DynamicNTKScalingRotaryEmbedding(D, L, BASE, scaling_factor=1.0),
    "YaRN s=4, beta 32/1": DeepseekV3YarnRotaryEmbedding(D, beta_fast=32.0, beta_slow=1.0, **yarn),
    "YaRN s=4, beta 1/1 (K2-style)": DeepseekV3YarnRotaryEmbedding(D, beta_fast=1.0, beta_slow=1.0, **yarn),
}
tables = {name: m(x, seq_len=N) for name, m in variants.items()}   # each (4L, 64) cos and sin
plain_freq = variants["plain (extrapolate)"].inv_freq               # (32,) what training saw


def effective_freq(name):
    """Per-pair angle per token actually used by the table (linear: inv_freq / s)."""
    cos, sin = tables[name]
    return torch.atan2(sin[1, :32], cos[1, :32])                     # angle at distance 1 (all < pi here)


# Metric 1: angles never seen in training. Pair i saw angles {delta * theta_i : delta < L}; if that covers
# a full turn every angle is familiar, else only [0, L theta_i].
seen_max = torch.where(plain_freq * L >= 2 * math.pi, torch.tensor(float("inf")), plain_freq * L)
dist = torch.arange(N, dtype=torch.float64)
unseen = {}
for name in variants:
    angle = (dist[:, None] * effective_freq(name).double()[None]) % (2 * math.pi)   # (4L, 32)
    unseen[name] = (angle > seen_max.double()[None] + 1e-6).double()                 # 1 = angle never trained

# Metric 2 and 3 on scores of random (q, k): q rotated to distance delta, k at 0.
g = torch.Generator().manual_seed(0)
q = torch.randn(256, D, generator=g)
k = torch.randn(256, D, generator=g)


def scores(name):
    cos, sin = tables[name]
    q_rot = q[:, None, :] * cos + rotate_half(q[:, None, :]) * sin   # (256, 4L, 64)
    return (q_rot * k[:, None, :]).sum(-1) / math.sqrt(D)           # (256, 4L)


all_scores = {name: scores(name) for name in variants}
trained = all_scores["plain (extrapolate)"][:, :L]                   # what the model saw in training
lo, hi = trained.min(1, keepdim=True).values, trained.max(1, keepdim=True).values
spread = (hi - lo).squeeze(1)

rows = []
for name, sc in all_scores.items():
    far = sc[:, L:]
    outside = ((far < lo) | (far > hi)).float().mean().item()
    excess = (torch.clamp(far - hi, min=0) + torch.clamp(lo - far, min=0)).amax(1) / spread   # worst overshoot
    short = (sc[:, :L] - trained).abs().mean().item() / trained.std().item()              # change at < L
    step = (sc[:, 1:33] - sc[:, :32]).abs().mean().item()
    rows.append((name, 100 * unseen[name][L:].mean().item(), 100 * outside, excess.mean().item(), short, step))
plain_step = rows[0][5]

print(f"d = {D}, base = {BASE:g}, trained distances 0..{L - 1} (plain RoPE), evaluated at {L}..{N - 1}; "
      f"256 random (q, k), score = q_rot . k / sqrt(d)")
print(f"{'variant':31s} | unseen angles | scores outside | mean worst | change at    | neighbour step")
print(f"{'':31s} | at >= L (%)   | trained range %| overshoot  | d < L (std)  | d < 32 (vs plain)")
for name, un, out, exc, short, step in rows:
    print(f"{name:31s} | {un:13.2f} | {out:14.2f} | {exc:10.3f} | {short:12.3f} | {step:.4f} ({step / plain_step:.2f}x)")
print("pairs with an unseen angle anywhere at >= L:",
      {name: int((u[L:].amax(0) > 0).sum()) for name, u in unseen.items()})
print("dynamic NTK base at 4L:", round(BASE * 4 ** (D / (D - 2)), 1),
      "| plain/YaRN freq, pairs 8,12,16,20,24:",
      {n: [f"{r:.2f}" for r in (plain_freq / v.inv_freq)[[8, 12, 16, 20, 24]].tolist()]
       for n, v in variants.items() if "YaRN" in n})

colors = dict(zip(variants, ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange")))
# Figure 1: unseen-angle fraction per pair.
fig, ax = plt.subplots(figsize=(7, 3.8))
for name, u in unseen.items():
    ax.plot(range(32), 100 * u[L:].mean(0), "o-", ms=3, color=colors[name], label=name)
ax.set_xlabel("pair index i (fast → slow)")
ax.set_ylabel("% of distances L..4L with an unseen angle")
ax.set_title("Metric 1: which pairs meet angles never seen in training")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "unseen_angles.png", dpi=110)
# Figure 2: out-of-range scores per distance bucket.
fig, ax = plt.subplots(figsize=(7, 3.8))
buckets = torch.arange(0, N, 128)
for name, sc in all_scores.items():
    frac = [((sc[:, b:b + 128] < lo) | (sc[:, b:b + 128] > hi)).float().mean().item() * 100 for b in buckets]
    ax.plot(buckets + 64, frac, color=colors[name], label=name)
ax.axvspan(0, L, color="0.9", label="trained distances")
ax.set_xlabel("relative distance (tokens)")
ax.set_ylabel("% of scores outside the trained range")
ax.set_title("Metric 2: scores outside what each (q, k) produced in training")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "scores_out_of_range.png", dpi=110)
# Figure 3: local resolution and short-range change.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
names = [r[0] for r in rows]
axes[0].barh(names, [r[5] / plain_step for r in rows], color=[colors[n] for n in names])
axes[0].set_xlabel("mean |score(d+1) − score(d)|, d < 32, relative to plain")
axes[0].set_title("Metric 3a: neighbour resolution")
axes[0].invert_yaxis()
axes[1].barh(names, [r[4] for r in rows], color=[colors[n] for n in names])
axes[1].set_xlabel("mean |score − trained score| at d < L (in score std)")
axes[1].set_title("Metric 3b: change inside the trained range")
axes[1].set_yticklabels([])
axes[1].invert_yaxis()
fig.tight_layout()
fig.savefig(HERE / "local_resolution.png", dpi=110)
print("wrote unseen_angles.png, scores_out_of_range.png, local_resolution.png")
