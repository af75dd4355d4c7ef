"""Lesson 70: encoding with ranks - the readable PythonBPE against tiktoken, and the tiktoken.model file.

Run: python code_snippets.py   (about 6 s; needs the corpus: `make data`; writes encode_time.png)
"""
import base64
import random
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import tiktoken  # noqa: E402
from tiktoken.load import load_tiktoken_bpe  # noqa: E402

from kimik2.tokenizer import PythonBPE, fast_encoding, load_ranks, save_ranks, train_bpe  # noqa: E402
from kimik2.tokenizer.corpus import load_corpus, train_validation_split  # noqa: E402
from kimik2.tokenizer.encoders import merge_by_rank  # noqa: E402

HERE = Path(__file__).parent
REPO = Path(__file__).resolve().parents[3]

train, held_out = train_validation_split(load_corpus(REPO / "data"), 0.1)
ranks = train_bpe(train[:500_000], 2048)
token_of = {rank: token for token, rank in ranks.items()}


def trace(piece: bytes) -> None:
    """merge_by_rank, printing every step."""
    parts = [piece[i:i + 1] for i in range(len(piece))]
    print(f"piece {piece!r}: {len(parts)} bytes")
    while len(parts) > 1:
        candidates = [(ranks[parts[i] + parts[i + 1]], i) for i in range(len(parts) - 1)
                      if parts[i] + parts[i + 1] in ranks]
        if not candidates:
            break
        rank, i = min(candidates)
        print(f"  pair ranks {[r for r, _ in candidates]} -> merge {parts[i]!r}+{parts[i + 1]!r} (rank {rank})")
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    print(f"  result {parts} ids {[ranks[p] for p in parts]}")


# 1. Lowest rank first, step by step.
trace(b" questioning")
print("merge_by_rank(b' questioning') =", merge_by_rank(b" questioning", ranks))
print("merge_by_rank(b' the') =", merge_by_rank(b" the", ranks), "(already a token: one lookup)")

# 2. A piece that is a token is that token, even when no chain of merges leads to it (tiktoken's first check).
gap = {bytes([b]): b for b in range(256)} | {b"xyz": 256}                   # no "xy", no "yz"
gap_tiktoken = tiktoken.Encoding("gap", pat_str=r"\S+|\s+", mergeable_ranks=gap, special_tokens={})
print("ranks with only 'xyz' (256) added: merge_by_rank", merge_by_rank(b"xyz", gap), merge_by_rank(b"xyzw", gap),
      "| tiktoken", gap_tiktoken.encode_ordinary("xyz"), gap_tiktoken.encode_ordinary("xyzw"))

# 3. The two encoders agree, id for id; tiktoken is much faster.
python_bpe, fast = PythonBPE(ranks), fast_encoding(ranks)
sample = held_out[:300_000]
start = time.perf_counter()
ids_python = python_bpe.encode_ordinary(sample)
t_python = time.perf_counter() - start
start = time.perf_counter()
ids_fast = fast.encode_ordinary(sample)
t_fast = time.perf_counter() - start
print(f"{len(sample):,} chars -> {len(ids_fast):,} ids; identical: {ids_python == ids_fast}; "
      f"PythonBPE {t_python:.2f} s, tiktoken {t_fast * 1000:.1f} ms ({t_python / t_fast:.0f}x)")
print("decode(encode(x)) == x:", fast.decode(ids_fast) == sample == python_bpe.decode(ids_python))
print("type:", type(fast).__module__ + "." + type(fast).__name__, "| n_vocab", fast.n_vocab)

# 4. The tiktoken.model file: base64 of the token bytes, a space, the rank.
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "tiktoken.model"
    save_ranks(ranks, path)
    lines = path.read_text().splitlines()
    print(f"tiktoken.model: {len(lines)} lines, {path.stat().st_size:,} bytes")
    for n in (0, 10, 32, 65, 256, 257, 259, 267, 2047):
        encoded, rank = lines[n].split(" ")
        print(f"  line {n + 1:>4}: {lines[n]:<16} -> {base64.b64decode(encoded)!r} rank {rank}")
    print("load_ranks == ranks:", load_ranks(path) == ranks, "| tiktoken's load_tiktoken_bpe agrees:",
          load_tiktoken_bpe(str(path)) == ranks)

# Figure: time to encode ONE long piece (no spaces), both encoders.
rng = random.Random(0)
lengths_python, lengths_fast = [125, 250, 500, 1000, 2000], [125, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000]
runs = {n: "".join(rng.choice("etaoinshrdlu") for _ in range(n)) for n in lengths_fast}


def seconds(encode, text, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        encode(text)
        best = min(best, time.perf_counter() - start)
    return best


t_py = [seconds(python_bpe.encode_ordinary, runs[n], 1) for n in lengths_python]
t_tk = [seconds(fast.encode_ordinary, runs[n]) for n in lengths_fast]
print("one piece of n letters, PythonBPE s:", {n: round(t, 4) for n, t in zip(lengths_python, t_py)})
print("one piece of n letters, tiktoken s: ", {n: round(t, 5) for n, t in zip(lengths_fast, t_tk)})
fig, ax = plt.subplots(figsize=(7, 4.2))
ax.loglog(lengths_python, t_py, "o-", label="PythonBPE (merge_by_rank in Python)")
ax.loglog(lengths_fast, t_tk, "s-", label="tiktoken (Rust)")
ax.loglog(lengths_python, [t_py[0] * (n / lengths_python[0]) ** 2 for n in lengths_python], "k:", label="slope 2 ($n^2$)")
ax.set_xlabel("length n of one piece (letters, no spaces)")
ax.set_ylabel("seconds to encode it")
ax.set_title("Lowest-rank-first merging of one piece: quadratic in Python")
ax.grid(alpha=0.3, which="both")
ax.legend()
fig.tight_layout()
fig.savefig(HERE / "encode_time.png", dpi=110)
print("wrote encode_time.png")
