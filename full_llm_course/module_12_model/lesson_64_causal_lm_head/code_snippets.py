"""Lesson 64: KimiK2ForCausalLM - the untied lm_head and float32 logits.

Run: python code_snippets.py   (a few seconds; writes logits_precision.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM  # noqa: E402

HERE = Path(__file__).parent
torch.set_num_threads(1)

# 1. The tiny model: the head, untied and tied.
config = KimiK2Config.tiny()
torch.manual_seed(0)
model = KimiK2ForCausalLM(config)
head, embed = model.lm_head, model.model.embed_tokens
print(f"lm_head: {head} | weight {tuple(head.weight.shape)} std {head.weight.std().item():.4f}")
print(f"untied (tie_word_embeddings={config.tie_word_embeddings}): same tensor as embed_tokens? "
      f"{head.weight is embed.weight}; parameters {sum(p.numel() for p in model.parameters()):,}")
torch.manual_seed(0)
tied = KimiK2ForCausalLM(KimiK2Config.tiny(tie_word_embeddings=True))
print(f"tied: same tensor? {tied.lm_head.weight is tied.model.embed_tokens.weight}; "
      f"parameters {sum(p.numel() for p in tied.parameters()):,} (parameters() counts a shared tensor once)")

# 2. Kimi-K2's head (meta device: shapes only).
with torch.device("meta"):
    k2 = KimiK2ForCausalLM(KimiK2Config(num_hidden_layers=1))
w = k2.lm_head.weight
print(f"Kimi-K2 lm_head {tuple(w.shape)}: {w.numel():,} parameters, {2 * w.numel() / 1e9:.2f} GB in bf16; "
      f"untied, so the embedding holds another {k2.model.embed_tokens.weight.numel():,}")

# 3. The forward: (b, s) ids -> (b, s, vocab) float32 logits, whatever the model dtype.
ids = torch.randint(0, 512, (2, 6), generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    out = model(ids)
    print(f"\nfloat32 model: logits {tuple(out.logits.shape)} {out.logits.dtype}; std {out.logits.std().item():.4f} "
          f"(0.02 x sqrt(64) = {0.02 * 64 ** 0.5:.2f}; Kimi-K2: 0.02 x sqrt(7168) = {0.02 * 7168 ** 0.5:.2f})")
    bf16 = model.to(torch.bfloat16)
    out16 = bf16(ids)
    print(f"bf16 model:    logits {tuple(out16.logits.shape)} {out16.logits.dtype}; "
          f"hidden states and lm_head weight are {bf16.lm_head.weight.dtype}")
    distinct = (out16.logits.view(torch.int32) & 0xFFFF).unique().tolist()
    print(f"  low 16 bits of every float32 logit from the bf16 model: {distinct} (the values are bf16 values)")
    model.float()

# 4. Why the loss wants float32: cross-entropy of the same logits computed three ways.
generator = torch.Generator().manual_seed(2)
logits = torch.randn(8, 163840, generator=generator) * 2
labels = torch.randint(0, 163840, (8,), generator=generator)
exact = F.cross_entropy(logits.double(), labels).item()
in_bf16 = F.cross_entropy(logits.bfloat16(), labels)
upcast = F.cross_entropy(logits.bfloat16().float(), labels)
print(f"\nV = 163840, 8 tokens: float64 loss {exact:.6f}")
print(f"  bf16 logits, loss computed in bf16: {in_bf16.item():.6f} ({in_bf16.dtype}), error {abs(in_bf16.item() - exact):.2e}")
print(f"  bf16 logits, .float() then loss:    {upcast.item():.6f} ({upcast.dtype}), error {abs(upcast.item() - exact):.2e}")

# 5. Memory of the logits.
for tokens in (4096, 32768):
    print(f"logits for {tokens:>5} tokens x 163840: float32 {4 * tokens * 163840 / 2**30:5.1f} GiB, "
          f"bf16 {2 * tokens * 163840 / 2**30:5.1f} GiB")

# Figure: per-token loss error vs vocabulary size, loss in bf16 vs loss in float32 from bf16 logits.
sizes = [512, 4096, 32768, 163840]
err_bf16, err_up = [], []
for V in sizes:
    a, b = [], []
    for seed in range(4):
        g = torch.Generator().manual_seed(10 + seed)
        lg, lb = torch.randn(64, V, generator=g) * 2, torch.randint(0, V, (64,), generator=g)
        ref = F.cross_entropy(lg.double(), lb, reduction="none")
        a.append((F.cross_entropy(lg.bfloat16(), lb, reduction="none").double() - ref).abs().mean().item())
        b.append((F.cross_entropy(lg.bfloat16().float(), lb, reduction="none").double() - ref).abs().mean().item())
    err_bf16.append(sum(a) / len(a))
    err_up.append(sum(b) / len(b))
print("\nmean |per-token loss error|, V:", sizes)
print("  loss in bf16:              ", [f"{e:.4f}" for e in err_bf16])
print("  bf16 logits, loss in fp32: ", [f"{e:.4f}" for e in err_up])
fig, ax = plt.subplots(figsize=(7, 4))
ax.loglog(sizes, err_bf16, "o-", color="tab:red", label="bf16 logits, cross-entropy in bf16")
ax.loglog(sizes, err_up, "o-", color="tab:blue", label="bf16 logits, .float(), cross-entropy in float32")
ax.minorticks_off()
ax.set_xticks(sizes, [str(s) for s in sizes])
ax.set_yticks([0.002, 0.005, 0.01, 0.02], ["0.002", "0.005", "0.01", "0.02"])
ax.set_ylim(0.0015, 0.03)
ax.set_xlabel("vocabulary size")
ax.set_ylabel("mean |loss error| per token (vs float64)")
ax.set_title("Why KimiK2ForCausalLM returns float32 logits")
ax.legend()
fig.tight_layout()
fig.savefig(HERE / "logits_precision.png", dpi=110)
print("wrote logits_precision.png")
