"""Lesson 01: next-token prediction with the smallest language model there is, a character bigram.

Run from anywhere: python code_snippets.py  (a few seconds, deterministic, writes two PNGs beside itself).
"""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2.basics import bigram_counts, bigram_probabilities, sample_tokens  # noqa: E402

HERE = Path(__file__).parent

# A few lines written for this lesson (public domain): the training corpus.
TEXT = """the cat sat on the mat and the rat sat on the hat.
a cat that sat on a mat is a happy cat, and a rat on a hat is a happy rat.
the mat was flat, the hat was tall, and the cat and the rat sat there all day.
when the sun set, the cat ran to the mat and the rat ran to the hat.
"""
HELD_OUT = "the fat rat and the thin cat sat on the flat mat.\n"   # never trained on

# 1. Tokens: here one token per character; the vocabulary is every character that occurs.
vocab = sorted(set(TEXT + HELD_OUT))
stoi = {ch: i for i, ch in enumerate(vocab)}
ids = torch.tensor([stoi[ch] for ch in TEXT])
V = len(vocab)
print(f"corpus: {len(TEXT)} characters, vocabulary of {V} tokens: {''.join(vocab)!r}")
print(f"first 12 ids: {ids[:12].tolist()}  <- {TEXT[:12]!r}")

# 2. Count and normalise.
counts = bigram_counts(ids, V)
probs = bigram_probabilities(counts, smoothing=1.0)
print(f"counts {tuple(counts.shape)} {counts.dtype}, {int(counts.sum())} pairs (= n - 1)")
row = probs[stoi["h"]]
top = torch.topk(row, 3)
print("P(next | 'h'): " + ", ".join(f"{vocab[i]!r} {p:.3f}" for p, i in zip(top.values.tolist(), top.indices.tolist())))

# 3. Loss: the average negative log-probability of each actual next token.
nll = -torch.log(probs[ids[:-1], ids[1:]])
loss = nll.mean().item()
print(f"cross-entropy of the bigram on its own text: {loss:.4f} nats (perplexity {math.exp(loss):.2f})")
print(f"uniform guess over {V} tokens: ln({V}) = {math.log(V):.4f} nats (perplexity {V})")
held = torch.tensor([stoi[ch] for ch in HELD_OUT])
print("smoothing | train loss | held-out loss")
for smoothing in (0.0, 0.01, 0.1, 1.0, 10.0):
    p = bigram_probabilities(counts, smoothing=smoothing)
    train_loss = -torch.log(p[ids[:-1], ids[1:]]).mean().item()
    held_loss = -torch.log(p[held[:-1], held[1:]]).mean().item()
    print(f"{smoothing:>9} | {train_loss:>10.4f} | {held_loss:>13.4f}")

# The same number through the API a transformer uses: logits = log-probabilities, then F.cross_entropy.
logits = torch.log(probs)[ids[:-1]]                   # (n-1, V): one row of scores per position
ce = torch.nn.functional.cross_entropy(logits, ids[1:])
print(f"F.cross_entropy(log P rows, next ids) = {ce.item():.4f}")

# 4. Softmax and temperature on one row of logits.
example = torch.tensor([2.0, 1.0, 0.5, -1.0])
for temperature in (0.5, 1.0, 2.0):
    print(f"softmax({example.tolist()} / {temperature}) = "
          f"{[round(x, 3) for x in torch.softmax(example / temperature, dim=-1).tolist()]}")

# 5. Sample text, one token at a time (what generation is).
generator = torch.Generator().manual_seed(0)
sample = sample_tokens(bigram_probabilities(counts, smoothing=0.1), start_id=stoi["t"], num_tokens=80, generator=generator)
print("sampled (smoothing 0.1):", repr("t" + "".join(vocab[i] for i in sample)))

# 6. Why nobody builds a bigram at Kimi-K2's vocabulary.
kimi_vocab = 163840
print(f"a bigram table at Kimi-K2's vocabulary: {kimi_vocab}^2 = {kimi_vocab ** 2:,} entries "
      f"({kimi_vocab ** 2 * 2 / 2 ** 30:,.0f} GiB in bf16); Kimi-K2's embedding table: {kimi_vocab * 7168:,}")

# Figures.
labels = ["sp" if ch == " " else "\\n" if ch == "\n" else ch for ch in vocab]
fig, ax = plt.subplots(figsize=(7.2, 6.2))
image = ax.imshow(probs.numpy(), cmap="Blues", vmin=0, vmax=float(probs.max()))
ax.set_xticks(range(V), labels, fontsize=7)
ax.set_yticks(range(V), labels, fontsize=7)
ax.set_xlabel("next character b")
ax.set_ylabel("current character a")
ax.set_title(f"Bigram P(next = b | current = a), add-1 smoothing, V = {V}")
fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="probability (each row sums to 1)")
fig.tight_layout()
fig.savefig(HERE / "bigram_heatmap.png", dpi=110)
plt.close(fig)

fig, axes = plt.subplots(1, 3, figsize=(9, 2.8), sharey=True)
for ax, temperature in zip(axes, (0.5, 1.0, 2.0)):
    ax.bar(range(4), torch.softmax(example / temperature, dim=-1).numpy(), color="tab:blue")
    ax.set_xticks(range(4), [f"z={z:g}" for z in example.tolist()])
    ax.set_title(f"T = {temperature}")
    ax.set_ylim(0, 1)
axes[0].set_ylabel("probability")
fig.suptitle("softmax(z / T): low T sharpens, high T flattens")
fig.tight_layout()
fig.savefig(HERE / "softmax_temperature.png", dpi=110)
plt.close(fig)
print("wrote bigram_heatmap.png, softmax_temperature.png")
