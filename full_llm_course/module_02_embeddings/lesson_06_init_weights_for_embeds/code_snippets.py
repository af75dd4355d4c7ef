"""Lesson 06: normal(0, initializer_range) for the embedding, a zero padding row, and the meta device."""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import nn

import kimik2

HERE = Path(__file__).parent
torch.manual_seed(0)

# 1. nn.Embedding's own init vs the model's _init_weights
cfg = kimik2.KimiK2Config.tiny(vocab_size=16384, pad_token_id=3)
raw = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=3)
print("== before / after _init_weights ==")
print(f"nn.Embedding default init:  mean {raw.weight.mean().item():+.4f}  std {raw.weight.std().item():.4f}")
base = kimik2.KimiK2PreTrainedModel(cfg)
base._init_weights(raw)
w = raw.weight.detach()
print(f"after _init_weights:        mean {w.mean().item():+.5f}  std {w.std().item():.5f}"
      f"  (initializer_range = {cfg.initializer_range})")
print("padding row 3, first 4 values:", w[3, :4].tolist(), "| all zero:", bool((w[3] == 0).all()))
print("row 4, first 4 values:", [round(v, 4) for v in w[4, :4].tolist()])
frac = ((w.abs() <= 2 * 0.02).sum() / w.numel()).item()
print(f"fraction within 2 std: {frac:.4f} (normal: 0.9545)")

# 2. The whole model: init_weights() ran in DeepseekV3Model.__init__
model = kimik2.DeepseekV3Model(cfg)
e = model.embed_tokens.weight.detach()
print("\n== DeepseekV3Model(tiny, vocab 16384, pad 3) ==")
print(f"embed_tokens std {e.std().item():.5f}, padding row zero: {bool((e[3] == 0).all())}")

# 3. Same seed, same table: the init is deterministic
torch.manual_seed(42); a = kimik2.DeepseekV3Model(kimik2.KimiK2Config.tiny()).embed_tokens.weight
torch.manual_seed(42); b = kimik2.DeepseekV3Model(kimik2.KimiK2Config.tiny()).embed_tokens.weight
print("same seed -> identical table:", torch.equal(a, b))

# 4. What std 0.02 means at Kimi-K2's width
H = kimik2.KimiK2Config.kimi_k2().hidden_size
row = torch.randn(64, H) * 0.02
print(f"\n== at hidden {H} ==")
print(f"expected row norm 0.02 * sqrt({H}) = {0.02 * math.sqrt(H):.4f}; measured mean over 64 rows: "
      f"{row.norm(dim=1).mean().item():.4f}; RMS per entry: {row.pow(2).mean().sqrt().item():.4f}")

# 5. Meta device: shapes only, _init_weights returns before drawing
with torch.device("meta"):
    meta_model = kimik2.DeepseekV3Model(kimik2.KimiK2Config(num_hidden_layers=1))
m = meta_model.embed_tokens.weight
print("\n== meta device, Kimi-K2 sizes (1 layer) ==")
print("embed_tokens", tuple(m.shape), m.dtype, "is_meta", m.is_meta)
try:
    nn.init.normal_(torch.empty(2, 2, device="meta")).tolist()
except Exception as error:  # a meta tensor has no values to read
    print("reading a meta tensor ->", type(error).__name__ + ":", str(error).splitlines()[0][:80])

# Figure: histogram with the normal(0, 0.02) density
fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=110)
values = w.flatten()
ax.hist(values.numpy(), bins=120, range=(-0.1, 0.1), density=True, color="tab:blue", alpha=0.7,
        label=f"embed_tokens after _init_weights ({values.numel():,} values)")
xs = torch.linspace(-0.1, 0.1, 400)
pdf = torch.exp(-xs ** 2 / (2 * 0.02 ** 2)) / (0.02 * math.sqrt(2 * math.pi))
ax.plot(xs, pdf, color="black", lw=1.5, label="normal(0, 0.02) density")
ax.axvline(0.02, color="grey", ls=":", lw=1); ax.axvline(-0.02, color="grey", ls=":", lw=1)
ax.set_xlabel("weight value"); ax.set_ylabel("density")
ax.set_title(f"Initialised embedding table ({cfg.vocab_size} × {cfg.hidden_size}): "
             f"std {values.std().item():.4f}")
ax.legend(fontsize=8, loc="upper right")
fig.tight_layout()
fig.savefig(HERE / "init_histogram.png")
print("\nwrote init_histogram.png")
