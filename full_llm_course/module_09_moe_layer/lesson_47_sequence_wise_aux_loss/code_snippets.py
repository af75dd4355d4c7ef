"""Lesson 47: DeepSeek-V3's complementary sequence-wise balance loss (eqs. 17-20), its range, its gradient,
and where the MoE layer and the model put it.

Run: python code_snippets.py   (about 10 s; writes sequence_balance.png)
"""
import logging
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM, MoEGate, balance, sequence_balance_loss  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=110)
torch.set_num_threads(1)
logging.getLogger("transformers").setLevel(logging.ERROR)
E, K, T = 16, 4, 32


def loop_loss(scores, topk_idx):
    """Eqs. 17-20 with explicit sums, one sequence at a time."""
    batch, seq_len, experts = scores.shape
    k = topk_idx.shape[-1]
    total = 0.0
    for b in range(batch):
        for i in range(experts):
            f_i = experts / (k * seq_len) * sum(int(i in topk_idx[b, t].tolist()) for t in range(seq_len))
            p_i = sum(float(scores[b, t, i] / scores[b, t].sum()) for t in range(seq_len)) / seq_len
            total += f_i * p_i
    return total / batch


# 1. The value in the corner cases.
g = torch.Generator().manual_seed(0)
round_robin = (torch.arange(T)[:, None] * K + torch.arange(K)).remainder(E)[None]        # every expert 8 times
random_choice = torch.stack([torch.randperm(E, generator=g)[:K] for _ in range(T)])[None]
uniform_scores = torch.full((1, T, E), 0.3)
random_scores = torch.rand(1, T, E, generator=g)
collapsed_choice = torch.arange(K).expand(1, T, K)
peaked = torch.full((1, T, E), 1e-4)
peaked[..., :K] = 0.9999
cases = {
    "uniform load, uniform affinity": (uniform_scores, round_robin),
    "uniform load, random affinity": (random_scores, round_robin),
    "random load, uniform affinity": (uniform_scores, random_choice),
    "random load, random affinity": (random_scores, random_choice),
    "all tokens pick 0-3, affinity only on 0-3": (peaked, collapsed_choice),
    "all tokens pick 0-3, uniform affinity": (uniform_scores, collapsed_choice),
    "all tokens pick 0-3, affinity only on 4-15": (1 - peaked, collapsed_choice),
}
for name, (s, idx) in cases.items():
    print(f"{name:44s}: loss {sequence_balance_loss(s, idx).item():.4f} (loops: {loop_loss(s, idx):.4f})")
print(f"maximum E/k = {E / K:g}; Kimi-K2: 384/8 = {384 / 8:g}")

# 2. The gradient with respect to the affinities: (f_j - sum_i f_i s'_it) / (T * sum_j s_jt).
s = torch.rand(1, T, E, generator=g).requires_grad_()
loss = sequence_balance_loss(s, random_choice)
loss.backward()
f = torch.bincount(random_choice.view(-1), minlength=E).float() * E / (K * T)
total = s.detach().sum(-1, keepdim=True)
analytic = (f - (f * s.detach() / total).sum(-1, keepdim=True)) / (T * total)
print(f"f = {f.tolist()}")
print(f"max |autograd - formula| for d loss / d s: {(s.grad - analytic).abs().max().item():.1e}")

# 3. A few plain gradient steps on a skewed gate lower the loss and the imbalance.
config = KimiK2Config.tiny()
torch.manual_seed(0)
gate = MoEGate(config)
with torch.no_grad():
    gate.weight[:3] += 0.5 * torch.ones(64) / 8                    # experts 0-2 favoured by every token
x = torch.randn(8, T, 64, generator=torch.Generator().manual_seed(1)) + 0.3
optimizer = torch.optim.SGD([gate.weight], lr=1.0)
curve = []
for step in range(31):
    idx, _ = gate(x)
    scores = gate.compute_scores(x.view(-1, 64)).view(8, T, E)
    loss = sequence_balance_loss(scores, idx.view(8, T, K))
    load = torch.bincount(idx.view(-1), minlength=E)
    curve.append((loss.item(), balance.max_violation(load).item()))
    if step in (0, 1, 2, 5, 10, 30):
        print(f"step {step:2d}: balance loss {loss.item():.4f}, MaxVio {curve[-1][1]:.3f}, load {load.tolist()}")
    if step == 0:
        first_f = torch.bincount(idx.view(-1), minlength=E).float() * E / (K * T * 8)
        first_p = (scores / scores.sum(-1, keepdim=True)).mean((0, 1)).detach()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print("gradient reached e_score_correction_bias:", gate.e_score_correction_bias.grad is not None)

# 4. Inside the model: only in training mode, alpha times the loss, kept out of `loss`.
config = KimiK2Config.tiny()                                      # aux_loss_alpha 0.001, seq_aux True
torch.manual_seed(0)
model = KimiK2ForCausalLM(config)
ids = torch.randint(0, config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(2))
model.eval()
with torch.no_grad():
    evaluated = model(ids, labels=ids)
model.train()
trained = model(ids, labels=ids)
layers = balance.moe_layers(model)
print(f"eval: aux_loss {evaluated.aux_loss} | train: aux_loss {trained.aux_loss.item():.6f} "
      f"(sum over {len(layers)} MoE layers of 0.001 x loss)")
print(f"loss in eval {evaluated.loss.item():.6f}, in train {trained.loss.item():.6f}: the same")
layer_losses = [layer.aux_loss for layer in layers]
print("per-layer aux_loss after the forward:", layer_losses, "(collect_balance_loss took them)")
lm_grad = torch.autograd.grad(trained.loss, layers[0].gate.weight, retain_graph=True)[0]
aux_grad = torch.autograd.grad(trained.aux_loss, layers[0].gate.weight)[0]
print(f"layer-1 gate gradient norm: from the LM loss {lm_grad.norm().item():.2e}, from the aux loss "
      f"{aux_grad.norm().item():.2e}")

# 5. transformers has no balance loss: its loss equals ours.
from transformers import DeepseekV3ForCausalLM  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.disable_progress_bar()

with tempfile.TemporaryDirectory() as directory:
    model.save_pretrained(directory)
    theirs = DeepseekV3ForCausalLM.from_pretrained(directory).train()
their_loss = theirs(ids, labels=ids).loss
print(f"transformers loss {their_loss.item():.6f}, ours {trained.loss.item():.6f}, "
      f"difference {abs(their_loss.item() - trained.loss.item()):.1e}")

# Figure: f_i and E * P_i per expert for the skewed gate, then the loss and MaxVio during the gradient steps.
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
ax = axes[0]
pos = torch.arange(E)
ax.bar(pos - 0.2, first_f.numpy(), width=0.4, label="$f_i$ (load, 1 = fair)")
ax.bar(pos + 0.2, (E * first_p).numpy(), width=0.4, label="$E \\cdot P_i$ (affinity, 1 = uniform)")
ax.axhline(1, color="black", lw=0.8, ls="--")
ax.set_xticks(range(0, E, 3))
ax.set_xlabel("expert (0-2 favoured)")
ax.set_title(f"Skewed gate at step 0 (averaged over 8 sequences); loss {curve[0][0]:.3f}")
ax.legend(fontsize=8)
ax = axes[1]
ax.plot([c[0] for c in curve], label="balance loss (1 = balanced)", color="tab:blue")
ax.set_xlabel("SGD step on the gate weight (lr 1.0, balance loss only)")
ax.set_ylabel("balance loss", color="tab:blue")
twin = ax.twinx()
twin.plot([c[1] for c in curve], label="MaxVio", color="tab:red")
twin.set_ylabel("MaxVio of the batch", color="tab:red")
ax.set_title("Gradient steps on the loss spread the load")
fig.tight_layout()
fig.savefig(HERE / "sequence_balance.png", dpi=110)
print("wrote sequence_balance.png")
