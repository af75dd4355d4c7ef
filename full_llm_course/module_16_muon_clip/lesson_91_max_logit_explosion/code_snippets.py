"""Lesson 91: the max logit S_max per head; recording it; watching it grow under Muon at a high learning rate."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import DeepseekV3Attention, KimiK2Config, KimiK2ForCausalLM
from kimik2.muon import Muon
from kimik2.qk_clip import muon_and_adamw_parameters

torch.set_num_threads(1)
HERE = Path(__file__).parent

# 1. record_max_logit against explicit loops over heads, queries and visible keys.
config = KimiK2Config.tiny()
torch.manual_seed(0)
attention = DeepseekV3Attention(config, layer_idx=0).train()
attention.track_max_logit = True
b, h, s, d = 2, config.num_attention_heads, 6, config.qk_nope_head_dim + config.qk_rope_head_dim
g = torch.Generator().manual_seed(1)
query, key = torch.randn(b, h, s, d, generator=g), torch.randn(b, h, s, d, generator=g)
attention.record_max_logit(query, key, None)                      # None: plain causal
loops = torch.full((h,), float("-inf"))
for head in range(h):
    for batch in range(b):
        for i in range(s):
            for j in range(i + 1):                                  # keys 0..i are visible
                logit = (query[batch, head, i] @ key[batch, head, j]) * attention.softmax_scale
                loops[head] = max(loops[head], logit)
print(f"softmax_scale = {attention.softmax_scale:.4f} = 1/sqrt({d})")
print("record_max_logit:", [round(v, 4) for v in attention.max_logit.tolist()])
print("explicit loops:  ", [round(v, 4) for v in loops.tolist()])
full = (query @ key.mT * attention.softmax_scale).amax(dim=(0, 2, 3))
print("without the causal mask (wrong):", [round(v, 4) for v in full.tolist()])

# 2. The running maximum, and eval mode.
first = attention.max_logit.clone()
attention.record_max_logit(0.5 * query, key, None)                # smaller logits: the maximum stays
print("after a second, smaller forward, unchanged:", torch.equal(attention.max_logit, first))

# 3. A short high-lr run on a tiny model: S_max per step, Muon at two learning rates and AdamW.
tiny = KimiK2Config.tiny(num_hidden_layers=2)
tokens = torch.randint(0, 64, (4, 32), generator=torch.Generator().manual_seed(0))   # one batch, memorised


def run(kind: str, lr: float, steps: int = 30) -> tuple[list[float], list[float]]:
    torch.manual_seed(0)
    model = KimiK2ForCausalLM(tiny).train()
    attentions = [m for m in model.modules() if isinstance(m, DeepseekV3Attention)]
    for a in attentions:
        a.track_max_logit = True
    muon, adamw = muon_and_adamw_parameters(model)
    if kind == "AdamW":
        optimizers = [torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)]
    else:
        optimizers = [Muon([p for _, p in muon], lr=lr, weight_decay=0.1),
                      torch.optim.AdamW([p for _, p in adamw], lr=lr, weight_decay=0.1)]
    losses, max_logits = [], []
    for _ in range(steps):
        loss = model(tokens, labels=tokens).loss
        for opt in optimizers:
            opt.zero_grad()
        loss.backward()
        for opt in optimizers:
            opt.step()
        losses.append(loss.item())
        max_logits.append(max(a.max_logit.max().item() for a in attentions))   # over layers and heads
        for a in attentions:
            a.max_logit = None                                                  # one value per step
    return losses, max_logits


runs = {f"{kind}, lr {lr:g}": run(kind, lr) for kind, lr in [("Muon", 1e-2), ("Muon", 1e-1), ("AdamW", 1e-1)]}
print("\nS_max (max over layers and heads) at steps 1, 10, 20, 30; loss at step 30:")
for name, (losses, max_logits) in runs.items():
    picks = [max_logits[i] for i in (0, 9, 19, 29)]
    print(f"  {name:16s} " + " ".join(f"{v:6.1f}" for v in picks) + f"   peak {max(max_logits):6.1f}   "
          f"loss {losses[-1]:.3f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
for name, (losses, max_logits) in runs.items():
    ax1.semilogy(range(1, 31), max_logits, label=name)
    ax2.semilogy(range(1, 31), losses, label=name)
ax1.set_xlabel("step")
ax1.set_ylabel("$S_{max}$ (largest scaled logit, all heads)")
ax1.set_title("Tiny Kimi-K2 (2 layers) memorising one batch")
ax2.set_xlabel("step")
ax2.set_ylabel("training loss")
ax2.set_title("Loss of the same runs")
for ax in (ax1, ax2):
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(HERE / "max_logit_growth.png", dpi=110)
print("wrote max_logit_growth.png")
