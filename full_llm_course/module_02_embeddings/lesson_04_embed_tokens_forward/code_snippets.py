"""Lesson 04: the lookup is a one-hot matrix product; why nobody computes it that way."""
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

import kimik2

HERE = Path(__file__).parent
torch.manual_seed(0)

# 1. Lookup == one-hot @ table, on a small table
V, H = 8, 5
table = nn.Embedding(V, H)
ids = torch.tensor([5, 0, 2, 5])
lookup = table(ids)                                   # (4, 5): rows 5, 0, 2, 5 of the table
one_hot = F.one_hot(ids, V).float()                   # (4, 8): a single 1 per row
product = one_hot @ table.weight                      # (4, 8) @ (8, 5) -> (4, 5)
print("== lookup vs one-hot product ==")
print("ids:", ids.tolist())
print("one_hot:\n", one_hot.int())
print("lookup[0]  =", [round(v, 4) for v in lookup[0].tolist()])
print("product[0] =", [round(v, 4) for v in product[0].tolist()])
print("max |lookup - product| =", (lookup - product).abs().max().item())
print("torch.equal:", torch.equal(lookup, product))

# 2. The gradient of a lookup: rows are added into, nothing else moves
probe = torch.randn(4, H)
(lookup * probe).sum().backward()
expected = torch.zeros(V, H).index_add_(0, ids, probe)
print("\n== gradient ==")
print("grad rows with non-zeros:", table.weight.grad.abs().sum(1).nonzero().flatten().tolist())
print("grad == index_add_(0, ids, upstream):", torch.allclose(table.weight.grad, expected))
print("grad row 5 == probe[0] + probe[3]:", torch.allclose(table.weight.grad[5], probe[0] + probe[3]))

# 3. Cost at Kimi-K2's size (arithmetic), and measured at a mid size on this CPU
cfg = kimik2.KimiK2Config.kimi_k2()
V_k, H_k = cfg.vocab_size, cfg.hidden_size
print("\n== cost per token at Kimi-K2 size ==")
print(f"one-hot matmul: {V_k:,} x {H_k:,} = {V_k * H_k:,} multiply-adds, "
      f"one-hot row of {V_k:,} floats = {4 * V_k:,} bytes (fp32)")
print(f"lookup: copy {H_k:,} values = {2 * H_k:,} bytes (bf16)")
print(f"ratio: {V_k * H_k // H_k:,} = the vocabulary size")

V_m, H_m, T = 16384, 1024, 256
big = nn.Embedding(V_m, H_m)
tok = torch.randint(0, V_m, (T,), generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    for _ in range(2):
        big(tok); F.one_hot(tok, V_m).float() @ big.weight        # warm up
    t0 = time.perf_counter(); [big(tok) for _ in range(5)]; t1 = time.perf_counter()
    [F.one_hot(tok, V_m).float() @ big.weight for _ in range(5)]; t2 = time.perf_counter()
    same = torch.equal(big(tok), F.one_hot(tok, V_m).float() @ big.weight)
print(f"\nmeasured, {T} tokens, table {V_m} x {H_m}: lookup {1e3 * (t1 - t0) / 5:.3f} ms, "
      f"one-hot matmul {1e3 * (t2 - t1) / 5:.3f} ms, equal: {same}")

# 4. The forward of the model: (b, s) ids -> (b, s, H) embeddings -> (b, s, H) hidden states
tiny = kimik2.KimiK2Config.tiny()
model = kimik2.DeepseekV3Model(tiny).eval()
x = torch.randint(0, tiny.vocab_size, (2, 7), generator=torch.Generator().manual_seed(2))
with torch.no_grad():
    emb = model.embed_tokens(x)
    h_ids, _ = model(input_ids=x)
    h_emb, _ = model(inputs_embeds=emb)
print("\n== DeepseekV3Model (tiny) ==")
print("input_ids", tuple(x.shape), x.dtype, "-> embed_tokens", tuple(emb.shape), emb.dtype,
      "-> hidden states", tuple(h_ids.shape))
print("forward(input_ids) == forward(inputs_embeds=embed_tokens(ids)):", torch.equal(h_ids, h_emb))
try:
    model(input_ids=torch.tensor([[tiny.vocab_size]]))
except IndexError as error:
    print("id == vocab_size ->", type(error).__name__ + ":", str(error).splitlines()[0])

# Figure: one-hot (4 x 8) times table (8 x 5) = the selected rows (4 x 5)
W = table.weight.detach()
fig, axes = plt.subplots(1, 3, figsize=(9.0, 3.0), dpi=110, gridspec_kw={"width_ratios": [8, 5, 5]})
lim = W.abs().max().item()
axes[0].imshow(one_hot, cmap="Greys", vmin=0, vmax=1)
axes[0].set_title("one_hot(ids, 8)  (4 × 8)")
axes[0].set_xlabel("token id (column)"); axes[0].set_ylabel("position")
axes[0].set_yticks(range(4), [f"{i}: id {t}" for i, t in enumerate(ids.tolist())])
axes[0].set_xticks(range(V))
axes[1].imshow(W, cmap="coolwarm", vmin=-lim, vmax=lim)
axes[1].set_title("× table.weight  (8 × 5)")
axes[1].set_xlabel("hidden dim"); axes[1].set_ylabel("token id (row)")
axes[1].set_yticks(range(V))
for r in sorted(set(ids.tolist())):
    axes[1].add_patch(plt.Rectangle((-0.5, r - 0.5), H, 1, fill=False, ec="black", lw=2))
axes[2].imshow(product.detach(), cmap="coolwarm", vmin=-lim, vmax=lim)
axes[2].set_title("= rows 5, 0, 2, 5  (4 × 5)")
axes[2].set_xlabel("hidden dim"); axes[2].set_yticks(range(4))
fig.suptitle("An embedding lookup is a one-hot matrix product: each 1 selects one row", fontsize=10)
fig.tight_layout()
fig.savefig(HERE / "one_hot_lookup.png")
print("\nwrote one_hot_lookup.png")
