"""Lesson 81: the data pipeline - one token stream, non-overlapping windows, a seeded order per epoch.

Run: python code_snippets.py   (about 5 seconds; needs the corpus: `make data`; writes data_pipeline.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2.tokenizer.corpus import corpus_dir, listed_works, load_corpus, train_validation_split  # noqa: E402
from kimik2.training import BatchIterator, pack_windows  # noqa: E402
from kimik2.training.tokens import corpus_token_streams, corpus_tokenizer  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).parent
DATA = Path(__file__).resolve().parents[3] / "data"

# 1. The split: the last 10 % of the characters, cut at the start of a line.
print("1. train / validation split (kimik2.tokenizer.corpus.train_validation_split)")
text = load_corpus(DATA)
train_text, validation_text = train_validation_split(text)
print(f"  corpus {len(text):,d} characters; train {len(train_text):,d} ({len(train_text) / len(text):.4f}), "
      f"validation {len(validation_text):,d}")
print(f"  train ends with   {train_text[-24:]!r}")
print(f"  validation starts {validation_text[:40]!r}")
start = 0
for path in listed_works(corpus_dir(DATA)):
    end = start + len(path.read_text(encoding="utf-8"))
    if end > len(train_text):
        share = (end - max(start, len(train_text))) / (end - start)
        print(f"  validation holds {share:6.1%} of {path.name}")
    start = end + 2                                        # works are joined by a blank line

# 2. Tokens: the 4096-merge BPE tokenizer learned on the training part only.
print("\n2. token streams (kimik2.training.tokens)")
tokenizer = corpus_tokenizer(DATA)
train_tokens, validation_tokens = corpus_token_streams(tokenizer, DATA)
for name, part, tokens in (("train", train_text, train_tokens), ("validation", validation_text, validation_tokens)):
    size = len(part.encode("utf-8"))
    print(f"  {name:10s}: {tokens.numel():9,d} tokens, {size:9,d} bytes, {size / tokens.numel():.3f} bytes/token, "
          f"dtype {tokens.dtype}")
print(f"  vocab_size {tokenizer.vocab_size} = {tokenizer.vocab_size - 256} mergeable tokens (256 bytes + "
      f"{tokenizer.vocab_size - 512} merges) + 256 special ids; largest id in the train stream: {int(train_tokens.max())}")

# 3. Windows: non-overlapping, the tail dropped.
print("\n3. pack_windows(stream, seq_len=128)")
for name, tokens in (("train", train_tokens), ("validation", validation_tokens)):
    windows = pack_windows(tokens, 128)
    print(f"  {name:10s}: {tuple(windows.shape)} windows, tail of {tokens.numel() - windows.numel()} tokens dropped, "
          f"shares memory with the stream: {windows.untyped_storage().data_ptr() == tokens.untyped_storage().data_ptr()}")
train_windows = pack_windows(train_tokens, 128)
print(f"  window 1 = stream[128:256]: {torch.equal(train_windows[1], train_tokens[128:256])}")
print(f"  window 0 decodes to {tokenizer.decode(train_windows[0, :12].tolist())!r} ...")

# 4. The model shifts the labels itself: a window is both input and labels.
print("\n4. labels = the window itself; position t is scored against token t + 1")
window = train_windows[:1]                                 # (1, 128)
pairs = [(tokenizer.decode([int(window[0, t])]), tokenizer.decode([int(window[0, t + 1])])) for t in range(5)]
for t, (seen, target) in enumerate(pairs):
    print(f"  position {t}: input {seen!r:10s} -> target {target!r}")
print(f"  targets per window: {window.shape[1] - 1} of {window.shape[1]} positions "
      f"(the last position's logits have no target)")

# 5. The order: one permutation per epoch, drawn from (seed, epoch).
print("\n5. BatchIterator(train windows, batch_size=16, seed=0)")
batches = BatchIterator(train_windows, batch_size=16, seed=0)
per_epoch = train_windows.shape[0] // 16
print(f"  {train_windows.shape[0]} windows -> {per_epoch} batches per epoch, "
      f"{train_windows.shape[0] - per_epoch * 16} windows left out of each epoch (a different few each time)")
first = batches.next_batch()
print(f"  first batch {tuple(first.shape)}, windows {batches.order()[:4].tolist()}..., state {batches.state_dict()}")

small = BatchIterator(pack_windows(torch.arange(105), 10), batch_size=3, seed=5)
print("  small example: 105 tokens -> 10 windows of 10 (5 dropped), batch 3, seed 5")
for epoch in range(3):
    small.epoch = epoch
    print(f"    epoch {epoch} order {small.order().tolist()}")
small.epoch = 0
visits = []
for step in range(9):
    batch = small.next_batch()
    visits.append((small.epoch, (batch[:, 0] // 10).tolist()))
    print(f"    step {step}: epoch {small.epoch} windows {(batch[:, 0] // 10).tolist()} -> state {small.state_dict()}")

# 6. Resuming from (epoch, index) alone.
print("\n6. resume: save the state after 4 batches, rebuild, continue")
straight = BatchIterator(pack_windows(torch.arange(105), 10), batch_size=3, seed=5)
for _ in range(4):
    straight.next_batch()
saved = straight.state_dict()
expected = [straight.next_batch() for _ in range(5)]
resumed = BatchIterator(pack_windows(torch.arange(105), 10), batch_size=3, seed=5)
resumed.load_state_dict(saved)
print(f"  saved {saved}; next 5 batches identical: "
      f"{all(torch.equal(a, b) for a, b in zip(expected, [resumed.next_batch() for _ in range(5)]))}")

# 7. Kimi-K2's scale (report arXiv:2507.20534 §2.5: 4096-token context, 67M-token global batch, 15.5T tokens).
print("\n7. the same arithmetic at Kimi-K2's scale")
context, batch_tokens, total = 4096, 67e6, 15.5e12
print(f"  windows per global batch: 67M / 4096 = {batch_tokens / context:,.0f} (2^26 = {2 ** 26:,d} tokens would be "
      f"{2 ** 26 // context:,d} windows)")
print(f"  optimizer steps for 15.5T tokens at 67M per step: {total / batch_tokens:,.0f}")
print(f"  our run: 16 x 128 = {16 * 128:,d} tokens per step; one epoch of train = {per_epoch} steps "
      f"= {per_epoch * 16 * 128:,d} tokens")

# Figure: the stream cut into windows, and which window each step reads.
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.6), gridspec_kw={"height_ratios": [1, 2.2]})
colors = plt.cm.tab10.colors
for w in range(10):
    ax1.barh(0, 10, left=10 * w, color=colors[w % 10], edgecolor="white")
    ax1.text(10 * w + 5, 0, f"w{w}", ha="center", va="center", color="white", fontsize=9)
ax1.barh(0, 5, left=100, color="lightgray", edgecolor="white", hatch="//")
ax1.text(102.5, 0, "tail", rotation=90, ha="center", va="center", fontsize=8)
ax1.set_xlim(0, 106)
ax1.set_yticks([])
ax1.set_xlabel("token position in the stream")
ax1.set_title("pack_windows: 105 tokens, seq_len 10 -> 10 non-overlapping windows")
grid = torch.full((10, 9), float("nan"))
for step, (epoch, ids) in enumerate(visits):
    for window_id in ids:
        grid[window_id, step] = epoch
ax2.imshow(grid.numpy(), cmap="Set2", vmin=0, vmax=7, aspect="auto")
for step, (epoch, ids) in enumerate(visits):
    for slot, window_id in enumerate(ids):
        ax2.text(step, window_id, str(slot), ha="center", va="center", fontsize=8)
for boundary in (2.5, 5.5):
    ax2.axvline(boundary, color="black", lw=1)
for epoch in range(3):
    skipped = sorted(set(range(10)) - {w for e, ids in visits if e == epoch for w in ids})
    ax2.text(3 * epoch + 1, -0.9, f"epoch {epoch}: skips w{skipped[0]}", ha="center", fontsize=9)
ax2.set_xticks(range(9))
ax2.set_yticks(range(10), [f"w{i}" for i in range(10)])
ax2.set_xlabel("step (number in a cell: row of the batch)")
ax2.set_ylabel("window")
ax2.set_ylim(9.5, -1.5)
ax2.set_title("BatchIterator(batch 3, seed 5): each epoch a fresh permutation; 10 mod 3 = 1 window skipped")
fig.tight_layout()
fig.savefig(HERE / "data_pipeline.png", dpi=110)
print("wrote data_pipeline.png")
