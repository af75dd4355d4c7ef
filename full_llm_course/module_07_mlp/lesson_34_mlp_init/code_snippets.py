"""Lesson 34: what DeepseekV3MLP.__init__ builds, for the dense MLP, an expert and the shared expert.

Run: python code_snippets.py   (a second; writes mlp_shapes.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from kimik2 import DeepseekV3MLP, KimiK2Config  # noqa: E402
from kimik2.mlp import ACTIVATIONS  # noqa: E402

HERE = Path(__file__).parent
torch.manual_seed(0)


def describe(label, mlp):
    shapes = ", ".join(f"{n.split('.')[0]} {tuple(p.shape)}" for n, p in mlp.named_parameters())
    print(f"  {label:28s} hidden {mlp.hidden_size:5d} intermediate {mlp.intermediate_size:6d}: {shapes} "
          f"-> {sum(p.numel() for p in mlp.parameters()):,}")


# 1. Kimi-K2 sizes, on the meta device (shapes only, no memory).
k2 = KimiK2Config.kimi_k2()
print("Kimi-K2 (meta device):")
with torch.device("meta"):
    describe("dense MLP (layer 0)", DeepseekV3MLP(k2))
    describe("routed expert", DeepseekV3MLP(k2, intermediate_size=k2.moe_intermediate_size))
    describe("shared expert", DeepseekV3MLP(k2, intermediate_size=k2.moe_intermediate_size * k2.n_shared_experts))

# 2. The tiny config, and the explicit hidden_size argument.
tiny = KimiK2Config.tiny()
print("tiny config (hidden 64, intermediate 192, moe_intermediate 32):")
describe("dense", DeepseekV3MLP(tiny))
describe("expert", DeepseekV3MLP(tiny, intermediate_size=tiny.moe_intermediate_size))
describe("hidden_size=48, inter=24", DeepseekV3MLP(tiny, hidden_size=48, intermediate_size=24))
mlp = DeepseekV3MLP(tiny)
print("biases:", [m.bias for m in (mlp.gate_proj, mlp.up_proj, mlp.down_proj)])
print("nn.Linear(64, 192) with the default bias=True would add", sum(p.numel() for p in nn.Linear(64, 192).parameters())
      - 64 * 192, "parameters per projection")
print("module tree:")
print(mlp)

# 3. act_fn for each supported hidden_act.
z = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
print("z                  " + " ".join(f"{v:8.4f}" for v in z.tolist()))
for act in ("silu", "gelu", "relu", "gelu_pytorch_tanh"):
    fn = DeepseekV3MLP(KimiK2Config.tiny(hidden_act=act)).act_fn
    print(f"{act:18s} " + " ".join(f"{v:8.4f}" for v in fn(z).tolist()))
grid = torch.linspace(-6, 6, 120001, dtype=torch.float64)
print(f"max |gelu - gelu_pytorch_tanh| on [-6, 6] = "
      f"{(ACTIVATIONS['gelu'](grid) - ACTIVATIONS['gelu_pytorch_tanh'](grid)).abs().max().item():.1e}")

# 4. Default nn.Linear init (before the model's _init_weights of module 12 overrides it).
print(f"default init: gate_proj weight std {mlp.gate_proj.weight.std().item():.4f} "
      f"(kaiming uniform bound 1/sqrt(64) = {1 / 64 ** 0.5:.4f}, std bound/sqrt(3) = {1 / 64 ** 0.5 / 3 ** 0.5:.4f})")

# Figure: the three weight matrices of the dense MLP and of one expert, drawn to scale.
fig, ax = plt.subplots(figsize=(9, 4.2))
H = k2.hidden_size
blocks = [("dense gate_proj\n(18432, 7168)", 0, 18432, H, "#1f77b4"),
          ("dense up_proj\n(18432, 7168)", 8000, 18432, H, "#ff7f0e"),
          ("dense down_proj\n(7168, 18432)", 16000, H, 18432, "#2ca02c"),
          ("expert gate\n(2048, 7168)", 36000, 2048, H, "#1f77b4"),
          ("expert up\n(2048, 7168)", 44000, 2048, H, "#ff7f0e"),
          ("expert down\n(7168, 2048)", 52000, H, 2048, "#2ca02c")]
for label, x0, rows, cols, color in blocks:
    ax.add_patch(plt.Rectangle((x0, 0), cols, rows, color=color, alpha=0.75))
    ax.text(x0 + cols / 2, rows + 500, label, ha="center", va="bottom", fontsize=8)
ax.set_xlim(-1000, 56000)
ax.set_ylim(0, 23000)
ax.set_aspect("equal")
ax.set_xlabel("in_features (columns of weight)")
ax.set_ylabel("out_features (rows)")
ax.set_title("nn.Linear weights are (out, in): dense MLP 396.4M params, one expert 44.0M (9x smaller)")
fig.tight_layout()
fig.savefig(HERE / "mlp_shapes.png", dpi=110)
print("wrote mlp_shapes.png")
