"""Lesson 95: Muon vs AdamW, a 24-step toy version of benchmarks/bench_optim.py.

Run: python code_snippets.py   (about 10 seconds; writes toy_comparison.png)
The real measurement (200 steps on Shakespeare's bytes) is benchmarks/bench_optim.py; its figures are next to this file.
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM  # noqa: E402
from kimik2.muon import Muon  # noqa: E402
from kimik2.qk_clip import MuonClip, muon_and_adamw_parameters  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).parent
CONFIG = dict(vocab_size=256, num_hidden_layers=2, n_routed_experts=4, num_experts_per_tok=2)

# A learnable toy "language": each byte follows its predecessor by a fixed random transition table.
g = torch.Generator().manual_seed(0)
table = torch.randint(0, 256, (256, 4), generator=g)                   # 4 likely successors per byte


def make_batch(generator, batch=8, length=64):
    seq = [torch.randint(0, 256, (batch,), generator=generator)]
    for _ in range(length - 1):
        pick = torch.randint(0, 4, (batch,), generator=generator)
        seq.append(table[seq[-1], pick])
    return torch.stack(seq, dim=1)


held_out = make_batch(torch.Generator().manual_seed(99), batch=16)


def build(name, model, lr, tau):
    if name == "adamw":
        return [torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)]
    if name == "muonclip":
        return [MuonClip(model, lr=lr, weight_decay=0.1, qk_clip_tau=tau)]
    muon, adamw = muon_and_adamw_parameters(model)
    return [Muon([p for _, p in muon], lr=lr, weight_decay=0.1),
            torch.optim.AdamW([p for _, p in adamw], lr=lr, betas=(0.9, 0.95), weight_decay=0.1)]


def run(name, lr, steps=24, tau=float("inf")):
    torch.manual_seed(0)
    model = KimiK2ForCausalLM(KimiK2Config.tiny(**CONFIG))
    opts = build(name, model, lr, tau)
    attentions = [m for m in model.modules() if hasattr(m, "track_max_logit")]
    for a in attentions:
        a.track_max_logit = True
    gen = torch.Generator().manual_seed(1)
    losses, max_logits = [], []
    for step in range(steps):
        batch = make_batch(gen)
        for opt in opts:
            opt.zero_grad()
        out = model(batch, labels=batch)
        (out.loss + out.aux_loss).backward()
        max_logits.append(max(a.max_logit.max().item() for a in attentions))
        for opt in opts:
            opt.step()
        for a in attentions:
            a.max_logit = None
        if (step + 1) % 4 == 0:
            model.eval()
            with torch.no_grad():
                losses.append(model(held_out, labels=held_out).loss.item())
            model.train()
    return losses, max_logits


def steps_to_reach(losses, target, every=4):
    """First step where the held-out loss is <= target, linear between evaluations (as bench_optim.py)."""
    points = [(every * (i + 1), loss) for i, loss in enumerate(losses)]
    for (s0, l0), (s1, l1) in zip(points, points[1:]):
        if l1 <= target:
            return s0 + (s1 - s0) * (l0 - target) / (l0 - l1) if l0 > target else s0
    return float("inf")


lr = 1e-2
adamw_loss, adamw_logit = run("adamw", lr)
muon_loss, muon_logit = run("muon", lr)
print(f"1. toy, lr {lr:g}, 24 steps: held-out loss every 4 steps")
print("  adamw:", [round(v, 3) for v in adamw_loss])
print("  muon :", [round(v, 3) for v in muon_loss])
reach = steps_to_reach(muon_loss, adamw_loss[-1])
print(f"  Muon reaches AdamW's final loss {adamw_loss[-1]:.3f} at step {reach:.1f} = {reach / 24:.2f}x AdamW's steps")

high, tau = 1e-1, 3.0
_, muon_high = run("muon", high)
_, clip_high = run("muonclip", high, tau=tau)
print(f"\n2. lr {high:g}, tau {tau:g}: max logit seen per step (before that step's clip)")
print("  muon    : peak", round(max(muon_high), 2), " last", round(muon_high[-1], 2))
print("  muonclip: peak", round(max(clip_high), 2), " last", round(clip_high[-1], 2))

fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
steps = [4 * (i + 1) for i in range(len(adamw_loss))]
axes[0].plot(steps, adamw_loss, "o-", label="AdamW")
axes[0].plot(steps, muon_loss, "s--", label="Muon (+ AdamW for embed/head/norms)")
axes[0].axhline(adamw_loss[-1], color="gray", ls=":", lw=1, label="AdamW's final loss")
axes[0].set(xlabel="step", ylabel="held-out loss (nats)", title=f"Toy bytes, lr {lr:g}")
axes[0].legend(fontsize=7)
axes[1].plot(muon_high, "--", label="Muon")
axes[1].plot(clip_high, label="MuonClip")
axes[1].axhline(tau, color="black", ls="--", lw=1, label=f"tau = {tau:g}")
axes[1].set(xlabel="step", ylabel="max logit", title=f"lr {high:g}")
axes[1].legend(fontsize=7)
fig.tight_layout()
fig.savefig(HERE / "toy_comparison.png", dpi=110)
print("\nwrote toy_comparison.png")
