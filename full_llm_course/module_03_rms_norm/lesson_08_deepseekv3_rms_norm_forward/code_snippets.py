"""Lesson 08: RMSNorm forward: fp32 statistics, cast back, then the weight.

Run: python code_snippets.py   (writes cast_order.png next to this file)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3RMSNorm

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=120)

# 1. The forward step by step on one token of width 8, in bfloat16.
print("== 1. step by step, hidden 8, bf16 input ==")
g = torch.Generator().manual_seed(0)
x = (torch.randn(1, 8, generator=g) * 2 + 0.5).bfloat16()
weight = torch.linspace(0.5, 2.0, 8).bfloat16()
h = x.to(torch.float32)
variance = h.pow(2).mean(-1, keepdim=True)
h = h * torch.rsqrt(variance + 1e-6)
y = weight * h.to(torch.bfloat16)
print("x          ", x)
print("variance   ", variance, "-> 1/RMS =", torch.rsqrt(variance + 1e-6).item())
print("normalised ", h)
print("cast back  ", h.to(torch.bfloat16))
print("weight     ", weight)
print("output     ", y, y.dtype)
norm = DeepseekV3RMSNorm(8).bfloat16()
norm.weight.data.copy_(weight)
print("module agrees:", torch.equal(norm(x), y))

# 2. Why the statistics are computed in float32.
print("\n== 2. fp32 statistics ==")
x = torch.randn(4, 7168, generator=g) * 3 + 1
xb = x.bfloat16()
exact = xb.double().pow(2).mean(-1)
in_fp32 = xb.float().pow(2).mean(-1)
in_bf16 = xb.pow(2).mean(-1)
print("mean of squares, exact (float64):", exact.numpy().round(4))
print("computed in float32:             ", in_fp32.numpy().round(4))
print("computed in bfloat16:            ", in_bf16.float().numpy().round(4))
print("relative error of the bf16 variance:", ((in_bf16.double() - exact) / exact).abs().max().item())
# A running sum kept in bf16 (what a naive kernel would do) stalls once the sum is large.
running = torch.zeros((), dtype=torch.bfloat16)
for square in xb[0].pow(2):
    running = running + square
print(f"running bf16 sum of 7168 squares / 7168: {running.item() / 7168:.4f} (exact {exact[0].item():.4f})")
# float16 input: the squares overflow (max 65504) before the mean is taken.
big = torch.full((1, 4), 300.0, dtype=torch.float16)
print("fp16 input of 300s: mean of squares in fp16 =", big.pow(2).mean().item(),
      "| in fp32 =", big.float().pow(2).mean().item())

# 3. Cast order: cast back THEN multiply by the weight (reference), or multiply then cast.
print("\n== 3. cast order in bf16, hidden 7168 ==")
w = (1 + 0.3 * torch.randn(7168, generator=g)).bfloat16()
norm = DeepseekV3RMSNorm(7168).bfloat16()
norm.weight.data.copy_(w)
reference = norm(xb).detach()
normalised = xb.float() * torch.rsqrt(xb.float().pow(2).mean(-1, keepdim=True) + 1e-6)
weight_first = w * normalised                      # bf16 weight * fp32 -> fp32 (type promotion)
print("weight first, no cast: dtype", weight_first.dtype, "(the output is no longer bf16)")
weight_first = weight_first.to(torch.bfloat16)     # one rounding instead of two
diff = (reference.float() - weight_first.float()).abs()
ulp = torch.finfo(torch.bfloat16).eps * 2.0 ** torch.floor(torch.log2(reference.float().abs()))
print(f"elements that differ: {(diff > 0).float().mean().item():.1%} of {diff.numel()}")
print(f"largest difference: {diff.max().item():.4f} = {(diff / ulp).max().item():.0f} bf16 ulp")
unit = DeepseekV3RMSNorm(7168).bfloat16()          # weight = 1: both orders agree exactly
print("with weight = ones the orders agree:", torch.equal(unit(xb), (unit.weight * normalised).to(torch.bfloat16)))
x64 = xb.double()
true = w.double() * x64 / x64.pow(2).mean(-1, keepdim=True).sqrt()
print(f"mean |error| vs float64 truth: reference order {(reference.double() - true).abs().mean().item():.5f}, "
      f"weight first {(weight_first.double() - true).abs().mean().item():.5f}")

# 4. eps really enters: compare eps 1e-6 and 1e-2 on small activations.
print("\n== 4. eps is used ==")
small = torch.randn(1, 16, generator=g) * 0.05
print("eps 1e-6:", DeepseekV3RMSNorm(16)(small).pow(2).mean().sqrt().item(),
      "| eps 1e-2:", DeepseekV3RMSNorm(16, eps=1e-2)(small).pow(2).mean().sqrt().item())

# Figure: reference vs weight-first output for 200 channels of one token, differences marked.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
d = (reference.float() - weight_first.float())[0]
axes[0].scatter(reference[0].float(), d, s=4, alpha=0.5)
axes[0].set_xlabel("output value (reference order)")
axes[0].set_ylabel("reference - weight-first")
axes[0].set_title("bf16: the two orders differ by whole ulps")
counts = torch.bincount((d.abs() / ulp[0]).round().long())
axes[1].bar(range(len(counts)), counts.numpy(), color=["tab:green"] + ["tab:red"] * (len(counts) - 1))
axes[1].set_xticks(range(len(counts)), ["same"] + [f"{k} ulp" for k in range(1, len(counts))])
axes[1].set_xlabel("|difference| in bf16 ulps of the reference value")
axes[1].set_ylabel("channels (of 7168)")
axes[1].set_title("one token, hidden 7168")
fig.suptitle("Cast back before the weight, or get different bf16 numbers than the checkpoint's code")
fig.tight_layout()
fig.savefig(HERE / "cast_order.png", dpi=110)
print("\nwrote cast_order.png")
