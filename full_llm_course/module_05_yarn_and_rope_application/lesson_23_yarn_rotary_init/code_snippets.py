"""Lesson 23: DeepseekV3YarnRotaryEmbedding.__init__ stores the YaRN parameters, builds the
blended inv_freq and the cos/sin factor attention_scaling.

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes yarn_inv_freq.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3RotaryEmbedding, KimiK2Config
from kimik2.rope import DeepseekV3YarnRotaryEmbedding, build_rotary_embedding

HERE = Path(__file__).parent
torch.set_printoptions(precision=3, sci_mode=False, linewidth=110)

kimi = build_rotary_embedding(KimiK2Config.kimi_k2())
dsv3 = build_rotary_embedding(KimiK2Config.deepseek_v3())
for name, rope in (("Kimi-K2", kimi), ("DeepSeek-V3", dsv3)):
    print(f"{name}: {type(rope).__name__}(dim={rope.dim}, max_position_embeddings={rope.max_position_embeddings}, "
          f"base={rope.base:g})")
    print(f"  scaling_factor={rope.scaling_factor:g}, original_max_position_embeddings={rope.original_max_position_embeddings}, "
          f"beta_fast={rope.beta_fast:g}, beta_slow={rope.beta_slow:g}, mscale={rope.mscale:g}, "
          f"mscale_all_dim={rope.mscale_all_dim:g}")
    plain = DeepseekV3RotaryEmbedding(rope.dim, rope.max_position_embeddings, rope.base)
    ratio = plain.inv_freq / rope.inv_freq
    print(f"  inv_freq {tuple(rope.inv_freq.shape)} {rope.inv_freq.dtype}; original / YaRN per pair:")
    print("   ", ratio)
    print(f"  attention_scaling = {rope.attention_scaling}")
    print(f"  buffers: {[n for n, _ in rope.named_buffers()]}, state_dict keys: {list(rope.state_dict())}")

other = DeepseekV3YarnRotaryEmbedding(64, 163840, 10000.0, scaling_factor=40.0, original_max_position_embeddings=4096,
                                      beta_fast=32.0, beta_slow=1.0, mscale=0.707, mscale_all_dim=0.0)
print(f"mscale 0.707, mscale_all_dim 0, factor 40: attention_scaling = {other.attention_scaling:.6f}")

tiny = build_rotary_embedding(KimiK2Config.tiny())
cos, sin = tiny(torch.zeros(1, dtype=torch.bfloat16), seq_len=10)
print(f"tiny config: dim {tiny.dim}, factor {tiny.scaling_factor:g}, original {tiny.original_max_position_embeddings}, "
      f"inv_freq {tuple(tiny.inv_freq.shape)}, cos {tuple(cos.shape)} {cos.dtype}")

# Figure: per-pair frequencies, original vs YaRN, both models (log scale)
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
pairs = torch.arange(32)
for ax, (name, rope) in zip(axes, (("Kimi-K2", kimi), ("DeepSeek-V3", dsv3))):
    plain = DeepseekV3RotaryEmbedding(rope.dim, rope.max_position_embeddings, rope.base).inv_freq
    ax.semilogy(pairs, plain, "o-", ms=3.5, color="tab:gray", label=f"original θ_i = {rope.base:g}^(−2i/64)")
    ax.semilogy(pairs, plain / rope.scaling_factor, ":", color="tab:orange", label=f"θ_i / {rope.scaling_factor:g} (interpolated)")
    ax.semilogy(pairs, rope.inv_freq, "s-", ms=3.5, color="tab:blue", label="YaRN inv_freq")
    ax.axhline(2 * torch.pi / rope.original_max_position_embeddings, color="k", ls="--", lw=0.8,
               label="one turn per 4096 tokens")
    ax.set_title(f"{name}: factor {rope.scaling_factor:g}, betas ({rope.beta_fast:g}, {rope.beta_slow:g})")
    ax.set_xlabel("frequency pair i")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
axes[0].set_ylabel("radians per token (log)")
fig.tight_layout()
fig.savefig(HERE / "yarn_inv_freq.png", dpi=110)
print("wrote yarn_inv_freq.png")
