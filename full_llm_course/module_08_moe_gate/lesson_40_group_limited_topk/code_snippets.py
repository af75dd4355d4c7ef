"""Lesson 40: group-limited top-k (DeepSeek-V3's node-limited routing) and why the mask is -inf.

Run: python code_snippets.py   (about 2 s; writes group_routing.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, MoEGate  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=3, sci_mode=False)


def remote_zero_mask(gate, scores_for_choice):
    """The remote modeling_deepseek.py variant: masked experts get 0.0 instead of -inf."""
    n = scores_for_choice.shape[0]
    grouped = scores_for_choice.view(n, gate.n_group, -1)
    group_scores = grouped.topk(2, dim=-1)[0].sum(dim=-1)
    group_idx = torch.topk(group_scores, k=gate.topk_group, dim=-1, sorted=False)[1]
    group_mask = torch.zeros_like(group_scores).scatter_(1, group_idx, 1.0)
    expert_mask = group_mask.unsqueeze(-1).expand_as(grouped).reshape(n, -1)
    return torch.topk(scores_for_choice.masked_fill(expert_mask == 0, 0.0), k=gate.top_k, dim=-1, sorted=False)[1]


# 1. A small worked example: 8 experts in 4 groups of 2, keep 2 groups, choose 3 experts.
config = KimiK2Config.tiny(n_routed_experts=8, n_group=4, topk_group=2, num_experts_per_tok=3)
gate = MoEGate(config)
s = torch.tensor([[0.70, 0.10, 0.50, 0.40, 0.90, 0.05, 0.30, 0.62]])
grouped = s.view(1, 4, 2)
print("scores_for_choice by group:", grouped)
print("group score = sum of top-2:", grouped.topk(2, dim=-1)[0].sum(-1))
print("group score if it were max:", grouped.amax(-1))
print("chosen experts (sorted):   ", gate.group_limited_topk(s).sort().values.tolist())
print("plain top-3 without groups:", s.topk(3).indices.sort().values.tolist())

# 2. The mask value: -inf (this course, DeepSeek inference code, transformers) vs 0.0 (remote code).
#    Scores are sigmoids in (0, 1), but the bias can push a biased score below zero.
scores = torch.tensor([[0.60, 0.50, 0.70, 0.30, 0.30, 0.25, 0.20, 0.10]])   # sigmoid scores, all > 0
bias = torch.tensor([0.00, 0.00, 0.00, -0.40, 0.00, 0.00, 0.00, 0.00])      # one expert pushed down
sfc = scores + bias
gate = MoEGate(KimiK2Config.tiny(n_routed_experts=8, n_group=4, topk_group=2, num_experts_per_tok=4))
print("biased scores_for_choice:", sfc)
print("group scores:", sfc.view(1, 4, 2).topk(2, dim=-1)[0].sum(-1), "kept groups:",
      sfc.view(1, 4, 2).sum(-1).topk(2).indices.sort().values.tolist())
print("-inf mask picks:", gate.group_limited_topk(sfc).sort().values.tolist())
print(" 0.0 mask picks:", remote_zero_mask(gate, sfc).sort().values.tolist())

# 3. Kimi-K2: n_group = topk_group = 1, so the step equals a plain top-k.
k2 = KimiK2Config.kimi_k2()
k2_gate = MoEGate(KimiK2Config.tiny(n_routed_experts=384, num_experts_per_tok=8))
x = torch.rand(1000, 384, generator=torch.Generator().manual_seed(0))
same = torch.equal(k2_gate.group_limited_topk(x).sort(-1).values, x.topk(8, dim=-1).indices.sort(-1).values)
print(f"Kimi-K2 n_group={k2.n_group} topk_group={k2.topk_group}: group-limited == plain top-8 on 1000 tokens: {same}")

# 4. A DeepSeek-V3-shaped router at 1/4 scale for the figure: 64 experts, 8 groups, keep 4, choose 8.
v3ish = MoEGate(KimiK2Config.tiny(n_routed_experts=64, n_group=8, topk_group=4, num_experts_per_tok=8))
g = torch.Generator().manual_seed(4)
tok = (torch.randn(1, 64, generator=g) * 1.2).sigmoid()
group_scores = tok.view(1, 8, 8).topk(2, dim=-1)[0].sum(-1)[0]
kept = group_scores.topk(4).indices.sort().values
chosen = v3ish.group_limited_topk(tok)[0].sort().values
print("64 experts / 8 groups: group scores", group_scores, "kept", kept.tolist(), "chosen", chosen.tolist())
plain = tok.topk(8).indices.sort().values[0]
print("plain top-8 would take", plain.tolist(), "from groups", sorted(set((plain // 8).tolist())))
dropped = [e for e in plain.tolist() if e not in chosen.tolist()]
print("experts of the plain top-8 lost to the group limit:", dropped)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [3, 1]})
colors = []
for e in range(64):
    if e in chosen.tolist():
        colors.append("tab:red")
    elif e // 8 in kept.tolist():
        colors.append("tab:blue")
    else:
        colors.append("lightgray")
ax1.bar(range(64), tok[0].numpy(), color=colors)
ax1.bar(dropped, tok[0, dropped].numpy(), color="none", edgecolor="tab:orange", lw=2,
        label="in plain top-8, lost to the group limit")
ax1.legend(loc="lower right", fontsize=8)
for b in range(1, 8):
    ax1.axvline(b * 8 - 0.5, color="k", lw=0.6, ls=":")
ax1.set_xlabel("expert (8 consecutive experts = 1 group)")
ax1.set_ylabel("score for choice")
ax1.set_title("one token: red = chosen 8, blue = eligible (kept groups), grey = masked to -inf")
ax2.bar(range(8), group_scores.numpy(), color=["tab:blue" if i in kept.tolist() else "lightgray" for i in range(8)])
ax2.set_xlabel("group")
ax2.set_ylabel("sum of top-2 scores")
ax2.set_title("group scores: keep top 4")
fig.tight_layout()
fig.savefig(HERE / "group_routing.png", dpi=110)
print("wrote group_routing.png")
