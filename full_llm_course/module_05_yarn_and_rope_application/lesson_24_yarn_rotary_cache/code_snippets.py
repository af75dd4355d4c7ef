"""Lesson 24: YaRN's blended frequencies (_yarn_inv_freq) and the cos/sin table built from them,
for Kimi-K2 and DeepSeek-V3.

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes yarn_inv_freq.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3RotaryEmbedding, DeepseekV3YarnRotaryEmbedding, KimiK2Config
from kimik2.attention import softmax_scale
from kimik2.rope import yarn_find_correction_range

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=True, linewidth=110)

MODELS = {  # name: (theta, factor, original, beta_fast, beta_slow)
    "Kimi-K2": (50000.0, 32.0, 4096, 1.0, 1.0),
    "DeepSeek-V3": (10000.0, 40.0, 4096, 32.0, 1.0),
}
results = {}
for name, (theta, factor, original, bf, bs) in MODELS.items():
    yarn = DeepseekV3YarnRotaryEmbedding(64, max_position_embeddings=int(original * factor), base=theta,
                                         scaling_factor=factor, original_max_position_embeddings=original,
                                         beta_fast=bf, beta_slow=bs, mscale=1.0, mscale_all_dim=1.0)
    plain = DeepseekV3RotaryEmbedding(64, base=theta)
    low, high = yarn_find_correction_range(bf, bs, 64, theta, original)
    ratio = plain.inv_freq / yarn.inv_freq          # 1 = kept, factor = divided
    wave = 2 * math.pi / yarn.inv_freq
    results[name] = (plain.inv_freq, yarn.inv_freq, ratio, low, high, factor)
    print(f"== {name}: theta {theta:g}, factor {factor:g}, beta_fast {bf:g}, beta_slow {bs:g} -> (low, high) = ({low}, {high})")
    print("  yarn inv_freq (32 pairs):")
    print("  ", yarn.inv_freq)
    print("  original / yarn per pair:", [round(r, 2) for r in ratio.tolist()])
    kept = [i for i, r in enumerate(ratio.tolist()) if abs(r - 1) < 1e-5]
    divided = [i for i, r in enumerate(ratio.tolist()) if abs(r - factor) < 1e-3]
    print(f"  kept pairs {kept[0]}-{kept[-1]}, divided by {factor:g}: pairs {divided[0]}-{divided[-1]}, "
          f"blended: {[i for i in range(32) if i not in kept and i not in divided]}")
    print("  pair | wavelength before | after YaRN | turns in 4096 (before) | turns in 131072 (after)")
    for i in (0, 9, 10, 16, 19, 20, 23, 24, 31):
        before = 2 * math.pi / plain.inv_freq[i].item()
        print(f"  {i:4d} | {before:17,.1f} | {wave[i].item():10,.1f} | {4096 / before:22.2f} | "
              f"{131072 / wave[i].item():23.2f}")
    print(f"  attention_scaling on cos/sin = {yarn.attention_scaling}")

print("softmax scale, Kimi-K2:", round(softmax_scale(KimiK2Config()), 6), " plain 192^-0.5 =", round(192 ** -0.5, 6))

# The table itself comes from the inherited _set_cos_sin_cache.
cfg = KimiK2Config.tiny()
s = cfg.rope_scaling
tiny = DeepseekV3YarnRotaryEmbedding(cfg.qk_rope_head_dim, cfg.max_position_embeddings, cfg.rope_theta,
                                     scaling_factor=s["factor"], original_max_position_embeddings=256,
                                     beta_fast=1.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0)
cos, sin = tiny(torch.zeros(1), seq_len=10)
print("tiny config: dim", cfg.qk_rope_head_dim, "theta", cfg.rope_theta, "factor", s["factor"], "original 256")
print("  range", yarn_find_correction_range(1.0, 1.0, 16, cfg.rope_theta, 256), "inv_freq", tiny.inv_freq)
print("  cos", tuple(cos.shape), "row 3 == cos(3 * concat(inv_freq, inv_freq)):",
      torch.allclose(cos[3], torch.cos(3 * torch.cat([tiny.inv_freq, tiny.inv_freq]))))
half = DeepseekV3YarnRotaryEmbedding(16, 1024, cfg.rope_theta, scaling_factor=4.0, original_max_position_embeddings=256,
                                     mscale=1.0, mscale_all_dim=0.0)
print("  with mscale_all_dim = 0: attention_scaling", round(half.attention_scaling, 6),
      "cos row 0:", half(torch.zeros(1), seq_len=2)[0][0, :2])

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
pairs = torch.arange(32)
ax = axes[0]
for (name, (_, _, ratio, low, high, factor)), c in zip(results.items(), ("tab:red", "tab:blue")):
    ax.plot(pairs, ratio, "o-", color=c, ms=3, label=f"{name}: ramp {low}..{high}, factor {factor:g}")
ax.set_yscale("log")
ax.set_xlabel("pair index i")
ax.set_ylabel("original freq / YaRN freq")
ax.set_title("Which pairs YaRN slows down")
ax.legend(fontsize=8)
ax = axes[1]
for (name, (orig, new, _, _, _, _)), c in zip(results.items(), ("tab:red", "tab:blue")):
    ax.plot(pairs, 2 * math.pi / orig, ":", color=c, label=f"{name} before")
    ax.plot(pairs, 2 * math.pi / new, "-", color=c, label=f"{name} with YaRN")
for L, txt in ((4096, "4096 (original)"), (131072, "131072 (extended)")):
    ax.axhline(L, color="k", lw=0.8, ls="--")
    ax.text(0, L * 1.3, txt, fontsize=8)
ax.set_yscale("log")
ax.set_xlabel("pair index i")
ax.set_ylabel("wavelength 2π/θ_i (tokens)")
ax.set_title("Wavelengths against the two context lengths")
ax.legend(fontsize=7, loc="lower right")
fig.tight_layout()
fig.savefig(HERE / "yarn_inv_freq.png", dpi=110)
print("wrote yarn_inv_freq.png")
