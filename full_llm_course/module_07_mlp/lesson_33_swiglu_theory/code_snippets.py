"""Lesson 33: SwiGLU from GLU, the SiLU curve, the 2/3 rule and the widths Kimi-K2 really uses.

Run: python code_snippets.py   (a second; writes activations.png and gating.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kimik2 import KimiK2Config  # noqa: E402

HERE = Path(__file__).parent
torch.manual_seed(0)

# 1. SiLU = x * sigmoid(x) (Swish with beta = 1), next to ReLU and GELU, and their derivatives.
x = torch.tensor([-4.0, -2.0, -1.2785, -0.5, 0.0, 0.5, 1.0, 2.0, 4.0])
print("x          " + " ".join(f"{v:8.4f}" for v in x.tolist()))
print("silu(x)    " + " ".join(f"{v:8.4f}" for v in F.silu(x).tolist()))
print("x*sigm(x)  " + " ".join(f"{v:8.4f}" for v in (x * torch.sigmoid(x)).tolist()))
print("gelu(x)    " + " ".join(f"{v:8.4f}" for v in F.gelu(x).tolist()))
print("relu(x)    " + " ".join(f"{v:8.4f}" for v in F.relu(x).tolist()))
grid = torch.linspace(-6, 6, 240001, dtype=torch.float64)
silu = F.silu(grid)
i = silu.argmin()
print(f"SiLU minimum: {silu[i].item():.4f} at x = {grid[i].item():.4f}")
s = torch.sigmoid(grid)
d_formula = s * (1 + grid * (1 - s))
g = grid.clone().requires_grad_(True)
F.silu(g).sum().backward()
print(f"SiLU'(x) = s(x)(1 + x(1 - s(x))): max |formula - autograd| = {(d_formula - g.grad).abs().max().item():.1e}")
diff = (F.silu(grid) - F.gelu(grid)).abs()
print(f"max |SiLU - GELU| = {diff.max().item():.3f} at |x| = {grid[diff.argmax()].abs().item():.2f}")
print(f"SiLU'(x) range on [-6, 6]: [{d_formula.min().item():.4f}, {d_formula.max().item():.4f}]  (ReLU': 0 or 1)")

# 2. The 2/3 rule and what Kimi-K2 / DeepSeek-V3 use instead.
k2, v3 = KimiK2Config.kimi_k2(), KimiK2Config.deepseek_v3()
H = k2.hidden_size
print(f"ReLU FFN at 4H: 2 * H * 4H = {2 * H * 4 * H:,} parameters")
print(f"gated FFN with the same count: 3 * H * d = 8 H^2  ->  d = 8H/3 = {8 * H / 3:.2f}")
for label, width in (("dense (layer 0)", k2.intermediate_size), ("routed expert", k2.moe_intermediate_size),
                     ("shared expert", k2.moe_intermediate_size * k2.n_shared_experts)):
    print(f"  {label:16s} width {width:6d} = {width / H:.4f} x H   parameters 3*H*d = {3 * H * width:,}")
print(f"dense / expert parameters: {k2.intermediate_size // k2.moe_intermediate_size}")
print(f"dense MLP layers: Kimi-K2 {k2.first_k_dense_replace}, DeepSeek-V3 {v3.first_k_dense_replace}; "
      f"hidden_act {k2.hidden_act!r} / {v3.hidden_act!r}")

# 3. Gating on a few units: a tiny SwiGLU with H = 4 and width 6, on one token.
h = torch.tensor([0.8, -1.1, 0.3, 1.5])
W_gate = torch.randn(6, 4) * 0.8
W_up = torch.randn(6, 4) * 0.8
gate, up = W_gate @ h, W_up @ h
act = F.silu(gate)
prod = act * up
torch.set_printoptions(precision=3, sci_mode=False)
print("gate = W_gate h   ", gate)
print("silu(gate)        ", act)
print("up   = W_up h     ", up)
print("silu(gate) * up   ", prod)

# Figure 1: activations and derivatives.
xs = torch.linspace(-5, 5, 1001).requires_grad_(True)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for name, fn, style in (("ReLU", F.relu, "--"), ("GELU", F.gelu, "-."), ("SiLU = x·σ(x)", F.silu, "-")):
    y = fn(xs)
    (dy,) = torch.autograd.grad(y.sum(), xs)
    axes[0].plot(xs.detach(), y.detach(), style, label=name, lw=2)
    axes[1].plot(xs.detach(), dy, style, label=name, lw=2)
axes[0].set_title("activation f(x)")
axes[1].set_title("derivative f'(x)")
axes[0].annotate("SiLU min -0.278\nat x = -1.278", xy=(-1.278, -0.278), xytext=(-4.8, 1.6),
                 arrowprops=dict(arrowstyle="->"))
for ax in axes:
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel("x")
    ax.legend()
    ax.grid(alpha=0.3)
axes[0].set_ylim(-1, 5)
axes[1].set_ylim(-0.2, 1.2)
fig.tight_layout()
fig.savefig(HERE / "activations.png", dpi=110)

# Figure 2: the gating product on 6 units.
fig, ax = plt.subplots(figsize=(9, 3.8))
units = torch.arange(6)
w = 0.2
ax.bar(units - 1.5 * w, gate, w, label="gate = W_gate·h", color="#bbbbbb")
ax.bar(units - 0.5 * w, act, w, label="SiLU(gate)", color="#1f77b4")
ax.bar(units + 0.5 * w, up, w, label="up = W_up·h", color="#ff7f0e")
ax.bar(units + 1.5 * w, prod, w, label="SiLU(gate) ⊙ up", color="#2ca02c")
ax.axhline(0, color="black", lw=0.7)
ax.set_xticks(units, [f"unit {j}" for j in units.tolist()])
ax.set_ylabel("value")
ax.set_title("Gating on one token: SiLU(gate) scales up unit by unit (H = 4, width 6)")
ax.legend(fontsize=8, ncol=2)
ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
fig.savefig(HERE / "gating.png", dpi=110)
print("wrote activations.png, gating.png")
