"""Lesson 61: what _init_weights / init_weights draw, measured on a freshly built tiny model.

Run: python code_snippets.py   (a few seconds; writes init_distributions.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM, MoEGate  # noqa: E402

HERE = Path(__file__).parent
torch.set_num_threads(1)
hf_logging.set_verbosity_error()


def family(name):
    if "e_score_correction_bias" in name:
        return "gate.e_score_correction_bias"
    if name.endswith("gate.weight"):
        return "gate.weight (MoEGate)"
    if "norm" in name:
        return "RMSNorm weights"
    if "embed_tokens" in name:
        return "embed_tokens (lesson 06)"
    if "lm_head" in name:
        return "lm_head"
    if "self_attn" in name:
        return "attention Linear weights"
    if ".experts." in name:
        return "routed expert Linear weights"
    if "shared_experts" in name:
        return "shared expert Linear weights"
    return "dense MLP Linear weights"


# 1. A fresh tiny model: the std of every parameter family.
config = KimiK2Config.tiny()
torch.manual_seed(0)
model = KimiK2ForCausalLM(config)
groups = {}
for name, p in model.named_parameters():
    groups.setdefault(family(name), []).append(p.detach().flatten())
print(f"== fresh KimiK2ForCausalLM(tiny), seed 0, initializer_range {config.initializer_range} ==")
print(f"{'family':<32} {'values':>8} {'mean':>9} {'std':>8} {'min':>8} {'max':>8}")
for fam, parts in groups.items():
    v = torch.cat(parts)
    std = v.std().item() if v.numel() > 1 else 0.0
    print(f"{fam:<32} {v.numel():>8} {v.mean().item():>9.5f} {std:>8.5f} {v.min().item():>8.4f} {v.max().item():>8.4f}")
H = config.hidden_size
print(f"kaiming_uniform_(a=sqrt(5)) on (E, {H}): bound 1/sqrt({H}) = {1 / math.sqrt(H):.4f}, "
      f"std 1/sqrt(3*{H}) = {1 / math.sqrt(3 * H):.4f}")
print(f"at Kimi-K2's 7168: bound {1 / math.sqrt(7168):.5f}, std {1 / math.sqrt(3 * 7168):.5f} (vs 0.02 elsewhere)")

# 2. The order self.apply visits modules: children first, so the random draws follow it.
visited = []
original = model._init_weights
model._init_weights = lambda module: visited.append(type(module).__name__)
model.model.layers[1].apply(model._init_weights)
model._init_weights = original
print("\napply() order inside layer 1 (first 8):", visited[:8], "... last:", visited[-1])

# 3. init_weights() redraws, but is not a full reset: RMSNorm gains are not touched.
with torch.no_grad():
    for p in model.parameters():
        p.fill_(7.0)
model.model.init_weights()
layer = model.model.layers[1]
print("\nafter filling every parameter with 7 and calling model.model.init_weights():")
print(f"  q_a_proj.weight std {layer.self_attn.q_a_proj.weight.std().item():.4f}, "
      f"gate.weight max |w| {layer.mlp.gate.weight.abs().max().item():.4f}, "
      f"correction bias {layer.mlp.gate.e_score_correction_bias[:3].tolist()}")
print(f"  input_layernorm.weight[:3] {layer.input_layernorm.weight[:3].tolist()} (untouched), "
      f"lm_head.weight[0, :2] {model.lm_head.weight[0, :2].tolist()} (outside model.model)")

# 4. The meta device: _init_weights returns before drawing, so a huge model builds instantly.
with torch.device("meta"):
    big = KimiK2ForCausalLM(KimiK2Config(num_hidden_layers=2))  # Kimi-K2 sizes, 2 of its 61 layers
print(f"\nmeta: Kimi-K2 shapes with 2 layers, {sum(p.numel() for p in big.parameters()):,} parameters, "
      f"lm_head {tuple(big.lm_head.weight.shape)} is_meta {big.lm_head.weight.is_meta}")
lin = nn.Linear(4, 3, device="meta")
model._init_weights(lin)
print("_init_weights(meta Linear) returns without drawing:", lin.weight.is_meta)

# 5. transformers' DeepseekV3 initialises the router differently (normal, like every Linear).
values = config.to_dict()
skip = ("topk_method", "scoring_func", "aux_loss_alpha", "seq_aux", "ep_size", "moe_layer_freq", "rope_scaling",
        "metadata")
hf_config = DeepseekV3Config(**{k: v for k, v in values.items() if k not in skip},
                             rope_scaling=values["rope_scaling"])
torch.manual_seed(0)
theirs = DeepseekV3ForCausalLM(hf_config)
router = theirs.model.layers[1].mlp.gate
torch.manual_seed(0)
ours = KimiK2ForCausalLM(config)
print(f"\ngate weight std: ours {ours.model.layers[1].mlp.gate.weight.std().item():.4f} (kaiming uniform), "
      f"transformers {router.weight.std().item():.4f} (normal 0.02); "
      f"both biases zero: {bool((router.e_score_correction_bias == 0).all())}")

# Figure: Linear weights vs the gate, with the densities they were drawn from.
linear = torch.cat([p.detach().flatten() for n, p in ours.named_parameters()
                    if p.dim() == 2 and "gate.weight" not in n and "embed" not in n])
gate = torch.cat([m.weight.detach().flatten() for m in ours.modules() if isinstance(m, MoEGate)])
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8))
xs = torch.linspace(-0.1, 0.1, 400)
ax0.hist(linear.numpy(), bins=120, range=(-0.1, 0.1), density=True, color="tab:blue", alpha=0.7)
ax0.plot(xs, torch.exp(-xs ** 2 / (2 * 0.02 ** 2)) / (0.02 * math.sqrt(2 * math.pi)), "k", lw=1.2,
         label="N(0, 0.02²)")
ax0.set_title(f"every nn.Linear weight ({linear.numel():,} values)")
ax0.set_xlabel("value")
ax0.set_ylabel("density")
ax0.legend()
bound = 1 / math.sqrt(H)
ax1.hist(gate.numpy(), bins=60, range=(-0.16, 0.16), density=True, color="tab:orange", alpha=0.7)
ax1.plot([-0.16, -bound, -bound, bound, bound, 0.16], [0, 0, 1 / (2 * bound), 1 / (2 * bound), 0, 0], "k", lw=1.2,
         label=f"U(±1/√{H}) = U(±{bound:.3f})")
ax1.set_title(f"MoEGate.weight, 3 MoE layers ({gate.numel():,} values)")
ax1.set_xlabel("value")
ax1.legend(loc="lower center")
fig.suptitle("tiny KimiK2ForCausalLM right after construction")
fig.tight_layout()
fig.savefig(HERE / "init_distributions.png", dpi=110)
print("wrote init_distributions.png")
