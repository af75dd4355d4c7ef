"""Lesson 62: DeepseekV3Model.__init__ - the stack of layers, the final norm, and the init that follows.

Run: python code_snippets.py   (a few seconds; writes model_breakdown.png)
"""
import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import DeepseekV3Model, KimiK2Config, count_parameters  # noqa: E402
from kimik2.model import KimiK2PreTrainedModel  # noqa: E402

HERE = Path(__file__).parent
torch.set_num_threads(1)


def n(module):
    return sum(p.numel() for p in module.parameters())


# 1. The tiny model, child by child.
config = KimiK2Config.tiny()
torch.manual_seed(0)
model = DeepseekV3Model(config)
print("== DeepseekV3Model(tiny) ==")
for name, child in model.named_children():
    print(f"  {name:<13} {type(child).__name__:<18} {n(child):>8,} parameters")
print("  layer kinds:", [type(layer.mlp).__name__.removeprefix("DeepseekV3") for layer in model.layers],
      "| attention layer_idx:", [layer.self_attn.layer_idx for layer in model.layers])
print(f"  final norm: weight {tuple(model.norm.weight.shape)}, eps {model.norm.variance_epsilon}")
keys = list(model.state_dict())
print(f"  {len(keys)} state_dict keys: {keys[0]}, {keys[1]}, ..., {keys[-2]}, {keys[-1]}")
print("  any rotary buffer in the state_dict:", any("rotary" in k for k in keys))

# 2. What init_weights() changes: the same construction with and without it.
real_init = KimiK2PreTrainedModel.init_weights
KimiK2PreTrainedModel.init_weights = lambda self: None
torch.manual_seed(0)
raw = DeepseekV3Model(config)
KimiK2PreTrainedModel.init_weights = real_init
for label, m in (("PyTorch defaults (no init_weights)", raw), ("after init_weights()", model)):
    print(f"  {label:<36} embed std {m.embed_tokens.weight.std().item():.4f} | "
          f"layers.0.mlp.up_proj std {m.layers[0].mlp.up_proj.weight.std().item():.4f} | "
          f"layers.1.mlp.gate std {m.layers[1].mlp.gate.weight.std().item():.4f}")
torch.manual_seed(0)
again = DeepseekV3Model(config)
print("  same seed, same model:", all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                                           again.state_dict().values())))

# 3. Kimi-K2 and DeepSeek-V3 on the meta device: 3 layers built, the other layers are copies in shape.
print("\n== the real sizes (meta device) ==")
rows = {}
for name, full in (("Kimi-K2", KimiK2Config.kimi_k2()), ("DeepSeek-V3", KimiK2Config.deepseek_v3())):
    dense_k = full.first_k_dense_replace
    small = dataclasses.replace(full, num_hidden_layers=dense_k + 1)
    with torch.device("meta"):
        m = DeepseekV3Model(small)
    dense_layer, moe_layer = n(m.layers[0]), n(m.layers[dense_k])
    moe_count = full.num_hidden_layers - dense_k
    total = n(m.embed_tokens) + dense_k * dense_layer + moe_count * moe_layer + n(m.norm)
    head = full.vocab_size * full.hidden_size
    print(f"{name:<12} embed {n(m.embed_tokens):,} + {dense_k} x dense layer {dense_layer:,} + {moe_count} x MoE "
          f"layer {moe_layer:,} + norm {n(m.norm):,}")
    print(f"{'':<12} = {total:,} parameters in DeepseekV3Model; count_parameters total - lm_head = "
          f"{count_parameters(full)['total'] - head:,}; bf16 {2 * total / 1e12:.2f} TB")
    if name == "Kimi-K2":
        layer1 = m.layers[1]
        rows = {"embed_tokens": n(m.embed_tokens),
                "attention (61 layers)": full.num_hidden_layers * n(layer1.self_attn),
                "dense MLP (layer 0)": dense_k * n(m.layers[0].mlp),
                "routed experts (60 x 384)": moe_count * sum(n(e) for e in layer1.mlp.experts),
                "shared experts (60)": moe_count * n(layer1.mlp.shared_experts),
                "gates (60)": moe_count * n(layer1.mlp.gate),
                "RMSNorms (122 + final)": full.num_hidden_layers * 2 * full.hidden_size + full.hidden_size}
        state_keys = len(m.layers[0].state_dict()) * dense_k + len(layer1.state_dict()) * moe_count + 2
        print(f"{'':<12} state_dict keys of the full model: {state_keys:,}")

# Figure: where Kimi-K2's DeepseekV3Model keeps its parameters.
fig, ax = plt.subplots(figsize=(9, 3.8))
names = list(rows)[::-1]
values = [rows[k] for k in names]
bars = ax.barh(names, values, color="tab:blue")
ax.set_xscale("log")
ax.set_xlim(1e5, 5e13)
ax.set_xlabel("parameters (log scale)")
ax.set_title(f"Kimi-K2 DeepseekV3Model: {sum(values):,} parameters (lm_head not included)")
for bar, v in zip(bars, values):
    ax.text(v * 1.3, bar.get_y() + bar.get_height() / 2, f"{v:,} ({100 * v / sum(values):.2f}%)", va="center",
            fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "model_breakdown.png", dpi=110)
print("wrote model_breakdown.png")
