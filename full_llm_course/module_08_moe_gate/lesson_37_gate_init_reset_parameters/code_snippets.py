"""Lesson 37: the gate's parameters and their initialisation.

Run: python code_snippets.py   (a few seconds; writes gate_init.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM, MoEGate  # noqa: E402

HERE = Path(__file__).parent

# 1. What the tiny gate holds.
tiny = KimiK2Config.tiny()
torch.manual_seed(0)
gate = MoEGate(tiny)
for name, p in gate.named_parameters():
    print(f"{name:24s} shape {tuple(p.shape)}  dtype {p.dtype}  requires_grad {p.requires_grad}")
print("state_dict keys:", list(gate.state_dict()))
print("bias values:", gate.e_score_correction_bias.tolist())
greedy = MoEGate(KimiK2Config.tiny(topk_method="greedy"))
print("greedy gate parameters:", [n for n, _ in greedy.named_parameters()],
      "| has e_score_correction_bias:", hasattr(greedy, "e_score_correction_bias"))

# 2. kaiming_uniform_(a = sqrt 5): the bound, step by step, and what the draw gives.
for label, config in (("tiny", tiny), ("Kimi-K2", KimiK2Config.kimi_k2())):
    torch.manual_seed(0)
    g = MoEGate(config)
    fan_in = g.weight.shape[1]
    gain = math.sqrt(2.0 / (1 + 5))
    std = gain / math.sqrt(fan_in)
    bound = math.sqrt(3.0) * std
    w = g.weight.detach()
    print(f"{label}: weight {tuple(w.shape)}, fan_in {fan_in}, gain {gain:.4f}, std {std:.6f}, "
          f"bound sqrt(3)*std {bound:.6f} = 1/sqrt(fan_in) {1 / math.sqrt(fan_in):.6f}")
    print(f"  drawn: min {w.min().item():.6f}, max {w.max().item():.6f}, std {w.std().item():.6f}")
    x = torch.randn(4096, fan_in, generator=torch.Generator().manual_seed(1))   # RMS-1 tokens (after RMSNorm)
    logits = x @ w.T
    print(f"  logits of 4096 unit-RMS tokens: std {logits.std().item():.4f} (theory 1/sqrt(3) = "
          f"{1 / math.sqrt(3):.4f}); sigmoid scores in [{logits.sigmoid().min().item():.3f}, "
          f"{logits.sigmoid().max().item():.3f}]")
    if label == "Kimi-K2":
        k2_weight, k2_logits = w, logits

# 3. reset_parameters re-draws the weight and leaves the bias alone.
with torch.no_grad():
    gate.e_score_correction_bias.fill_(0.25)
before = gate.weight.detach().clone()
torch.manual_seed(123)
gate.reset_parameters()
first = gate.weight.detach().clone()
torch.manual_seed(123)
gate.reset_parameters()
print("reset changed the weight:", not torch.equal(before, first),
      "| same seed, same draw:", torch.equal(first, gate.weight),
      "| bias after reset:", gate.e_score_correction_bias[:3].tolist())

# 4. Parameters in the count: 60 MoE layers of Kimi-K2.
k2 = KimiK2Config.kimi_k2()
layers = k2.num_hidden_layers - k2.first_k_dense_replace
per_layer = k2.n_routed_experts * k2.hidden_size + k2.n_routed_experts
print(f"gate per layer {per_layer:,}; 60 layers {layers * per_layer:,}, "
      f"of which correction bias {layers * k2.n_routed_experts:,}")

# 5. dtype: casting a model to bf16 casts the bias too; loading keeps the gate float32.
model = KimiK2ForCausalLM(tiny).to(torch.bfloat16)
g = model.model.layers[1].mlp.gate
print("after model.to(bfloat16):", g.weight.dtype, g.e_score_correction_bias.dtype)
for module in model.modules():          # what kimik2.hf.load_pretrained does after model.to(dtype)
    if isinstance(module, MoEGate):
        module.float()
print("after the loader's gate.float():", g.weight.dtype, g.e_score_correction_bias.dtype)
bias = torch.tensor([1.000, 1.001, 1.002, 1.003, 1.004])
print("bias float32:", bias.tolist())
print("bias bfloat16:", bias.bfloat16().float().tolist())

# 6. Figure: the weight histogram against the bound, and the init logits/scores.
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
bound = 1 / math.sqrt(k2.hidden_size)
axes[0].hist(k2_weight.flatten().numpy(), bins=80, color="tab:blue")
for b in (-bound, bound):
    axes[0].axvline(b, color="tab:red", ls="--")
axes[0].set_title("Kimi-K2 gate weight (384 x 7168) at init\nuniform on +-1/sqrt(7168) = +-0.01181 (red)")
axes[0].set_xlabel("weight value")
axes[0].set_ylabel("count")
axes[1].hist(k2_logits.flatten().numpy(), bins=80, color="tab:green", alpha=0.7, label="logit u.e_i")
axes[1].hist(k2_logits.sigmoid().flatten().numpy(), bins=80, color="tab:orange", alpha=0.7, label="sigmoid score")
axes[1].set_title("4096 unit-RMS tokens x 384 experts at init:\nlogit std 1/sqrt(3), scores spread around 0.5")
axes[1].set_xlabel("value")
axes[1].set_ylabel("count")
axes[1].legend()
fig.tight_layout()
fig.savefig(HERE / "gate_init.png", dpi=110)
print("wrote gate_init.png")
