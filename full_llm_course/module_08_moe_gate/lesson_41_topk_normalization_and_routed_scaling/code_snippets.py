"""Lesson 41: renormalise the chosen weights over the top-k, then multiply by routed_scaling_factor.

Run: python code_snippets.py   (about 3 s; writes weight_sums.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import DeepseekV3MoE, KimiK2Config, MoEGate  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False)
torch.manual_seed(0)
torch.set_grad_enabled(False)  # the gradient story is lesson 42

# 1. One Kimi-K2 token: the 8 chosen sigmoid scores, renormalised, then scaled.
k2 = KimiK2Config.kimi_k2()
gate = MoEGate(k2)                                                  # weight (384, 7168), real size
x = torch.randn(2000, k2.hidden_size, generator=torch.Generator().manual_seed(1))
scores = gate.compute_scores(x)                                     # (2000, 384)
idx = gate.select_experts(scores)                                   # (2000, 8)
raw = scores.gather(1, idx)                                         # (2000, 8) unbiased scores
w = gate.normalize_weights(raw)
print("raw top-8 scores (token 0): ", raw[0], "sum", f"{raw[0].sum().item():.4f}")
print("normalised:                 ", raw[0] / raw[0].sum(), "sum", f"{(raw[0] / raw[0].sum()).sum().item():.4f}")
print("normalize_weights (x 2.827):", w[0], "sum", f"{w[0].sum().item():.4f}")

# 2. Order matters: scaling first is undone by the normalisation.
scaled_first = raw * k2.routed_scaling_factor
scaled_first = scaled_first / (scaled_first.sum(-1, keepdim=True) + 1e-20)
print("scale then normalise, token 0:", scaled_first[0], "sum", f"{scaled_first[0].sum().item():.4f}")

# 3. Sum of the 8 raw weights varies by token; after normalize_weights it is exactly the factor.
sums_raw, sums_out = raw.sum(-1), w.sum(-1)
print(f"raw sum over 2000 tokens: min {sums_raw.min():.4f} max {sums_raw.max():.4f}; "
      f"after: min {sums_out.min():.4f} max {sums_out.max():.4f}")
v3_gate = MoEGate(KimiK2Config.tiny(routed_scaling_factor=2.5, num_experts_per_tok=8, n_routed_experts=32))
print("DeepSeek-V3 factor: weights sum to", [round(v, 4) for v in v3_gate.normalize_weights(raw[:3]).sum(-1).tolist()])

# 4. top_k = 1: the remote rule skips the normalisation, transformers normalises anyway.
one = MoEGate(KimiK2Config.tiny(num_experts_per_tok=1))
s1 = torch.tensor([[0.62], [0.35]])
print("top_k=1, this course / remote code:", [round(v, 4) for v in one.normalize_weights(s1).flatten().tolist()])
print("top_k=1, transformers (always norm):", [round(v, 4) for v in (s1 / (s1.sum(-1, keepdim=True) + 1e-20) * one.routed_scaling_factor).flatten().tolist()])
off = MoEGate(KimiK2Config.tiny(norm_topk_prob=False))
print("norm_topk_prob=False, 4 experts:", off.normalize_weights(raw[:1, :4]), "= raw x 2.827")

# 5. Forgetting the factor on a tiny MoE layer: the routed part shrinks by 2.827.
config = KimiK2Config.tiny()
moe = DeepseekV3MoE(config).eval()
h = torch.randn(4, 16, config.hidden_size, generator=torch.Generator().manual_seed(2))
if True:
    full = moe(h)
    moe.gate.routed_scaling_factor = 1.0
    forgot = moe(h)
    shared = moe.shared_experts(h)
routed_ratio = (full - shared).norm() / (forgot - shared).norm()
print(f"routed output norm ratio (2.827 vs 1.0): {routed_ratio:.4f}")
print(f"whole layer output norm ratio (routed + shared): {full.norm() / forgot.norm():.4f}; "
      f"relative change {(full - forgot).norm() / full.norm():.4f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
ax1.hist(sums_raw.numpy(), bins=40, color="tab:gray", label="raw: sum of 8 sigmoid scores")
ax1.axvline(k2.routed_scaling_factor, color="tab:red", lw=2, label="after normalize_weights: 2.827")
ax1.axvline(1.0, color="tab:blue", ls="--", label="normalised only: 1.0")
ax1.set_xlabel("sum of a token's 8 mixing weights")
ax1.set_ylabel("tokens (of 2000)")
ax1.set_title("Kimi-K2 gate, random inputs")
ax1.legend(fontsize=8)
order = raw[0].argsort(descending=True)
pos = torch.arange(8)
ax2.bar(pos - 0.27, raw[0, order].numpy(), 0.27, label="raw sigmoid", color="tab:gray")
ax2.bar(pos, (raw[0] / raw[0].sum())[order].numpy(), 0.27, label="normalised (sum 1)", color="tab:blue")
ax2.bar(pos + 0.27, w[0, order].numpy(), 0.27, label="x 2.827 (sum 2.827)", color="tab:red")
ax2.set_xlabel("chosen expert (by score)")
ax2.set_ylabel("mixing weight")
ax2.set_title("token 0: the 8 weights step by step")
ax2.set_ylim(0, 1.2)
ax2.legend(fontsize=8, ncol=3, loc="upper center")
fig.tight_layout()
fig.savefig(HERE / "weight_sums.png", dpi=110)
print("wrote weight_sums.png")
