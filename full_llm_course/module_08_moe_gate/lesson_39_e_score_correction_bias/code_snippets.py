"""Lesson 39: e_score_correction_bias chooses experts but never weights them.

Run: python code_snippets.py   (a few seconds; writes bias_choice.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, MoEGate  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, linewidth=120)

config = KimiK2Config.tiny()          # 16 experts, 4 per token, routed_scaling_factor 2.827
torch.manual_seed(0)
gate = MoEGate(config)
x = torch.randn(1, 512, 64, generator=torch.Generator().manual_seed(3))
E = config.n_routed_experts


def route():
    with torch.no_grad():
        idx, w = gate(x)
    order = idx.argsort(-1)                       # topk(sorted=False): sort by expert id to compare
    return idx.gather(1, order), w.gather(1, order)


idx0, w0 = route()
load0 = torch.bincount(idx0.flatten(), minlength=E)
busiest = int(load0.argmax())
print(f"load without bias: {load0.tolist()}; busiest expert {busiest} ({load0[busiest].item()} of 512 tokens)")

with torch.no_grad():
    gate.e_score_correction_bias[busiest] = -0.1          # make the busiest expert harder to choose
idx1, w1 = route()
load1 = torch.bincount(idx1.flatten(), minlength=E)
print(f"load with bias[{busiest}] = -0.1: {load1.tolist()}")
changed = (idx0 != idx1).any(-1)
print(f"tokens whose expert set changed: {changed.sum().item()} of 512")

with torch.no_grad():
    scores = gate.compute_scores(x.reshape(-1, 64))
    biased = gate.scores_for_choice(scores)
t = int(changed.nonzero()[0])                                # a token that lost expert 5
print(f"token {t}: scores            {scores[t]}")
print(f"token {t}: scores_for_choice {biased[t]}")
print(f"token {t}: experts before {idx0[t].tolist()} weights {w0[t]}")
print(f"token {t}: experts after  {idx1[t].tolist()} weights {w1[t]}")
keeps = ((idx1 == busiest).any(-1)).nonzero()[0].item()      # a token that still uses expert 5
print(f"token {keeps}: experts after {idx1[keeps].tolist()} weights {w1[keeps]}")
unbiased = scores[keeps, idx1[keeps]]
print("  from unbiased scores:", unbiased / unbiased.sum() * config.routed_scaling_factor)
b = biased[keeps, idx1[keeps]]
print("  from biased scores:  ", b / b.sum() * config.routed_scaling_factor)
same = ~changed
print(f"tokens with an unchanged choice: {same.sum().item()}, max weight change "
      f"{(w0[same] - w1[same]).abs().max().item():.1e}")

# Gradients: the weight gets them through the unbiased scores; the bias gets none.
idx, w = gate(x)
w.sum().backward()
print("weight.grad is set:", gate.weight.grad is not None, "| bias.grad:", gate.e_score_correction_bias.grad)

# Figure: load per expert before and after the bias.
fig, ax = plt.subplots(figsize=(9, 3.8))
pos = torch.arange(E)
ax.bar(pos - 0.2, load0.numpy(), width=0.4, label="bias = 0")
ax.bar(pos + 0.2, load1.numpy(), width=0.4, label=f"bias[{busiest}] = -0.1")
ax.axhline(512 * 4 / E, color="tab:red", ls="--", label="fair share 128")
ax.set_xlabel("expert")
ax.set_ylabel("tokens routed (of 512)")
ax.set_title(f"One negative bias moves tokens off expert {busiest}; their weights still come from unbiased scores")
ax.set_ylim(0, 190)
ax.legend(ncol=3, loc="upper center")
fig.tight_layout()
fig.savefig(HERE / "bias_choice.png", dpi=110)
print("wrote bias_choice.png")
