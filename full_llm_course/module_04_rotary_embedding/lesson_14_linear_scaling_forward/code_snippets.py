"""Lesson 14: what the inherited forward returns for the linear class, and an experiment:
attention score against relative distance, with and without interpolation, past the trained length.

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes score_vs_distance.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3LinearScalingRotaryEmbedding, DeepseekV3RotaryEmbedding
from kimik2.rope import rotate_half

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False)

# 1. The inherited forward: grow the table when needed, slice, cast to x's dtype.
rope = DeepseekV3LinearScalingRotaryEmbedding(8, max_position_embeddings=64, base=10000.0, scaling_factor=4.0)
x = torch.zeros(1, dtype=torch.bfloat16)          # only x.dtype and x.device are read
cos, sin = rope(x, seq_len=10)
print("forward(x, 10):", tuple(cos.shape), cos.dtype, "table rows cached:", rope.max_seq_len_cached)
cos, sin = rope(x, seq_len=6)
print("forward(x, 6): ", tuple(cos.shape), "table rows cached:", rope.max_seq_len_cached, "(no rebuild)")
cos, sin = rope(x, seq_len=100)
print("forward(x, 100):", tuple(cos.shape), "table rows cached:", rope.max_seq_len_cached,
      "(past max_position_embeddings = 64: nothing special happens)")
short = DeepseekV3RotaryEmbedding(8, max_position_embeddings=64, base=10000.0)(torch.zeros(1), seq_len=3)[0]
print("cos row 1, plain :", short[1])
print("cos row 1, linear:", rope(torch.zeros(1), seq_len=3)[0][1], "<- squeezed even for a 3-token input")


# 2. The experiment. One query/key pair at relative distance delta; score = q_rot(delta) . k_rot(0).
def scores(module, q, k, length):
    """q . k after rotating q to position delta and k to position 0, for delta = 0 .. length - 1."""
    cos, sin = module(q, seq_len=length)                                     # (length, dim)
    q_rot = q[:, None, :] * cos + rotate_half(q[:, None, :]) * sin           # (n, length, dim)
    return (q_rot * k[:, None, :]).sum(-1) / q.shape[-1] ** 0.5              # k at position 0 is unrotated


dim, base, trained, s = 64, 10000.0, 1024, 4
plain = DeepseekV3RotaryEmbedding(dim, max_position_embeddings=trained, base=base)
linear = DeepseekV3LinearScalingRotaryEmbedding(dim, max_position_embeddings=s * trained, base=base, scaling_factor=s)

# (a) q = k = all ones: RoFormer's long-term decay curve.
ones = torch.ones(1, dim)
decay_plain = scores(plain, ones, ones, s * trained)[0]
decay_pi = scores(linear, ones, ones, s * trained)[0]

# (b) many random (q, k): does the score leave the range the model saw in training?
g = torch.Generator().manual_seed(0)
q = torch.randn(256, dim, generator=g)
k = torch.randn(256, dim, generator=g)
plain_scores = scores(plain, q, k, s * trained)                              # (256, s*trained)
pi_scores = scores(linear, q, k, s * trained)
lo = plain_scores[:, :trained].min(1, keepdim=True).values                   # per (q, k): the trained range
hi = plain_scores[:, :trained].max(1, keepdim=True).values
outside = lambda sc: ((sc < lo) | (sc > hi)).float().mean().item()
print(f"dim {dim}, base {base:.0f}, trained on distances 0..{trained - 1}, factor s = {s}, 256 random (q, k):")
print(f"  distances {trained}..{s * trained - 1}, no interpolation: {100 * outside(plain_scores[:, trained:]):.2f} % "
      "of scores outside the range seen in training")
print(f"  distances {trained}..{s * trained - 1}, positions / {s}:     {100 * outside(pi_scores[:, trained:]):.2f} %")
print("  PI score at distance 4*d equals the plain score at d:",
      torch.allclose(pi_scores[:, ::s][:, :trained], plain_scores[:, :trained], atol=1e-4))

# (c) the cost: neighbours are harder to tell apart.
step = lambda sc: (sc[:, 1:33] - sc[:, :32]).abs().mean().item()
print(f"  mean |score(d+1) - score(d)| for d < 32: plain {step(plain_scores):.4f}, PI {step(pi_scores):.4f}"
      f" (ratio {step(plain_scores) / step(pi_scores):.2f})")

fig, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2.2, 1]})
d = torch.arange(s * trained)
ax = axes[0]
ax.axvspan(0, trained, color="0.9", label="distances seen in training")
ax.plot(d, decay_plain, "r", lw=0.8, label="no interpolation (extrapolate)")
ax.plot(d, decay_pi, "b", lw=1.2, label=f"linear interpolation, positions / {s}")
ax.axhline(decay_plain[:trained].min(), color="k", ls=":", lw=0.8, label="lowest score seen in training")
ax.set_xlabel("relative distance (tokens)")
ax.set_ylabel("q·k / √d   (q = k = ones)")
ax.set_title("Past the trained length, extrapolation leaves familiar ground")
ax.legend(fontsize=8, loc="upper right")
ax = axes[1]
ax.plot(d[:33], plain_scores[0, :33], "r.-", label="no interpolation")
ax.plot(d[:33], pi_scores[0, :33], "b.-", label=f"positions / {s}")
ax.set_xlabel("relative distance (tokens)")
ax.set_ylabel("q·k / √d   (one random pair)")
ax.set_title("The cost: neighbours look alike")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "score_vs_distance.png", dpi=110)
print("wrote score_vs_distance.png")
