"""Lesson 21: yarn_get_mscale, YaRN's attention temperature, and where Kimi-K2 applies it.

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes mscale.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import kimik2
from kimik2.attention import softmax_scale
from kimik2.rope import yarn_get_mscale

HERE = Path(__file__).parent

print("yarn_get_mscale(scale, mscale=1):")
for scale in (0.5, 1.0, 2.0, 4.0, 32.0, 40.0, 64.0):
    print(f"  scale {scale:5g}: {yarn_get_mscale(scale, 1.0):.6f}")
print(f"yarn_get_mscale(40, 0.707) = {yarn_get_mscale(40.0, 0.707):.6f}, yarn_get_mscale(40, 0) = {yarn_get_mscale(40.0, 0.0):.6f}")

print(f"with log10 by mistake: 0.1*log10(32) + 1 = {0.1 * math.log10(32.0) + 1:.6f}")
print("factor on cos/sin = mscale(factor, mscale) / mscale(factor, mscale_all_dim):")
for name, factor, m, m_all in (("Kimi-K2", 32.0, 1.0, 1.0), ("DeepSeek-V3", 40.0, 1.0, 1.0),
                               ("mscale 0.707, mscale_all_dim 0", 40.0, 0.707, 0.0)):
    print(f"  {name:31s}: {yarn_get_mscale(factor, m):.6f} / {yarn_get_mscale(factor, m_all):.6f} = "
          f"{yarn_get_mscale(factor, m) / yarn_get_mscale(factor, m_all):.6f}")

print("softmax scale = 192^-0.5 * mscale(factor, mscale_all_dim)^2:")
base_scale = 192 ** -0.5
for name, config in (("Kimi-K2", kimik2.KimiK2Config.kimi_k2()), ("DeepSeek-V3", kimik2.KimiK2Config.deepseek_v3())):
    m = yarn_get_mscale(config.rope_scaling["factor"], config.rope_scaling["mscale_all_dim"])
    print(f"  {name:11s}: {base_scale:.7f} * {m:.6f}^2 = {base_scale:.7f} * {m * m:.7f} = {base_scale * m * m:.7f}"
          f"   (kimik2.attention.softmax_scale: {softmax_scale(config):.7f})")
print(f"  DeepSeek inference/model.py at max_seq_len <= 4096: {base_scale:.7f} (no mscale)")
print(f"  logits grow by {yarn_get_mscale(32.0) ** 2:.4f}x (Kimi-K2): temperature t = 1/mscale^2 = {1 / yarn_get_mscale(32.0) ** 2:.4f}")

# Figure: mscale and mscale^2 against the factor
factors = [2 ** (k / 16) for k in range(-16, 7 * 16 + 1)]  # 0.5 .. 128
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for m, color in ((1.0, "tab:blue"), (0.707, "tab:orange")):
    axes[0].plot(factors, [yarn_get_mscale(s, m) for s in factors], color=color, label=f"mscale argument m = {m:g}")
axes[1].plot(factors, [yarn_get_mscale(s) ** 2 for s in factors], color="tab:blue", label="mscale(s, 1)^2")
for name, s, color in (("Kimi-K2", 32.0, "tab:red"), ("DeepSeek-V3", 40.0, "tab:green"), ("K2-0905", 64.0, "tab:purple")):
    axes[0].plot([s], [yarn_get_mscale(s)], "o", color=color, label=f"{name}: s = {s:g}, {yarn_get_mscale(s):.4f}")
    axes[1].plot([s], [yarn_get_mscale(s) ** 2], "o", color=color, label=f"{name}: {yarn_get_mscale(s) ** 2:.4f}")
for ax in axes:
    ax.set_xscale("log", base=2)
    ax.set_xlabel("scaling factor s (log)")
    ax.axvline(1, color="k", lw=0.8, ls="--")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
axes[0].set_ylabel("yarn_get_mscale(s, m)")
axes[0].set_title("mscale = 0.1·m·ln s + 1 (1 for s ≤ 1)")
axes[1].set_ylabel("multiplier on 192^-0.5")
axes[1].set_title("Softmax-scale multiplier mscale(s, mscale_all_dim)²")
fig.tight_layout()
fig.savefig(HERE / "mscale.png", dpi=110)
print("wrote mscale.png")
