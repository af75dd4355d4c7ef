"""Lesson 68: training byte-level BPE - the incremental trainer against a full recount.

Run: python code_snippets.py   (about 10 s; needs the corpus: `make data`; writes affected_words.png)
"""
import time
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kimik2.tokenizer import train_bpe, word_counts  # noqa: E402
from kimik2.tokenizer.bpe import merge_pair  # noqa: E402
from kimik2.tokenizer.corpus import load_corpus  # noqa: E402

HERE = Path(__file__).parent
REPO = Path(__file__).resolve().parents[3]


def show(token: bytes) -> str:
    return repr(token.decode("utf-8", errors="backslashreplace"))


def merges_of(ranks: dict[bytes, int]) -> list[bytes]:
    return [token for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]) if rank >= 256]


def naive_train_bpe(text: str, vocab_size: int):
    """The same recipe with every pair recounted over every word before every merge."""
    counts = word_counts(text)
    words, freq = [list(w) for w in counts], list(counts.values())
    vocab = [bytes([b]) for b in range(256)]
    touched = []                                   # per merge: distinct words that contain the best pair
    while len(vocab) < vocab_size:
        pairs = Counter()
        for word, f in zip(words, freq):           # the full recount: every word, every merge
            for pair in zip(word, word[1:]):
                pairs[pair] += f
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merged = vocab[best[0]] + vocab[best[1]]
        if merged not in vocab:
            vocab.append(merged)
        rewritten = [merge_pair(w, best, vocab.index(merged)) for w in words]
        touched.append(sum(len(new) != len(old) for new, old in zip(rewritten, words)))
        words = rewritten
    return {token: rank for rank, token in enumerate(vocab)}, touched, len(words)


# 1. Sennrich's toy corpus, merge by merge.
toy = "low " * 5 + "lower " * 2 + "newest " * 6 + "widest " * 3
print("word counts:", dict(word_counts(toy)))
print("merges:", [show(t) for t in merges_of(train_bpe(toy, 256 + 8))])
print("merge_pair([97, 97, 97], (97, 97), 256) =", merge_pair([97, 97, 97], (97, 97), 256))

# 2. Shakespeare: pre-tokenized words, then the first 20 merges.
text = load_corpus(REPO / "data")[:1_000_000]
counts = word_counts(text)
print(f"1,000,000 chars -> {sum(counts.values()):,} pieces, {len(counts):,} distinct; "
      f"most common: {[(w.decode(), n) for w, n in counts.most_common(6)]}")
start = time.perf_counter()
ranks = train_bpe(text, 276)
print(f"train_bpe(1,000,000 chars, 276): {time.perf_counter() - start:.2f} s")
print("first 20 merges:", " ".join(show(t) for t in merges_of(ranks)))

# 3. Incremental vs full recount on a small text: same ranks, very different cost.
small = text[:20_000]
start = time.perf_counter()
naive, touched, n_words = naive_train_bpe(small, 406)
t_naive = time.perf_counter() - start
start = time.perf_counter()
fast = train_bpe(small, 406)
t_fast = time.perf_counter() - start
print(f"20,000 chars, 150 merges: full recount {t_naive:.2f} s, incremental {t_fast:.3f} s "
      f"({t_naive / t_fast:.0f}x); identical ranks: {naive == fast}")
print(f"distinct words: {n_words}; words containing the merged pair: first merge {touched[0]}, "
      f"median {sorted(touched)[len(touched) // 2]}, last {touched[-1]}")

# 4. Special tokens never take part in merges.
chat = "<|im_user|>user<|im_middle|>hi there<|im_end|><|im_assistant|>assistant<|im_middle|>hello<|im_end|>" * 40
with_specials_removed = merges_of(train_bpe(chat, 270))
as_plain_text = merges_of(train_bpe(chat, 270, special_tokens=()))
print("specials removed:", " ".join(show(t) for t in with_specials_removed))
print("specials as text:", " ".join(show(t) for t in as_plain_text))

# 5. Ties break toward the older (smaller-id) pair, whatever the order of the text.
print("ties:", [show(t) for t in merges_of(train_bpe("abcd", 259))],
      [show(t) for t in merges_of(train_bpe("cd\nab", 258))], [show(t) for t in merges_of(train_bpe("ab\ncd", 258))])

# Figure: how many distinct words each merge has to touch.
fig, ax = plt.subplots(figsize=(7.5, 4))
ax.plot(range(1, len(touched) + 1), touched, ".", ms=4, label="words containing the merged pair (incremental work)")
ax.axhline(n_words, color="tab:red", ls="--", label=f"all {n_words:,} distinct words (full recount work)")
ax.set_yscale("log")
ax.set_xlabel("merge number")
ax.set_ylabel("distinct words visited")
ax.set_title("Each merge changes few words: update those, not the whole corpus")
ax.set_ylim(0.7, 4e4)
ax.legend(loc="upper right")
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(HERE / "affected_words.png", dpi=110)
print("wrote affected_words.png")
