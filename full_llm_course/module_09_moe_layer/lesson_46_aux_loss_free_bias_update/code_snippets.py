"""Lesson 46: auxiliary-loss-free balancing - the sign rule on e_score_correction_bias, one layer and model-wide.

Run: python code_snippets.py   (about 5 s; writes bias_balancing.png)
"""
import copy
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM, MoEGate, balance  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=110)
torch.set_num_threads(1)   # thousands of tiny steps: one thread is faster and steadier

# 1. The rule on hand-made counts (4 experts).
gate = MoEGate(KimiK2Config.tiny(n_routed_experts=4, num_experts_per_tok=2))
for counts in ([5, 1, 3, 3], [6, 1, 3, 2]):
    before = gate.e_score_correction_bias.clone()
    gate.update_correction_bias(torch.tensor(counts), speed=0.01)
    load = torch.tensor(counts, dtype=torch.float32)
    print(f"load {counts} (mean {load.mean().item():g}): sign(mean - load) {torch.sign(load.mean() - load).tolist()}"
          f" -> bias change {[round(v, 4) for v in (gate.e_score_correction_bias - before).tolist()]}")

# 2. A skewed router: experts 0-2 have a strong preference for a direction every token shares.
config = KimiK2Config.tiny()            # 16 experts, top-4: fair share 1024 * 4 / 16 = 256 slots per batch
E, H = config.n_routed_experts, config.hidden_size
shared_direction = torch.ones(H) / H ** 0.5


def skewed_gate() -> MoEGate:
    torch.manual_seed(0)
    g = MoEGate(config)
    with torch.no_grad():
        g.weight[:3] += 0.5 * shared_direction
    return g


def batches(steps):
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        yield torch.randn(1, 1024, H, generator=generator) + 0.3 * H ** 0.5 * shared_direction


def load_of(g, x):
    with torch.no_grad():
        idx, _ = g(x)
    return torch.bincount(idx.view(-1), minlength=E)


runs = {}
for speed in (0.001, 0.01):
    g = skewed_gate()
    history, first = [], None
    for x in batches(1000):
        load = load_of(g, x)                                   # one training step's load ...
        first = load if first is None else first
        history.append(balance.max_violation(load).item())
        g.update_correction_bias(load, speed)                  # ... then the update, outside autograd
    runs[speed] = dict(gate=g, history=history, first=first, last=load)
    print(f"speed {speed}: MaxVio at steps 0, 100, 300, 999 = "
          f"{[round(history[i], 3) for i in (0, 100, 300, 999)]}; mean of the last 200 steps "
          f"{sum(history[-200:]) / 200:.3f}")
# The floor: a perfectly fair router (4 distinct experts uniformly at random) measured on 1024 tokens.
fair = torch.Generator().manual_seed(3)
floor = [balance.max_violation(torch.bincount(torch.rand(1024, E, generator=fair).topk(4).indices.view(-1),
                                              minlength=E)).item() for _ in range(200)]
print(f"MaxVio of a perfectly fair random router on 1024 tokens: mean {sum(floor) / 200:.3f} (sampling noise)")
print("load at step 0   :", runs[0.001]["first"].tolist())
print("load at step 999 :", runs[0.001]["last"].tolist(), "(speed 0.001)")
print("bias after 1000 steps, speed 0.001:", runs[0.001]["gate"].e_score_correction_bias.data)
print("bias after 1000 steps, speed 0.01 :", runs[0.01]["gate"].e_score_correction_bias.data)

# 3. The bias chose; the weights still come from the unbiased scores.
g = runs[0.001]["gate"]
x = next(iter(batches(1)))
with torch.no_grad():
    idx, weight = g(x)
    scores = torch.sigmoid(x.view(-1, H) @ g.weight.T).gather(1, idx)
    expected = scores / scores.sum(-1, keepdim=True) * config.routed_scaling_factor
    biased = (torch.sigmoid(x.view(-1, H) @ g.weight.T) + g.e_score_correction_bias).gather(1, idx)
    wrong = biased / biased.sum(-1, keepdim=True) * config.routed_scaling_factor
print(f"max |topk_weight - renormalised unbiased scores| = {(weight - expected).abs().max().item():.1e}; "
      f"from biased scores it would differ by up to {(weight - wrong).abs().max().item():.3f}")

# 4. Only differences between biases matter: a constant shift changes no choice.
g = copy.deepcopy(g)                                           # keep the trained gate for the figure
bias = g.e_score_correction_bias.data.clone()
print(f"mean bias {bias.mean().item():+.4f} (the sign rule is not zero-sum: {int((bias > 0).sum())} experts went up)")
with torch.no_grad():
    chosen = g(x)[0].sort(-1).values
    g.e_score_correction_bias -= bias.mean()
    recentred = g(x)[0].sort(-1).values
print("same choice after subtracting the mean bias:", torch.equal(chosen, recentred))

# 5. Why the bias is float32: in bf16 a step of 0.001 is rounded to the nearest representable value.
for start in (0.01, 0.25, 0.5):
    b16 = torch.tensor(start, dtype=torch.bfloat16)
    print(f"bf16: {start} + 0.001 = {(b16 + 0.001).item():.6f}  |  float32: {start} + 0.001 = "
          f"{(torch.tensor(start) + 0.001).item():.6f}")

# 6. Model-wide: update_correction_biases uses every MoE layer's counts since the last call, then resets them.
torch.manual_seed(0)
model = KimiK2ForCausalLM(KimiK2Config.tiny())
ids = torch.randint(0, 512, (2, 16), generator=torch.Generator().manual_seed(2))
with torch.no_grad():
    model(ids)
    model(ids[:, :8])                                              # two micro-batches of one step
used = balance.update_correction_biases(model, speed=0.001)
layers = balance.moe_layers(model)
print(f"{len(layers)} MoE layers; load used {tuple(used.shape)}, sums {used.sum(-1).tolist()} = (32 + 16) x 4")
print("layer 1 load:", used[0].tolist())
print("layer 1 bias:", [round(v, 4) for v in layers[0].gate.e_score_correction_bias.tolist()])
print("counters after the update:", balance.expert_load(model).sum().item())

# Figure: MaxVio per step for both speeds, the final biases, the load before and after.
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
ax = axes[0]
for speed, run in runs.items():
    smooth = torch.tensor(run["history"]).unfold(0, 20, 1).mean(-1)
    ax.plot(range(19, 1000), smooth.numpy(), label=f"speed {speed}")
ax.set_yscale("log")
ax.set_xlabel("training step (one bias update each)")
ax.set_ylabel("MaxVio of the step's batch (20-step mean)")
ax.set_title("Skewed router: MaxVio falls")
ax.legend()
ax = axes[1]
pos = torch.arange(E)
for offset, speed in ((-0.2, 0.001), (0.2, 0.01)):
    ax.bar(pos + offset, runs[speed]["gate"].e_score_correction_bias.data.numpy(), width=0.4, label=f"speed {speed}")
ax.axhline(0, color="black", lw=0.8)
ax.set_xticks(range(0, E, 3))
ax.set_xlabel("expert (0-2 favoured by the router)")
ax.set_ylabel("e_score_correction_bias")
ax.set_title("Bias after 1000 steps")
ax.legend()
ax = axes[2]
ax.bar(pos - 0.2, runs[0.001]["first"].numpy(), width=0.4, label="step 0 (bias 0)")
ax.bar(pos + 0.2, runs[0.001]["last"].numpy(), width=0.4, label="step 999 (speed 0.001)")
ax.axhline(256, color="tab:red", ls="--", label="fair share 256")
ax.set_xticks(range(0, E, 3))
ax.set_xlabel("expert")
ax.set_ylabel("slots in a batch of 1024 tokens")
ax.set_title("Load per expert")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "bias_balancing.png", dpi=110)
print("wrote bias_balancing.png")
