"""Lesson 48: expert_load, max_violation and reset_expert_load - reading a model's routing balance.

Run: python code_snippets.py   (about 10 s; writes load_heatmap.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM, balance  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=3, sci_mode=False, linewidth=120)
torch.set_num_threads(1)   # many small matmuls: one thread is faster and steadier

# 1. MaxVio on loads we can check by hand.
loads = torch.tensor([[4, 4, 4, 4], [8, 0, 4, 4], [16, 0, 0, 0], [5, 3, 4, 4]])
print("loads:", loads.tolist())
print("max_violation:", [round(v, 4) for v in balance.max_violation(loads).tolist()])
print(f"worst case for Kimi-K2 (every token picks the same 8 of 384): {384 / 8 - 1:g}")

# 2. A tiny model fed a Zipf-like token stream (a few ids are very frequent, as in text).
config = KimiK2Config.tiny(num_hidden_layers=6)        # layer 0 dense, layers 1-5 MoE, 16 experts, top-4
torch.manual_seed(0)
model = KimiK2ForCausalLM(config).eval()
zipf = 1.0 / torch.arange(1, config.vocab_size + 1).float()
zipf /= zipf.sum()
stream = torch.Generator().manual_seed(1)


def batch(rows=4, cols=64):
    return torch.multinomial(zipf, rows * cols, replacement=True, generator=stream).view(rows, cols)


held_out = batch(16, 64)                                # 1024 tokens: fair share 1024 * 4 / 16 = 256 per expert


def measure():
    """Load on the held-out batch only: reset, forward, read, reset."""
    balance.reset_expert_load(model)
    with torch.no_grad():
        model(held_out)
    load = balance.expert_load(model)                   # (MoE layers, E), a copy of the counters
    balance.reset_expert_load(model)
    return load


before = measure()
print(f"expert_load: shape {tuple(before.shape)} {before.dtype}, every row sums to {before.sum(-1).tolist()}")
print("before, load per expert:\n", before)
print("before, MaxVio per layer:", [round(v, 3) for v in balance.max_violation(before).tolist()])
print(f"most frequent token id 0 is {zipf[0].item():.1%} of the stream")

# 3. Bias updates over a stream of training-like batches (no gradient steps: only the bias moves).
batch_maxvio = []
with torch.no_grad():
    for step in range(200):
        model(batch())
        used = balance.update_correction_biases(model, speed=0.003)   # reads expert_load, then resets
        batch_maxvio.append(balance.max_violation(used))
after = measure()
print("after 200 updates, load per expert:\n", after)
print("after, MaxVio per layer:", [round(v, 3) for v in balance.max_violation(after).tolist()])
print("MaxVio of the training batches (256 tokens), mean over layers, steps 0 / 50 / 199:",
      [round(batch_maxvio[i].mean().item(), 3) for i in (0, 50, 199)])
print("experts with no token on the held-out batch: before", int((before == 0).sum()), "after", int((after == 0).sum()))

# 4. The counters are live: expert_load is a snapshot, reset_expert_load zeroes them.
with torch.no_grad():
    model(held_out[:2])
snapshot = balance.expert_load(model)
with torch.no_grad():
    model(held_out[:2])
print("snapshot sum", int(snapshot.sum()), "| live counters now", int(balance.expert_load(model).sum()),
      "| after reset", (balance.reset_expert_load(model), int(balance.expert_load(model).sum()))[1])

# 5. The noise floor: how big is a fair share at DeepSeek-V3's batch size?
tokens = 15360 * 4096                                   # 15360 sequences (DeepSeek-V3's largest batch) x 4096 tokens (assumed)
share = tokens * 8 / 256
print(f"fair share per expert in a batch of {tokens:,} tokens: {share:,.0f} slots; "
      f"sampling noise ~ 1/sqrt(share) = {share ** -0.5:.1e} of it")

# Figure: load / fair share per layer and expert, before and after the bias updates.
fair = held_out.numel() * config.num_experts_per_tok / config.n_routed_experts
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
norm = TwoSlopeNorm(vmin=0.0, vcenter=1.0, vmax=2.5)
for ax, load, title in ((axes[0], before, "before (bias 0)"), (axes[1], after, "after 200 bias updates (speed 0.003)")):
    image = ax.imshow((load / fair).numpy(), cmap="RdBu_r", norm=norm, aspect="auto")
    ax.set_yticks(range(load.shape[0]), [f"layer {i + 1}: MaxVio {v:.2f}"
                                         for i, v in enumerate(balance.max_violation(load).tolist())])
    ax.set_xticks(range(0, config.n_routed_experts, 3))
    ax.set_xlabel("expert")
    ax.set_title(title)
fig.colorbar(image, ax=axes, label="load / fair share (1 = balanced)", shrink=0.9)
fig.suptitle("expert_load(model) / fair share on a held-out batch of 1024 Zipf-distributed tokens (tiny model)")
fig.savefig(HERE / "load_heatmap.png", dpi=110)
print("wrote load_heatmap.png")
