"""Lesson 03: the token-embedding table, padding_idx, and what the table costs at Kimi-K2's size."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import nn

import kimik2

HERE = Path(__file__).parent
torch.manual_seed(0)

# 1. The table at Kimi-K2's size, on the meta device (shapes, no memory)
cfg = kimik2.KimiK2Config.kimi_k2()
with torch.device("meta"):
    model = kimik2.DeepseekV3Model(kimik2.KimiK2Config(num_hidden_layers=1))
emb = model.embed_tokens
print("== Kimi-K2 embed_tokens (meta device) ==")
print(emb, "| weight", tuple(emb.weight.shape), "| is_meta", emb.weight.is_meta)
print("config.pad_token_id =", cfg.pad_token_id, "-> padding_idx =", model.padding_idx)
n = cfg.vocab_size * cfg.hidden_size
print(f"parameters per table: {cfg.vocab_size} x {cfg.hidden_size} = {n:,}")
print(f"bf16 bytes per table: {2 * n:,} = {2 * n / 1e9:.2f} GB = {2 * n / 2**30:.2f} GiB")
print("tie_word_embeddings =", cfg.tie_word_embeddings)
untied = kimik2.count_parameters(cfg)["total"]
tied = kimik2.count_parameters(kimik2.KimiK2Config(tie_word_embeddings=True))["total"]
print(f"total parameters, untied (as shipped): {untied:,}")
print(f"total parameters, if tied:             {tied:,}  (saves {untied - tied:,})")

# 2. A tiny table with a padding row: forward and gradient
print("\n== tiny table, padding_idx = 0 ==")
table = nn.Embedding(6, 4, padding_idx=0)
print("row 0 at construction:", table.weight[0].tolist())
ids = torch.tensor([[3, 1, 0, 0], [2, 5, 3, 0]])  # 0 = padding
out = table(ids)
print("ids:", ids.tolist())
print("out shape:", tuple(out.shape), "| out[0, 2] (a pad position):", out[0, 2].tolist())
probe = torch.randn(2, 4, 4)           # a fixed random "upstream gradient"
loss = (out * probe).sum()             # d loss / d out = probe, at every position
loss.backward()
grad_norm = table.weight.grad.norm(dim=1)
print("gradient norm per row:", [round(v, 4) for v in grad_norm.tolist()])

# the same table without padding_idx: the pad row gets a gradient
plain = nn.Embedding(6, 4)
with torch.no_grad():
    plain.weight.copy_(table.weight)
(plain(ids) * probe).sum().backward()
plain_norm = plain.weight.grad.norm(dim=1)
print("without padding_idx:  ", [round(v, 4) for v in plain_norm.tolist()])

# padding_idx fixes the gradient, not the value: if you write into the row, the lookup returns it
with torch.no_grad():
    table.weight[0] = 1.0
print("after writing 1.0 into row 0, table(0) =", table(torch.tensor([0])).tolist())

fig, ax = plt.subplots(figsize=(6.4, 3.0), dpi=110)
x = torch.arange(6)
ax.bar(x - 0.2, plain_norm, width=0.4, label="nn.Embedding(6, 4)")
ax.bar(x + 0.2, grad_norm, width=0.4, label="nn.Embedding(6, 4, padding_idx=0)")
ax.set_xticks(x, [f"row {i}" + (" (pad)" if i == 0 else "") for i in range(6)])
ax.set_ylabel("‖∂loss/∂row‖")
ax.set_title("Gradient per table row after one backward\n(row 0 = pad, used at 3 positions; row 4 never used)", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "padding_grad.png")
print("\nwrote padding_grad.png")
