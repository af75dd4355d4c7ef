"""Lesson 59: which decoder layers are dense and which are MoE, and what each one holds.

Run: python code_snippets.py   (a few seconds; writes layer_map.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from kimik2 import DeepseekV3DecoderLayer, KimiK2Config  # noqa: E402

HERE = Path(__file__).parent


def layer_map(config):
    return "".join("M" if config.is_moe_layer(i) else "D" for i in range(config.num_hidden_layers))


def count(module):
    return sum(p.numel() for p in module.parameters())


k2, v3 = KimiK2Config.kimi_k2(), KimiK2Config.deepseek_v3()

# 1. The layer maps (D = dense SwiGLU MLP, M = MoE block), from config.is_moe_layer alone.
print("== layer maps (D dense, M MoE) ==")
for name, config in (("Kimi-K2", k2), ("DeepSeek-V3", v3)):
    line = layer_map(config)
    print(f"{name:<12} first_k_dense_replace={config.first_k_dense_replace} moe_layer_freq={config.moe_layer_freq}: "
          f"{line.count('D')} dense, {line.count('M')} MoE")
    print(f"  {line}")

# 2. One dense and one MoE layer of each model, built on the meta device (shapes only, no memory).
print("\n== one layer of each kind, meta device ==")
rows = {}
for name, config in (("Kimi-K2", k2), ("DeepSeek-V3", v3)):
    for idx in (0, config.first_k_dense_replace):
        with torch.device("meta"):
            layer = DeepseekV3DecoderLayer(config, idx)
        mlp = layer.mlp
        parts = {"self_attn": count(layer.self_attn), "mlp": count(mlp),
                 "norms": count(layer.input_layernorm) + count(layer.post_attention_layernorm)}
        active = parts["mlp"]
        if type(mlp).__name__ == "DeepseekV3MoE":
            per_expert = count(mlp.experts[0])
            active = parts["mlp"] - (config.n_routed_experts - config.num_experts_per_tok) * per_expert
        rows[(name, type(mlp).__name__)] = (parts, active)
        print(f"{name:<12} layer {idx}: mlp = {type(mlp).__name__:<14} self_attn {parts['self_attn']:>14,}  "
              f"mlp {parts['mlp']:>16,}  norms {parts['norms']:>6,}  | mlp active per token {active:>13,}")

# 3. Why 18432: the dense width equals the MoE block's active width.
active_width = (k2.num_experts_per_tok + k2.n_shared_experts) * k2.moe_intermediate_size
print(f"\n(8 routed + 1 shared) x {k2.moe_intermediate_size} = {active_width}; dense intermediate_size = "
      f"{k2.intermediate_size}")

# 4. The names a checkpoint uses (tiny config: hidden 64, 16 experts, layer 0 dense).
tiny = KimiK2Config.tiny()
print("\n== tiny config:", layer_map(tiny), "==")
torch.manual_seed(0)
for idx in (0, 1):
    layer = DeepseekV3DecoderLayer(tiny, idx)
    names = [n for n in layer.state_dict() if ".experts." not in n or ".experts.0." in n]
    print(f"layer {idx} ({type(layer.mlp).__name__}): {len(layer.state_dict())} tensors, e.g.")
    for n in names:
        if n.startswith(("mlp", "input", "post")):
            print(f"   {n:<40} {tuple(layer.state_dict()[n].shape)}")
print("layer 1 self_attn.layer_idx =", DeepseekV3DecoderLayer(tiny, 1).self_attn.layer_idx)

# 5. moe_layer_freq: the remote code's rule also needs idx % freq == 0.
alt = KimiK2Config.tiny(num_hidden_layers=8, first_k_dense_replace=1, moe_layer_freq=2)
print("\ntiny, 8 layers, first_k_dense_replace=1, moe_layer_freq=2:", layer_map(alt))
print("transformers' rule (idx >= first_k_dense_replace only):       ",
      "".join("M" if i >= alt.first_k_dense_replace else "D" for i in range(8)))

# Figure: the two layer maps, and what a dense vs an MoE layer costs (Kimi-K2).
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.6, 1]})
grid = torch.tensor([[float(k2.is_moe_layer(i)) for i in range(61)],
                     [float(v3.is_moe_layer(i)) for i in range(61)]])
ax0.imshow(grid.numpy(), aspect="auto", cmap=ListedColormap(["tab:orange", "tab:blue"]), vmin=0, vmax=1)
ax0.set_yticks([0, 1], ["Kimi-K2", "DeepSeek-V3"])
ax0.set_xticks(range(0, 61, 5))
ax0.set_xlabel("layer index")
ax0.set_title("layer map: orange = dense MLP (18432), blue = MoE")
for x in range(62):
    ax0.axvline(x - 0.5, color="white", lw=0.4)
ax0.axhline(0.5, color="white", lw=3)
labels = ["attention", "dense MLP", "MoE: all experts", "MoE: active"]
dense_parts, _ = rows[("Kimi-K2", "DeepseekV3MLP")]
moe_parts, moe_active = rows[("Kimi-K2", "DeepseekV3MoE")]
values = [dense_parts["self_attn"], dense_parts["mlp"], moe_parts["mlp"], moe_active]
bars = ax1.barh(labels, values, color=["tab:gray", "tab:orange", "tab:blue", "tab:cyan"])
ax1.set_xscale("log")
ax1.set_xlabel("parameters (log scale)")
ax1.set_title("one Kimi-K2 layer: parameters per block")
for bar, v in zip(bars, values):
    ax1.text(v * 1.1, bar.get_y() + bar.get_height() / 2, f"{v / 1e6:,.0f}M", va="center", fontsize=8)
ax1.set_xlim(5e7, 2e11)
fig.tight_layout()
fig.savefig(HERE / "layer_map.png", dpi=110)
print("wrote layer_map.png")
