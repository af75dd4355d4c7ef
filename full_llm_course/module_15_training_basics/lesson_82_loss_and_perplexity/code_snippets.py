"""Lesson 82: loss, perplexity and bits per byte on a fixed validation set (kimik2.training.trainer.evaluate).

Run: python code_snippets.py   (about 6 seconds; needs the corpus: `make data`; writes loss_units.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM  # noqa: E402
from kimik2.tokenizer.corpus import load_corpus, train_validation_split  # noqa: E402
from kimik2.training import evaluate, pack_windows  # noqa: E402
from kimik2.training.tokens import corpus_token_streams, corpus_tokenizer  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).parent
DATA = Path(__file__).resolve().parents[3] / "data"
LN2 = math.log(2)

tokenizer = corpus_tokenizer(DATA)
train_tokens, validation_tokens = corpus_token_streams(tokenizer, DATA)
_, validation_text = train_validation_split(load_corpus(DATA))
bytes_per_token = len(validation_text.encode("utf-8")) / validation_tokens.numel()
V = tokenizer.vocab_size
validation_windows = pack_windows(validation_tokens, 128)          # (1225, 128)
fixed = validation_windows[:64]                                     # what evaluate(…, 16, 4) reads


def units(loss):
    return f"{loss:.4f} nats, perplexity {math.exp(loss):8.1f}, {loss / LN2:.3f} bits/token, " \
           f"{loss / (LN2 * bytes_per_token):.3f} bits/byte"


# 1. A fresh tiny model (the course's preset at the corpus vocabulary) on the fixed validation set.
print("1. fresh tiny model, evaluate(model, validation windows, batch_size=16, batches=4)")
torch.manual_seed(0)
model = KimiK2ForCausalLM(KimiK2Config.tiny(vocab_size=V, max_position_embeddings=512))
loss = evaluate(model, validation_windows, batch_size=16, batches=4)
print(f"  vocab {V}: ln V = {math.log(V):.4f}")
print(f"  initial validation loss {units(loss)}")
print(f"  windows read: {fixed.shape[0]} x 128 tokens, {fixed.shape[0] * 127:,d} targets "
      f"(of {validation_windows.shape[0]} windows)")

# 2. evaluate = the token mean, because every batch has the same number of targets.
with torch.no_grad():
    model.eval()
    logits = model(fixed).logits                                    # (64, 128, V) float32
    per_token = F.cross_entropy(logits[:, :-1].reshape(-1, V), fixed[:, 1:].reshape(-1), reduction="none")
print(f"\n2. the same number by hand: logits {tuple(logits.shape)} {logits.dtype}; mean of "
      f"{per_token.numel():,d} per-token losses = {per_token.mean().item():.6f} (evaluate: {loss:.6f})")
print(f"  logit std {logits.std().item():.4f}; ln V + std^2/2 = {math.log(V) + logits.var().item() / 2:.4f} "
      f"(lesson 65)")

# 3. Baselines that know nothing about context, or only the previous token (counted on train).
print(f"\n3. baselines on the validation stream ({validation_tokens.numel() - 1:,d} targets), "
      f"bytes per token {bytes_per_token:.4f}")
targets, previous = validation_tokens[1:], validation_tokens[:-1]
unigram = torch.bincount(train_tokens, minlength=V).double() + 1                    # add-one
unigram /= unigram.sum()
pair_ids, pair_counts = torch.unique(train_tokens[:-1] * V + train_tokens[1:], return_counts=True)
wanted = previous * V + targets
slot = torch.searchsorted(pair_ids, wanted).clamp(max=pair_ids.numel() - 1)
count = torch.where(pair_ids[slot] == wanted, pair_counts[slot], 0).double()          # c(prev, target)
row = torch.bincount(train_tokens[:-1], minlength=V).double()[previous].clamp(min=1)   # c(prev)
bigram = 0.8 * count / row + 0.2 * unigram[targets]                                   # interpolated, lambda 0.8
baselines = {
    "uniform over 256 bytes": 8 * LN2 * bytes_per_token,            # 8 bits for every byte
    f"uniform over {V} ids": math.log(V),
    "untrained tiny model": loss,
    "unigram (train counts)": -unigram[targets].log().mean().item(),
    "bigram (lambda 0.8)": -bigram.log().mean().item(),
}
for name, value in baselines.items():
    print(f"  {name:24s}: {units(value)}")

# 4. Why a fixed set: how much would a random sample of 64 windows move the number?
print("\n4. noise of the estimate (per-window losses of the bigram baseline)")
token_loss = -bigram.log()[: 1225 * 128 - 1]                        # entry j scores token j + 1
by_window = torch.cat([token_loss, token_loss[-1:]]).view(1225, 128)[:, :127]   # (1225, 127): window i's targets
per_window = by_window.mean(1)
spread = per_window.std().item()
print(f"  per-window loss: mean {per_window.mean().item():.3f}, std {spread:.3f} nats")
print(f"  standard error of a 64-window mean: {spread / 8:.3f} nats; of all 1225: {spread / math.sqrt(1225):.3f}")
draws = torch.stack([per_window[torch.randperm(1225, generator=torch.Generator().manual_seed(s))[:64]].mean()
                     for s in range(200)])
print(f"  200 random 64-window samples: {draws.min().item():.3f} .. {draws.max().item():.3f}; "
      f"the fixed first 64: {per_window[:64].mean().item():.3f}, every time")

# 5. Kimi-K2: the same units at its vocabulary.
print("\n5. Kimi-K2 (vocab 163840)")
print(f"  ln 163840 = {math.log(163840):.4f} nats = {math.log2(163840):.3f} bits per token")
print(f"  fp32 logits of one 4096-token window: 4096 x 163840 x 4 B = {4096 * 163840 * 4 / 2 ** 30:.2f} GiB")

# Figure: per-token losses of the fresh model and the bigram baseline; the baselines in bits per byte.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
bins = torch.linspace(0, 16, 81)
ax1.hist(per_token.numpy(), bins=bins.numpy(), alpha=0.7, label=f"untrained tiny model (mean {loss:.2f})")
ax1.hist(by_window[:64].flatten().numpy(), bins=bins.numpy(), alpha=0.6,
         label=f"bigram baseline (mean {by_window[:64].mean().item():.2f})")
ax1.axvline(math.log(V), color="black", ls="--", lw=1, label=f"ln V = {math.log(V):.2f}")
ax1.set_xlabel("per-token loss  -ln p(next token)  [nats]")
ax1.set_ylabel("tokens")
ax1.set_title("Per-token losses on the first 64 validation windows")
ax1.legend(fontsize=8, loc="upper left")
names = list(baselines)
bpb = [baselines[n] / (LN2 * bytes_per_token) for n in names]
ax2.barh(names, bpb, color=["gray", "gray", "tab:blue", "tab:orange", "tab:orange"])
for i, value in enumerate(bpb):
    ax2.text(value + 0.05, i, f"{value:.2f}", va="center", fontsize=9)
ax2.invert_yaxis()
ax2.set_xlabel("bits per byte of validation text (lower is better)")
ax2.set_title(f"loss / (ln 2 x {bytes_per_token:.3f} bytes per token)")
ax2.set_xlim(0, 9)
fig.tight_layout()
fig.savefig(HERE / "loss_units.png", dpi=110)
print("wrote loss_units.png")
