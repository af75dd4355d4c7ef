"""Lesson 78: from logits to one token - greedy, temperature, top-k, top-p - on one fixed logit vector.

Run: python code_snippets.py   (a few seconds; writes sampling_filters.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2.generation import filter_logits, sample_next_token  # noqa: E402

HERE = Path(__file__).parent
TOKENS = ["Paris", "the", "a", "France", "Lyon", "London", "Rome", "banana", "7", "<|im_end|>"]
LOGITS = torch.tensor([[4.0, 2.6, 2.2, 1.9, 1.2, 0.8, 0.3, -0.5, -1.0, -1.8]])   # (1, 10), an illustration


def entropy_bits(probs: torch.Tensor) -> float:
    p = probs[probs > 0]
    return float(-(p * p.log2()).sum())


def show(name: str, logits: torch.Tensor) -> torch.Tensor:
    probs = logits.softmax(-1)[0]
    kept = int(torch.isfinite(logits).sum())
    print(f"  {name:28s} kept {kept:2d}  entropy {entropy_bits(probs):4.2f} bits  "
          + " ".join(f"{p:5.3f}" for p in probs.tolist()))
    return probs


# 1. The distributions. Temperature divides the logits; top-k and top-p set logits to -inf.
print("1. one logit vector, ten tokens: " + ", ".join(TOKENS))
print(" " * 59 + " ".join(f"{t[:5]:>5s}" for t in TOKENS))
panels = {
    "softmax(logits), T = 1": LOGITS,
    "T = 0.5": LOGITS / 0.5,
    "T = 1.5": LOGITS / 1.5,
    "top-k = 3": filter_logits(LOGITS, top_k=3),
    "top-p = 0.9": filter_logits(LOGITS, top_p=0.9),
    "T = 0.7, top-k 5, top-p 0.9": filter_logits(LOGITS / 0.7, top_k=5, top_p=0.9),
}
distributions = {name: show(name, logits) for name, logits in panels.items()}
print(f"  greedy (T = 0): token {TOKENS[int(sample_next_token(LOGITS, temperature=0.0))]!r}")

# 2. Top-p step by step: sorted probabilities, the mass before each token, and the decision.
print("\n2. top-p = 0.9, step by step (T = 1)")
probs = LOGITS.softmax(-1)[0]
order = probs.argsort(descending=True)
mass_before = 0.0
for rank, index in enumerate(order.tolist()):
    decision = "keep" if mass_before < 0.9 else "drop"
    print(f"  rank {rank}: {TOKENS[index]:11s} p = {probs[index]:.3f}, mass before = {mass_before:.3f} -> {decision}")
    mass_before += float(probs[index])

# 3. Empirical check: many draws against the filtered distribution.
print("\n3. 50,000 draws with T = 0.7, top-k 5, top-p 0.9 (seeded generator)")
g = torch.Generator().manual_seed(0)
draws = torch.cat([sample_next_token(LOGITS.expand(5000, -1), 0.7, 5, 0.9, g) for _ in range(10)])
observed = torch.bincount(draws, minlength=len(TOKENS)).double() / draws.numel()
expected = distributions["T = 0.7, top-k 5, top-p 0.9"].double()
for index in range(len(TOKENS)):
    if expected[index] > 0 or observed[index] > 0:
        sigma = float((expected[index] * (1 - expected[index]) / draws.numel()).sqrt())
        print(f"  {TOKENS[index]:8s} expected {expected[index]:.4f}  observed {observed[index]:.4f}  "
              f"(standard error {sigma:.4f})")
print(f"  tokens never drawn: {[TOKENS[i] for i in range(len(TOKENS)) if observed[i] == 0]}")

# 4. The same filters in transformers (TopKLogitsWarper, TopPLogitsWarper) on random logits.
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper  # noqa: E402

scores = 3 * torch.randn(64, 1000, generator=torch.Generator().manual_seed(1))
ours = torch.isfinite(filter_logits(scores, top_k=50, top_p=0.9))
theirs = torch.isfinite(TopPLogitsWarper(0.9)(None, TopKLogitsWarper(50)(None, scores)))
print(f"\n4. 64 random rows of 1000 logits, top-k 50 then top-p 0.9: same kept set as transformers' warpers in "
      f"{int((ours == theirs).all(-1).sum())} of 64 rows; {int(ours.sum(-1).float().mean())} tokens kept per row "
      "on average")

# 5. Settings the sampler refuses.
print("\n5. check_sampling")
for kwargs in (dict(temperature=-0.5), dict(temperature=1.0, top_k=0), dict(temperature=1.0, top_p=0.0),
               dict(temperature=1.0, top_p=1.5)):
    try:
        sample_next_token(LOGITS, **kwargs)
    except ValueError as error:
        print(f"  {kwargs}: ValueError: {error}")

# Figure: the six distributions.
fig, axes = plt.subplots(2, 3, figsize=(12, 6), sharey=True)
for ax, (name, dist) in zip(axes.flat, distributions.items()):
    colors = ["tab:blue" if p > 0 else "lightgray" for p in dist.tolist()]
    ax.bar(range(len(TOKENS)), dist.tolist(), color=colors, label="after")
    if name != "softmax(logits), T = 1":
        ax.bar(range(len(TOKENS)), distributions["softmax(logits), T = 1"].tolist(), fill=False,
               edgecolor="black", linewidth=0.8, label="before (T = 1)")
        ax.legend(fontsize=8)
    for i, p in enumerate(dist.tolist()):
        if p == 0:
            ax.text(i, 0.01, "x", ha="center", color="gray", fontsize=8)
    ax.set_title(f"{name}  (H = {entropy_bits(dist):.2f} bits)", fontsize=10)
    ax.set_xticks(range(len(TOKENS)), TOKENS, rotation=60, fontsize=8)
for ax in axes[:, 0]:
    ax.set_ylabel("probability")
fig.suptitle("One logit vector through temperature, top-k and top-p (outline: before; x: filtered to 0)")
fig.tight_layout()
fig.savefig(HERE / "sampling_filters.png", dpi=110)
print("wrote sampling_filters.png")
