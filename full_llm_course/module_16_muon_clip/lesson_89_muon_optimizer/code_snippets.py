"""Lesson 89: the Muon step. EMA momentum, Nesterov, decoupled weight decay, batching, torch.optim.Muon, a tiny run."""

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2.muon import Muon, muon_update_, newton_schulz

torch.set_num_threads(1)
HERE = Path(__file__).parent
MU = 0.95

# 1. EMA momentum = (1 - mu) x summed momentum, and Newton-Schulz does not see the factor.
g = torch.Generator().manual_seed(0)
grads = [torch.randn(8, 12, generator=g) for _ in range(4)]
ema, total = torch.zeros(8, 12), torch.zeros(8, 12)
for grad in grads:
    ema.lerp_(grad, 1 - MU)             # ema = mu ema + (1 - mu) grad
    total.mul_(MU).add_(grad)           # total = mu total + grad
print(f"max |ema - (1 - mu) total| = {(ema - (1 - MU) * total).abs().max():.2e}")
print(f"max |NS(ema) - NS(total)|  = {(newton_schulz(ema) - newton_schulz(total)).abs().max():.2e}  (bf16 rounding only)")

# 2. Nesterov: grad.lerp(buffer, mu) = (1 - mu) grad + mu buffer, a look-ahead that weighs the fresh gradient more.
buffer = ema.clone()
grad = torch.randn(8, 12, generator=g)
buffer.lerp_(grad, 1 - MU)
nesterov = grad.lerp(buffer, MU)
share = (1 - MU) + MU * (1 - MU)
print(f"weight of the newest gradient: plain momentum {1 - MU:.4f}, Nesterov {share:.4f}")

# 3. One step by hand on a (6, 10) matrix, against Muon.step().
w = torch.randn(6, 10, generator=g)
grad = torch.randn(6, 10, generator=g)
lr, wd = 0.02, 0.1
m = torch.zeros(6, 10).lerp_(grad, 1 - MU)
direction = grad.lerp(m, MU)
by_hand = w * (1 - lr * wd) - lr * 0.2 * max(6, 10) ** 0.5 * newton_schulz(direction)
param = torch.nn.Parameter(w.clone())
param.grad = grad.clone()
Muon([param], lr=lr, weight_decay=wd).step()
print(f"\none step by hand vs Muon.step(): max |diff| = {(param.detach() - by_hand).abs().max():.2e}")

# 4. Bit for bit torch.optim.Muon(adjust_lr_fn="match_rms_adamw") over 5 steps, tall, wide, square, repeated shapes.
shapes = [(48, 48), (96, 32), (32, 96), (96, 32)]
ours = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
opt_ours = Muon(ours, lr=0.02, weight_decay=0.1)
opt_theirs = torch.optim.Muon(theirs, lr=0.02, weight_decay=0.1, adjust_lr_fn="match_rms_adamw")
for step in range(5):
    for p, q in zip(ours, theirs):
        p.grad = torch.randn(p.shape, generator=g)
        q.grad = p.grad.clone()
    opt_ours.step()
    opt_theirs.step()
print("equal to torch.optim.Muon after 5 steps:", all(torch.equal(p, q) for p, q in zip(ours, theirs)))

# 5. Batching same-shape matrices: 16 tiny experts' down_proj (64, 32), one call vs sixteen.
experts = [torch.randn(64, 32, generator=g) for _ in range(16)]
params_a = [e.clone() for e in experts]
params_b = [e.clone() for e in experts]
gs = [torch.randn(64, 32, generator=g) for _ in range(16)]
kwargs = dict(lr=0.02, weight_decay=0.1, momentum=MU, nesterov=True, ns_steps=5)
t0 = time.perf_counter()
muon_update_(params_a, gs, [torch.zeros(64, 32) for _ in range(16)], **kwargs)
t_batch = time.perf_counter() - t0
t0 = time.perf_counter()
for p, gr in zip(params_b, gs):
    muon_update_([p], [gr], [torch.zeros(64, 32)], **kwargs)
t_loop = time.perf_counter() - t0
same = all(torch.equal(a, b) for a, b in zip(params_a, params_b))
print(f"16 experts (64, 32): batched {t_batch * 1e3:.1f} ms, one by one {t_loop * 1e3:.1f} ms, identical: {same}")

# 6. How much each past gradient G_{t-k} weighs in the direction that is orthogonalised.
ks = torch.arange(0, 60)
plain = (1 - MU) * MU ** ks.double()
nest = MU * plain
nest[0] += 1 - MU
print(f"\nweights of G_t, G_t-1, G_t-20: plain {plain[0]:.4f} {plain[1]:.4f} {plain[20]:.4f}; "
      f"Nesterov {nest[0]:.4f} {nest[1]:.4f} {nest[20]:.4f}")
print(f"sum of weights: plain {plain.sum():.4f}, Nesterov {nest.sum():.4f} (60 steps); "
      f"effective memory 1/(1-mu) = {1 / (1 - MU):.0f} steps")

fig, ax = plt.subplots(figsize=(6.4, 3.8))
ax.bar(ks - 0.2, plain, width=0.4, label="plain momentum $M_t$")
ax.bar(ks + 0.2, nest, width=0.4, label="Nesterov $G_t + \\mu(M_t - G_t)$")
ax.set_xlabel("k (gradient from k steps ago)")
ax.set_ylabel("weight of $G_{t-k}$ in the direction")
ax.set_title("Muon's momentum, $\\mu = 0.95$: an EMA over about 20 steps")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(HERE / "momentum_weights.png", dpi=110)
print("wrote momentum_weights.png")
