"""Lesson 92: QK-Clip per head - gamma_h = tau / S_max_h for heads over tau, exactly 1 otherwise.

Run: python code_snippets.py   (about 2 seconds; writes clip_factors.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2.qk_clip import clip_factors  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).parent
tau = 100.0

# 1. Eight heads of one layer: two of them exploded.
max_logit = torch.tensor([12.0, 35.5, 250.0, 64.0, 100.0, 8.0, 140.0, 47.0])
gamma = clip_factors(max_logit, tau)
print("1. one layer, 8 heads, tau = 100")
print("  S_max          :", [round(v, 1) for v in max_logit.tolist()])
print("  gamma per head :", [round(v, 4) for v in gamma.tolist()])
print("  S_max * gamma  :", [round(v, 1) for v in (max_logit * gamma).tolist()])
print("  heads == 1 exactly:", int((gamma == 1).sum()), "of", gamma.numel())

# 2. The superseded per-layer rule: one gamma = tau / max over heads for the whole layer.
layer_gamma = min(1.0, tau / max_logit.max().item())
print("\n2. per-layer clipping (one gamma for all heads) would use gamma =", round(layer_gamma, 4))
print("  S_max * gamma  :", [round(v, 1) for v in (max_logit * layer_gamma).tolist()])
print("  calm heads shrunk:", int(((max_logit <= tau) & (layer_gamma < 1)).sum()))

# 3. Kimi-K2 size: 61 layers x 64 heads.
g = torch.Generator().manual_seed(0)
s_max = 20 * (2 * torch.rand(61, 64, generator=g)).exp()   # synthetic: 20..148, most below 100
gammas = clip_factors(s_max, tau)
print(f"\n3. Kimi-K2 shapes: S_max {tuple(s_max.shape)} -> gamma {tuple(gammas.shape)}")
print(f"  heads clipped: {int((gammas < 1).sum())} of {gammas.numel()}, "
      f"max of S_max*gamma = {(s_max * gammas).max().item():.4f}")

# 4. Why `where` and not min(1, tau / S_max) computed carelessly: S_max can be 0 or negative.
odd = torch.tensor([0.0, -3.0, 100.0, 100.0001])
print("\n4. edge cases S_max =", odd.tolist(), "-> gamma =", clip_factors(odd, tau).tolist())

fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
heads = range(len(max_logit))
for ax, factor, title in ((axes[0], gamma, "per head (Kimi-K2)"),
                          (axes[1], torch.full_like(max_logit, layer_gamma), "per layer (superseded)")):
    ax.bar(heads, max_logit, color="lightgray", label="S_max before")
    ax.bar(heads, max_logit * factor, color="tab:blue", label="S_max after clip")
    ax.axhline(tau, color="tab:red", ls="--", label="tau = 100")
    ax.set_title(f"QK-Clip {title}")
    ax.set_xlabel("head")
axes[0].set_ylabel("max scaled logit S_max")
axes[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "clip_factors.png", dpi=110)
print("\nwrote clip_factors.png")
