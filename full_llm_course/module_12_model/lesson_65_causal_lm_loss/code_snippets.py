"""Lesson 65: the causal-LM loss - shift by one, ignore -100, mean over counted tokens; ln(V) at init.

Run: python code_snippets.py   (a few seconds; writes initial_loss.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM  # noqa: E402

HERE = Path(__file__).parent
torch.set_num_threads(1)
loss_function = KimiK2ForCausalLM.loss_function

# 1. The shift: position t's logits are scored against label t + 1.
ids = torch.tensor([[11, 12, 13, 14, 15]])
print("pairs (position -> label it is scored against):",
      [(t, int(ids[0, t + 1])) for t in range(ids.shape[1] - 1)], "| the last position predicts nothing")

# 2. -100 and the mean over counted tokens, checked by hand.
generator = torch.Generator().manual_seed(0)
logits = torch.randn(2, 6, 10, generator=generator)
labels = torch.randint(0, 10, (2, 6), generator=generator)
labels[0, :3] = -100                      # e.g. a prompt we do not train on
labels[1, 5] = -100
loss = loss_function(logits, labels)
targets = labels[:, 1:]
logp = logits[:, :-1].log_softmax(-1)
counted = targets != -100
per_token = -logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
manual = per_token[counted].sum() / counted.sum()
print(f"\nloss_function: {loss.item():.6f} | by hand: {manual.item():.6f} over {int(counted.sum())} counted tokens "
      f"(row 0: {int(counted[0].sum())}, row 1: {int(counted[1].sum())})")
per_row = torch.stack([per_token[i][counted[i]].mean() for i in range(2)])
print(f"mean of per-row means instead: {per_row.mean().item():.6f} (weights row 0's tokens more: not the same)")

# 3. Gradient accumulation: averaging two micro-batch losses is not the full-batch loss when counts differ.
half = [loss_function(logits[i:i + 1], labels[i:i + 1]) for i in range(2)]
print(f"micro-batch losses {half[0].item():.4f}, {half[1].item():.4f}: their mean {(half[0] + half[1]).item() / 2:.6f}"
      f" vs full batch {loss.item():.6f}")

# 4. The initial loss: ln(V) + sigma^2 / 2 for logits ~ N(0, sigma^2).
V = 163840
print(f"\nln({V}) = {math.log(V):.4f}; ln(512) = {math.log(512):.4f}")
torch.manual_seed(0)
config = KimiK2Config.tiny()
model = KimiK2ForCausalLM(config).eval()
batch = torch.randint(0, 512, (4, 64), generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    out = model(batch, labels=batch)
sigma = out.logits.std().item()
print(f"fresh tiny model: loss {out.loss.item():.4f}, logit std {sigma:.4f}, "
      f"ln(512) + sigma^2/2 = {math.log(512) + sigma ** 2 / 2:.4f}, perplexity {math.exp(out.loss.item()):.1f}")
g = torch.Generator().manual_seed(2)
for s in (0.16, 1.69):
    z = torch.randn(512, V, generator=g) * s
    y = torch.randint(0, V, (512,), generator=g)
    print(f"random logits N(0, {s}^2) over {V}: loss {F.cross_entropy(z, y).item():.4f}, "
          f"ln V + sigma^2/2 = {math.log(V) + s * s / 2:.4f}")

# 5. The balance loss is reported next to the language-model loss, never inside it.
model.train()
out = model(batch, labels=batch)
print(f"\ntraining mode: loss {out.loss.item():.6f} == loss_function(logits, labels) "
      f"{loss_function(out.logits, batch).item():.6f}: {torch.equal(out.loss, loss_function(out.logits, batch))}; "
      f"aux_loss {out.aux_loss.item():.6f} (3 MoE layers, alpha {config.aux_loss_alpha})")
model.eval()
print("eval mode: aux_loss", model(batch, labels=batch).aux_loss)

# Figure: initial loss vs vocabulary size.
sizes = [64, 256, 1024, 4096, 16384, 65536, 163840]
measured = []
for vocab in sizes[:5]:
    torch.manual_seed(0)
    net = KimiK2ForCausalLM(KimiK2Config.tiny(vocab_size=vocab)).eval()
    tokens = torch.randint(0, vocab, (2, 64), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        measured.append(net(tokens, labels=tokens).loss.item())
big = []
for vocab in sizes:
    gg = torch.Generator().manual_seed(4)
    z = torch.randn(128, vocab, generator=gg) * 1.69
    big.append(F.cross_entropy(z, torch.randint(0, vocab, (128,), generator=gg)).item())
print("initial loss of fresh tiny models, V =", sizes[:5], ":", [round(m, 3) for m in measured])
fig, ax = plt.subplots(figsize=(7.5, 4.2))
xs = torch.tensor(sizes, dtype=torch.float64)
ax.semilogx(sizes, xs.log().numpy(), "k-", label="ln V")
ax.semilogx(sizes, (xs.log() + 1.69 ** 2 / 2).numpy(), "k:", label="ln V + 1.69²/2")
ax.semilogx(sizes[:5], measured, "o", color="tab:blue", label="fresh tiny model (logit std 0.16)")
ax.semilogx(sizes, big, "s", color="tab:red", label="random logits, std 1.69 (Kimi-K2's init scale)")
ax.axvline(163840, color="gray", lw=0.6)
ax.text(163840, 5.0, "Kimi-K2 (V = 163840) ", ha="right", color="gray")
ax.set_xlabel("vocabulary size V")
ax.set_ylabel("cross-entropy at initialisation (nats)")
ax.set_title("The first loss you should see: about ln V")
ax.legend(loc="upper left")
fig.tight_layout()
fig.savefig(HERE / "initial_loss.png", dpi=110)
print("wrote initial_loss.png")
