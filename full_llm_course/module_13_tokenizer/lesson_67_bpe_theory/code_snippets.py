"""Lesson 67: what byte-level BPE buys - compression against vocabulary size on the course corpus.

Run: python code_snippets.py   (about 5 s; needs the corpus: `make data`; writes compression.png)
"""
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kimik2.tokenizer import fast_encoding, train_bpe  # noqa: E402
from kimik2.tokenizer.corpus import load_corpus, train_validation_split  # noqa: E402

HERE = Path(__file__).parent
REPO = Path(__file__).resolve().parents[3]

# 1. The corpus: train on a slice of the first 90 %, measure on the last 10 % (other plays).
text = load_corpus(REPO / "data")
train, held_out = train_validation_split(text, 0.1)
train_slice = train[:500_000]
print(f"corpus {len(text):,} chars; training slice {len(train_slice):,} chars; held-out {len(held_out):,} chars")

# 2. One training run to 4096 tokens. BPE is greedy, so the first V ranks ARE the vocabulary of size V.
start = time.perf_counter()
ranks = train_bpe(train_slice, 4096)
print(f"train_bpe(slice, 4096): {time.perf_counter() - start:.1f} s")
small = train_bpe(train_slice[:50_000], 300)
prefix = dict(sorted(train_bpe(train_slice[:50_000], 400).items(), key=lambda kv: kv[1])[:300])
print("train_bpe(t, 300) == first 300 ranks of train_bpe(t, 400):", small == prefix)


def first(n):
    return {token: rank for token, rank in ranks.items() if rank < n}


# 3. Bytes per token for growing vocabularies, on training text and on held-out text.
sizes = [256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096]
held_bytes, train_bytes = len(held_out.encode()), len(train_slice.encode())
rows = []
print(f"{'vocab':>6} {'held-out tokens':>16} {'bytes/token':>12} {'train bytes/token':>18}")
for v in sizes:
    enc = fast_encoding(first(v))
    n_held, n_train = len(enc.encode_ordinary(held_out)), len(enc.encode_ordinary(train_slice))
    rows.append((v, held_bytes / n_held, train_bytes / n_train))
    print(f"{v:>6} {n_held:>16,} {held_bytes / n_held:>12.3f} {train_bytes / n_train:>18.3f}")
held_tokens = [held_bytes / r[1] for r in rows]
for (v0, t0), (v1, t1) in [((256, held_tokens[0]), (384, held_tokens[1])), ((2048, held_tokens[6]), (4096, held_tokens[8]))]:
    print(f"merges {v0 - 255}..{v1 - 256}: {(t0 - t1) / (v1 - v0):,.1f} held-out tokens saved per merge")

# 4. One line at four vocabulary sizes.
line = "To be, or not to be, that is the question:"
for v in (256, 512, 1024, 4096):
    enc = fast_encoding(first(v))
    ids = enc.encode_ordinary(line)
    print(f"V={v:>4} {len(ids):>2} tokens: " + "|".join(enc.decode([i]) for i in ids))

# 5. The same 4096 merges on text they never saw.
for sample in ["The quick brown fox jumps over the lazy dog.", "def forward(self, x): return x @ w.T",
               "城门已经关了。守门人说：你好。"]:
    enc = fast_encoding(ranks)
    print(f"{len(sample.encode()):>3} bytes -> {len(enc.encode_ordinary(sample)):>3} tokens "
          f"({len(sample.encode()) / len(enc.encode_ordinary(sample)):.2f} bytes/token): {sample}")

# 6. Kimi-K2's vocabulary in numbers.
base, special, hidden = 163_584, 256, 7168
print(f"Kimi-K2 vocab {base:,} + {special} = {base + special:,} ids; 163,840 / 256 = {(base + special) // 256}; "
      f"embed_tokens {base + special:,} x {hidden} = {(base + special) * hidden:,} parameters "
      f"(lm_head the same again: untied)")
print(f"DeepSeek-V3 vocab 129,280: embed_tokens {129_280 * hidden:,} parameters")

# Figure: bytes per token against vocabulary size.
fig, ax = plt.subplots(figsize=(7.5, 4.2))
ax.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label="held-out plays (last 10 % of the corpus)")
ax.plot([r[0] for r in rows], [r[2] for r in rows], "s--", alpha=0.7, label="the 500k-char training slice")
ax.set_xscale("log", base=2)
ax.set_xticks(sizes, [str(v) for v in sizes])
ax.set_xlabel("vocabulary size V (256 bytes + V-256 merges)")
ax.set_ylabel("UTF-8 bytes per token")
ax.set_title("Byte-level BPE on Shakespeare: each doubling of V buys less compression")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(HERE / "compression.png", dpi=110)
print("wrote compression.png")
