"""Lesson 43: what DeepseekV3MoE.__init__ builds, and what one MoE layer costs in parameters.

Run: python code_snippets.py   (about 2 s; writes moe_params.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import DeepseekV3MLP, DeepseekV3MoE, KimiK2Config, count_parameters  # noqa: E402

HERE = Path(__file__).parent


def numel(module):
    return sum(p.numel() for p in module.parameters())


# 1. The tiny layer: what it owns, by name.
tiny = KimiK2Config.tiny()                      # 16 experts of width 32, 4 per token, 1 shared expert
torch.manual_seed(0)
moe = DeepseekV3MoE(tiny)
print("children:", [(name, type(child).__name__) for name, child in moe.named_children()])
print("len(experts):", len(moe.experts), "| experts[0]:", moe.experts[0].intermediate_size,
      "wide | shared:", moe.shared_experts.intermediate_size, "wide")
keys = list(moe.state_dict())
print(f"{len(keys)} state_dict keys; first 3: {keys[:3]}; last 5: {keys[-5:]}")
print("buffers:", [(n, tuple(b.shape), b.dtype) for n, b in moe.named_buffers()],
      "| persistent:", "tokens_per_expert" in moe.state_dict())
print("n_shared_experts=None ->", DeepseekV3MoE(KimiK2Config.tiny(n_shared_experts=None)).shared_experts)
print("n_shared_experts=2 -> shared width", DeepseekV3MoE(KimiK2Config.tiny(n_shared_experts=2)).shared_experts.intermediate_size)

# 2. One wide shared MLP equals the sum of n narrow ones (their weights concatenated).
cfg = KimiK2Config.tiny()
a, b = DeepseekV3MLP(cfg, intermediate_size=32), DeepseekV3MLP(cfg, intermediate_size=32)
wide = DeepseekV3MLP(cfg, intermediate_size=64)
with torch.no_grad():
    for name in ("gate_proj", "up_proj"):
        getattr(wide, name).weight.copy_(torch.cat([getattr(a, name).weight, getattr(b, name).weight], dim=0))
    wide.down_proj.weight.copy_(torch.cat([a.down_proj.weight, b.down_proj.weight], dim=1))
x = torch.randn(5, 64, generator=torch.Generator().manual_seed(1))
print(f"max |wide(x) - (a(x) + b(x))| = {(wide(x) - a(x) - b(x)).abs().max().item():.1e}")

# 3. Kimi-K2 and DeepSeek-V3 sizes, on the meta device (shapes only, no memory).
rows = {}
for label, config in (("Kimi-K2", KimiK2Config.kimi_k2()), ("DeepSeek-V3", KimiK2Config.deepseek_v3())):
    with torch.device("meta"):
        layer = DeepseekV3MoE(config)
    expert, routed = numel(layer.experts[0]), numel(layer.experts)
    gate, shared = numel(layer.gate), numel(layer.shared_experts)
    total = numel(layer)
    active = config.num_experts_per_tok * expert + shared + gate
    n_moe = sum(config.is_moe_layer(i) for i in range(config.num_hidden_layers))
    model_total = count_parameters(config)["total"]
    rows[label] = dict(routed=routed, shared=shared, gate=gate, active_routed=config.num_experts_per_tok * expert)
    print(f"{label}: expert {expert:,} | {config.n_routed_experts} routed {routed:,} | gate {gate:,} | "
          f"shared {shared:,}")
    print(f"  one MoE layer: total {total:,}, active per token {active:,} ({active / total:.2%})")
    print(f"  {n_moe} MoE layers: {n_moe * total:,} of the model's {model_total:,} parameters "
          f"({n_moe * total / model_total:.1%})")
    print(f"  gate.weight {tuple(layer.gate.weight.shape)}, experts[0].gate_proj.weight "
          f"{tuple(layer.experts[0].gate_proj.weight.shape)}, shared_experts.down_proj.weight "
          f"{tuple(layer.shared_experts.down_proj.weight.shape)}")
print(f"bytes to build one Kimi-K2 MoE layer on a CPU in float32: {rows['Kimi-K2']['routed'] * 4 / 2**30:.1f} GiB "
      "for the routed experts alone")

# Figure: stored vs touched per token, one MoE layer (two panels: the scales differ by 40x).
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
labels = list(rows)
parts = [("routed experts", "tab:blue"), ("shared expert", "tab:orange"), ("gate", "tab:green")]
for ax, kind, keys in ((axes[0], "stored", ("routed", "shared", "gate")),
                       (axes[1], "used by one token", ("active_routed", "shared", "gate"))):
    left = [0.0] * len(labels)
    for (name, color), key in zip(parts, keys):
        vals = [rows[label][key] / 1e9 for label in labels]
        ax.barh(labels, vals, left=left, color=color, label=name, edgecolor="black", linewidth=0.5)
        left = [lo + v for lo, v in zip(left, vals)]
    for i, total in enumerate(left):
        ax.text(total * 1.01, i, f"{total:.3f}B", va="center", fontsize=9)
    ax.set_xlim(0, max(left) * 1.25)
    ax.set_xlabel("parameters (billions)")
    ax.set_title(f"one MoE layer: {kind}")
handles, names = axes[1].get_legend_handles_labels()
fig.legend(handles, names, loc="upper center", ncol=3, fontsize=9)
fig.tight_layout(rect=(0, 0, 1, 0.9))
fig.savefig(HERE / "moe_params.png", dpi=110)
print("wrote moe_params.png")
