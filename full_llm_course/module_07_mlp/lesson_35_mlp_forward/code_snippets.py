"""Lesson 35: DeepseekV3MLP.forward, step by step, at tiny and Kimi-K2 sizes, in fp32 and bf16.

Run: python code_snippets.py   (a few seconds; writes intermediates.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kimik2 import DeepseekV3MLP, KimiK2Config  # noqa: E402

HERE = Path(__file__).parent
torch.manual_seed(0)
torch.set_printoptions(precision=4, sci_mode=False)

# 1. Tiny MLP, one step at a time.
tiny = KimiK2Config.tiny()
mlp = DeepseekV3MLP(tiny)
x = torch.randn(2, 5, tiny.hidden_size)
gate = mlp.gate_proj(x)
up = mlp.up_proj(x)
hidden = mlp.act_fn(gate) * up
out = mlp.down_proj(hidden)
print(f"x {tuple(x.shape)} -> gate {tuple(gate.shape)}, up {tuple(up.shape)} -> hidden {tuple(hidden.shape)} "
      f"-> out {tuple(out.shape)}")
print("forward == step by step:", torch.equal(mlp(x), out))
manual = (F.silu(x @ mlp.gate_proj.weight.T) * (x @ mlp.up_proj.weight.T)) @ mlp.down_proj.weight.T
print(f"max |forward - matmul formula| = {(mlp(x) - manual).abs().max().item():.1e}")
print("token (0, 0), first 6 units: gate      ", gate[0, 0, :6].detach())
print("                             silu(gate)", F.silu(gate[0, 0, :6]).detach())
print("                             up        ", up[0, 0, :6].detach())
print("                             product   ", hidden[0, 0, :6].detach())
print("out[0, 0, :6]", out[0, 0, :6].detach())

# 2. Common mistakes and how far they land from the right answer.
wrong = {
    "silu on up, not gate": mlp.down_proj(F.silu(up) * gate),
    "silu on both": mlp.down_proj(F.silu(gate) * F.silu(up)),
    "silu after down_proj": F.silu(mlp.down_proj(gate * up)),
    "gelu instead of silu": mlp.down_proj(F.gelu(gate) * up),
}
scale = out.abs().max().item()
print(f"max |out| = {scale:.4f}; max error of common mistakes:")
for label, y in wrong.items():
    print(f"  {label:24s} {(y - out).abs().max().item():.4f}")

# 3. Any leading shape works: the Linears act on the last dimension.
for shape in ((64,), (3, 64), (2, 5, 64), (2, 3, 5, 64)):
    print(f"  input {str(shape):15s} -> output {tuple(mlp(torch.randn(shape)).shape)}")

# 4. One Kimi-K2 expert (hidden 7168, intermediate 2048), fp32 vs bf16.
k2 = KimiK2Config.kimi_k2()
expert = DeepseekV3MLP(k2, intermediate_size=k2.moe_intermediate_size)
for p in expert.parameters():
    torch.nn.init.normal_(p, std=k2.initializer_range)   # what the model's _init_weights does (module 12)
h = torch.randn(4, 16, k2.hidden_size)
with torch.no_grad():
    g32, u32 = expert.gate_proj(h), expert.up_proj(h)
    y32 = expert(h)
    y16 = expert.to(torch.bfloat16)(h.bfloat16())
rel = ((y16.float() - y32).norm() / y32.norm()).item()
print(f"Kimi-K2 expert: x {tuple(h.shape)} -> gate/up {tuple(g32.shape)} -> out {tuple(y32.shape)}, dtype bf16 in -> "
      f"{y16.dtype} out")
print(f"  fp32 out std {y32.std().item():.4f}; bf16 vs fp32: max abs {(y16.float() - y32).abs().max().item():.4f}, "
      f"relative {rel:.4f}")
H = k2.hidden_size
for label, width in (("dense", k2.intermediate_size), ("expert", k2.moe_intermediate_size)):
    print(f"  {label:6s} FLOPs per token 2*3*H*d = {2 * 3 * H * width / 1e6:.1f} M; hidden activation per token "
          f"{width} values ({width * 2 / 1024:.0f} KiB in bf16)")

# Figure: the four intermediate tensors of the expert, as histograms.
a32 = F.silu(g32)
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
data = [("gate = x W_gate^T", g32), ("SiLU(gate)", a32), ("up = x W_up^T", u32), ("SiLU(gate) * up", a32 * u32)]
for ax, (title, t) in zip(axes, data):
    ax.hist(t.flatten().numpy(), bins=120, color="#1f77b4")
    ax.set_title(f"{title}\nstd {t.std().item():.3f}", fontsize=9)
    ax.set_xlabel("value")
    ax.set_yticks([])
axes[0].set_ylabel("count")
fig.suptitle("One Kimi-K2 expert (7168 -> 2048 -> 7168, weights N(0, 0.02^2)), 64 tokens x ~ N(0, 1)", fontsize=10)
fig.tight_layout()
fig.savefig(HERE / "intermediates.png", dpi=110)
print(f"fraction of SiLU(gate) in [-0.278, 0): {(a32 < 0).float().mean().item():.3f}; "
      f"gate std {g32.std().item():.3f} (0.02 * sqrt(7168) = {0.02 * H ** 0.5:.3f})")
print("wrote intermediates.png")
