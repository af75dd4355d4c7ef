"""Lesson 90: update RMS matching. RMS of semi-orthogonal matrices, and measured AdamW vs Muon update RMS."""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import KimiK2Config, KimiK2ForCausalLM
from kimik2.muon import Muon, newton_schulz, rms_matching_scale
from kimik2.qk_clip import muon_and_adamw_parameters

torch.set_num_threads(1)
HERE = Path(__file__).parent


def rms(t: torch.Tensor) -> float:
    return t.float().pow(2).mean().sqrt().item()


# 1. A semi-orthogonal A x B matrix has RMS 1/sqrt(max(A, B)).
g = torch.Generator().manual_seed(0)
print(f"{'shape':>14s} {'RMS(Q)':>8s} {'1/sqrt(max)':>11s} {'RMS(NS(G))':>10s} {'scale':>7s} {'scaled RMS':>10s}")
for shape in [(64, 64), (32, 128), (128, 32), (1536, 256), (256, 2048)]:
    q = torch.linalg.qr(torch.randn(max(shape), min(shape), generator=g))[0]
    q = q if shape[0] >= shape[1] else q.T                         # orthonormal columns or rows
    ns = newton_schulz(torch.randn(*shape, generator=g))
    scale = rms_matching_scale(torch.Size(shape))
    print(f"{str(shape):>14s} {rms(q):8.4f} {1 / math.sqrt(max(shape)):11.4f} {rms(ns):10.4f} {scale:7.3f} "
          f"{rms(ns) * scale:10.4f}")
print(f"Kimi-K2 scales: expert (2048, 7168) {rms_matching_scale(torch.Size((2048, 7168))):.3f}, "
      f"kv_b_proj (16384, 512) {rms_matching_scale(torch.Size((16384, 512))):.3f}, "
      f"kv_a_proj (576, 7168) {rms_matching_scale(torch.Size((576, 7168))):.3f}")

# 2. Measure: the RMS of the update Delta W / lr, AdamW vs Muon, on the same tiny model and data.
config = KimiK2Config.tiny()
tokens = torch.randint(0, config.vocab_size, (4, 32), generator=g)
LR, STEPS = 1e-3, 30


def measure(kind: str) -> dict[str, list[float]]:
    torch.manual_seed(0)
    model = KimiK2ForCausalLM(config)
    muon_named, adamw_named = muon_and_adamw_parameters(model)
    if kind == "AdamW":
        optimizers = [torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)]
    else:
        optimizers = [Muon([p for _, p in muon_named], lr=LR, weight_decay=0.0),
                      torch.optim.AdamW([p for _, p in adamw_named], lr=LR, weight_decay=0.0)]
    watched = dict(muon_named)                                    # the hidden matrices
    history = {name: [] for name in watched}
    for _ in range(STEPS):
        before = {name: p.detach().clone() for name, p in watched.items()}
        loss = model(tokens, labels=tokens).loss
        for opt in optimizers:
            opt.zero_grad()
        loss.backward()
        for opt in optimizers:
            opt.step()
        for name, p in watched.items():
            history[name].append(rms(p.detach() - before[name]) / LR)
    return history


results = {kind: measure(kind) for kind in ["AdamW", "Muon"]}
names = list(results["AdamW"])
print(f"\nupdate RMS / lr over the {len(names)} hidden matrices of KimiK2Config.tiny(), steps 1, 10, 30 (median):")
for kind, history in results.items():
    per_step = torch.tensor([history[n] for n in names])          # (matrices, steps)
    med = per_step.median(dim=0).values
    print(f"  {kind:5s}: {med[0]:.3f} {med[9]:.3f} {med[29]:.3f}   "
          f"(step 30 range over matrices {per_step[:, 29].min():.3f} - {per_step[:, 29].max():.3f})")
for name in ["model.layers.0.self_attn.kv_b_proj.weight", "model.layers.1.mlp.experts.0.down_proj.weight"]:
    if name in results["AdamW"]:
        print(f"  {name}: AdamW {results['AdamW'][name][29]:.3f}, Muon {results['Muon'][name][29]:.3f} at step 30")

fig, ax = plt.subplots(figsize=(6.6, 3.9))
for kind, color in [("AdamW", "tab:blue"), ("Muon", "tab:orange")]:
    per_step = torch.tensor([results[kind][n] for n in names])
    q25, q50, q75 = per_step.quantile(torch.tensor([0.25, 0.5, 0.75]), dim=0)
    steps = range(1, STEPS + 1)
    ax.plot(steps, q50, color=color, label=f"{kind} (median over {len(names)} matrices)")
    ax.fill_between(steps, q25, q75, color=color, alpha=0.25)
ax.axhline(0.2, color="k", ls=":", label="0.2")
ax.set_xlabel("step")
ax.set_ylabel("RMS($\\Delta W$) / lr")
ax.set_title("Update size per hidden matrix, tiny Kimi-K2, lr 1e-3")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(HERE / "update_rms.png", dpi=110)
print("wrote update_rms.png")
