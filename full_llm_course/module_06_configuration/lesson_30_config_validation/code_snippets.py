"""Lesson 30: the MoE-routing rules of KimiK2Config.validate, and what breaks without them.

Run: python code_snippets.py   (prints the messages quoted in teaching.md, writes routing_rules.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import kimik2
from kimik2.moe import MoEGate

HERE = Path(__file__).parent
Config = kimik2.KimiK2Config

print("validate() messages (tiny config, 16 experts, 4 per token):")
for change in (dict(n_group=3), dict(n_group=4, topk_group=5), dict(n_group=4, topk_group=1, num_experts_per_tok=5),
               dict(n_group=16, topk_group=16), dict(first_k_dense_replace=5)):
    try:
        Config.tiny(**change)
    except ValueError as error:
        print(f"  {change}: {error}")
for change in (dict(n_group=4, topk_group=1, num_experts_per_tok=4), dict(n_group=8, topk_group=8),
               dict(first_k_dense_replace=4), dict(n_group=16, topk_group=16, topk_method="greedy")):
    Config.tiny(**change)
    print(f"  {change}: valid")

print("\nwithout validation (fields changed after construction, then MoEGate built):")
torch.manual_seed(0)
x = torch.randn(1, 3, 64)
for change in (dict(n_group=3), dict(n_group=4, topk_group=5), dict(n_group=16, topk_group=16)):
    config = Config.tiny()
    for key, value in change.items():
        setattr(config, key, value)
    try:
        MoEGate(config)(x)
        print(f"  {change}: ran")
    except RuntimeError as error:
        print(f"  {change}: RuntimeError: {str(error).splitlines()[0]}")
config = Config.tiny(n_group=4, topk_group=1)
config.num_experts_per_tok = 5
gate = MoEGate(config)
idx, weight = gate(x)
print(f"  n_group=4, topk_group=1, num_experts_per_tok=5: ran silently; token 0 experts {sorted(idx[0].tolist())}, "
      f"groups {sorted({i // 4 for i in idx[0].tolist()})} (only 1 group was kept)")
config = Config.tiny()
config.first_k_dense_replace = 5
print(f"  first_k_dense_replace=5 of 4 layers: MoE layers {[i for i in range(4) if config.is_moe_layer(i)]} "
      "(a MoE model with no MoE layer)")

# Figure: which (n_group, topk_group) are valid for 16 experts and 4 per token
experts, k = 16, 4
groups = [1, 2, 3, 4, 5, 8, 16]
codes = {"valid": 0, "n_group must divide n_routed_experts": 1, "topk_group <= n_group": 2,
         "too few experts in kept groups": 3, ">= 2 experts per group (noaux_tc)": 4}
grid = []
for g in groups:
    row = []
    for t in range(1, 17):
        try:
            Config.tiny(n_group=g, topk_group=t, num_experts_per_tok=k)
            row.append(0)
        except ValueError as error:
            text = str(error)
            row.append(1 if "must divide" in text else 2 if "topk_group" in text.split(":")[0] else
                       3 if "num_experts_per_tok" in text.split(":")[0] else 4)
    grid.append(row)
cmap = matplotlib.colors.ListedColormap(["tab:green", "tab:gray", "tab:orange", "tab:red", "tab:purple"])
fig, ax = plt.subplots(figsize=(9, 3.8))
ax.imshow(grid, cmap=cmap, vmin=-0.5, vmax=4.5, aspect="auto")
ax.set_xticks(range(16), range(1, 17))
ax.set_yticks(range(len(groups)), groups)
ax.set_xlabel("topk_group")
ax.set_ylabel("n_group")
ax.set_title(f"Which routing configs validate: {experts} experts, num_experts_per_tok = {k}, noaux_tc\n"
             "(the first rule broken, in validate's order)")
handles = [matplotlib.patches.Patch(color=cmap(i), label=label) for label, i in codes.items()]
ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
fig.tight_layout()
fig.savefig(HERE / "routing_rules.png", dpi=110)
print("wrote routing_rules.png")
