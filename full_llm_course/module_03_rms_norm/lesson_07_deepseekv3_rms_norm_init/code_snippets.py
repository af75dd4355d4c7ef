"""Lesson 07: RMSNorm vs LayerNorm, the invariances, eps, and where the norms sit in Kimi-K2.

Run: python code_snippets.py   (writes rms_vs_layernorm.png next to this file)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3RMSNorm, KimiK2Config, KimiK2ForCausalLM

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False)


def layer_norm(x, eps=1e-6):
    """LayerNorm without its affine part: subtract the mean, divide by the std."""
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps)


def rms_norm(x, eps=1e-6):
    """RMSNorm without its weight: divide by the root mean square, keep the mean."""
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def stats(name, t):
    mean, rms = t.mean(-1), t.pow(2).mean(-1).sqrt()
    print(f"{name:<12} mean per token {mean.numpy().round(3)}   RMS per token {rms.numpy().round(3)}")
    return mean, rms


# 1. Activations whose tokens have different, non-zero means and scales.
print("== 1. per-token statistics, 6 tokens, hidden 512 ==")
g = torch.Generator().manual_seed(0)
offsets = torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.5, 3.0])[:, None]
scales = torch.tensor([0.5, 1.0, 2.0, 1.0, 4.0, 1.5])[:, None]
x = offsets + scales * torch.randn(6, 512, generator=g)
before = stats("input", x)
after_ln = stats("LayerNorm", layer_norm(x))
after_rms = stats("RMSNorm", rms_norm(x))
print("mean/RMS of the input (kept by RMSNorm):", (before[0] / before[1]).numpy().round(3))

# 2. The two invariances.
print("\n== 2. invariances ==")
c, a = 5.0, 3.7
print("LayerNorm(x + c) == LayerNorm(x):", torch.allclose(layer_norm(x + c), layer_norm(x), atol=1e-4))
print("RMSNorm(x + c)   == RMSNorm(x):  ", torch.allclose(rms_norm(x + c), rms_norm(x), atol=1e-4))
print("LayerNorm(a x)   == LayerNorm(x):", torch.allclose(layer_norm(a * x), layer_norm(x), atol=1e-4))
print("RMSNorm(a x)     == RMSNorm(x):  ", torch.allclose(rms_norm(a * x), rms_norm(x), atol=1e-4))

# 3. eps: a guard against 0/0, invisible at ordinary scales.
print("\n== 3. eps ==")
zero = torch.zeros(1, 8)
print("RMSNorm of a zero vector, eps=1e-6:", rms_norm(zero, 1e-6)[0, :3], " eps=0:", rms_norm(zero, 0.0)[0, :3])
for size in (1.0, 1e-2, 1e-3, 1e-4):
    v = torch.full((1, 8), size)
    print(f"constant vector {size:g}: RMS of output with eps=1e-6 -> {rms_norm(v, 1e-6).pow(2).mean().sqrt():.4f}")

# 4. What __init__ creates.
print("\n== 4. the module ==")
norm = DeepseekV3RMSNorm(7168)
print(norm, "| weight", tuple(norm.weight.shape), norm.weight.dtype, "| all ones:", bool((norm.weight == 1).all()),
      "| parameters:", sum(p.numel() for p in norm.parameters()))
print("after .to(torch.bfloat16):", norm.to(torch.bfloat16).weight.dtype)

# 5. Where the norms sit in Kimi-K2 (counted from the config; the tiny model confirms the pattern).
print("\n== 5. RMSNorms in Kimi-K2 ==")
cfg = KimiK2Config.kimi_k2()
L, H = cfg.num_hidden_layers, cfg.hidden_size
rows = [("input_layernorm", L, H, cfg.rms_norm_eps), ("post_attention_layernorm", L, H, cfg.rms_norm_eps),
        ("model.norm (final)", 1, H, cfg.rms_norm_eps), ("q_a_layernorm", L, cfg.q_lora_rank, 1e-6),
        ("kv_a_layernorm", L, cfg.kv_lora_rank, 1e-6)]
for name, count, size, eps in rows:
    print(f"{name:<26} x{count:<3} size {size:<5} eps {eps:g}  -> {count * size:>9,} weights")
print(f"total: {sum(r[1] for r in rows)} norms, {sum(r[1] * r[2] for r in rows):,} weights "
      f"(of {1_026_408_232_448:,} parameters)")
tiny = KimiK2ForCausalLM(KimiK2Config.tiny(rms_norm_eps=1e-5))
found = {}
for name, module in tiny.named_modules():
    if isinstance(module, DeepseekV3RMSNorm):
        key = (name.split(".")[-1], module.weight.shape[0], module.variance_epsilon)
        found[key] = found.get(key, 0) + 1
print("tiny config with rms_norm_eps=1e-5:", found)

# Figure: per-token mean and RMS before and after each norm.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
tokens = range(6)
w = 0.27
for ax, idx, title in ((axes[0], 0, "per-token mean"), (axes[1], 1, "per-token RMS")):
    ax.bar([t - w for t in tokens], before[idx], w, label="input", color="0.6")
    ax.bar(tokens, after_ln[idx], w, label="LayerNorm", color="tab:blue")
    ax.bar([t + w for t in tokens], after_rms[idx], w, label="RMSNorm", color="tab:orange")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("token")
    ax.set_title(title)
axes[0].set_ylabel("mean over 512 channels")
axes[1].set_ylabel("root mean square over 512 channels")
axes[0].legend(fontsize=8)
fig.suptitle("Both norms bring every token to RMS 1; only LayerNorm also forces its mean to 0")
fig.tight_layout()
fig.savefig(HERE / "rms_vs_layernorm.png", dpi=110)
print("\nwrote rms_vs_layernorm.png")
