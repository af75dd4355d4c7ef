"""Lesson 56: the additive causal mask, padding, and why its minimum is finite.

Run: python code_snippets.py   (a few seconds; writes causal_mask.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM  # noqa: E402
from kimik2.attention import causal_mask  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, linewidth=110)
MIN = torch.finfo(torch.float32).min


def show(mask):
    """Print a (q, kv) mask as 0 / 'min'."""
    for row in mask:
        print("   ", " ".join("  0" if v == 0 else "min" for v in row.tolist()))


# 1. The three cases.
print("1. causal_mask(attention_mask, query_length, past_length, dtype, device)")
print("  no padding, nothing cached:", causal_mask(None, 4, 0, torch.float32, "cpu"))
padding = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])
mask = causal_mask(padding, 4, 0, torch.float32, "cpu")
print(f"  padding {padding.tolist()}: shape {tuple(mask.shape)}, dtype {mask.dtype}, min value {mask.min().item():.4e}")
print("  row 0 (no padding):")
show(mask[0, 0])
print("  row 1 (2 pads on the left):")
show(mask[1, 0])
mask = causal_mask(None, 2, 3, torch.float32, "cpu")
print(f"  no padding, 3 cached, 2 new: shape {tuple(mask.shape)}")
show(mask[0, 0])
print(f"  bfloat16 mask minimum: {causal_mask(padding, 4, 0, torch.bfloat16, 'cpu').min().item():.4e}")

# 2. A fully masked row: the finite minimum gives a uniform softmax, -inf gives NaN.
print("\n2. softmax of a row where every key is masked")
scores = torch.tensor([0.3, -1.2, 2.5, 0.8])
print("  scores + finfo.min :", scores + MIN, "->", torch.softmax(scores + MIN, -1))
print("  scores + (-inf)    :", scores + float("-inf"), "->", torch.softmax(scores + float("-inf"), -1))
print(f"  why: min + 2.5 == min? {(torch.tensor(MIN) + 2.5).item() == MIN}; spacing of floats near min: "
      f"{(torch.tensor(MIN).abs() - torch.nextafter(torch.tensor(MIN).abs(), torch.tensor(0.0))).item():.3e}")
g0 = torch.Generator().manual_seed(3)
q0, k0, v0 = torch.randn(1, 1, 1, 8, generator=g0), torch.randn(1, 1, 4, 8, generator=g0), torch.randn(1, 1, 4, 3, generator=g0)
for name, fill in (("finfo.min", MIN), ("-inf", float("-inf"))):
    row = torch.full((1, 1, 1, 4), fill)
    print(f"  SDPA (torch {torch.__version__.split('+')[0]}) with a {name:9s} row:",
          F.scaled_dot_product_attention(q0, k0, v0, attn_mask=row).flatten(), "| mean of v:", v0.mean(2).flatten())
print(f"  min + min in float32: {(torch.tensor(MIN) + torch.tensor(MIN)).item()}  (add the mask once, not twice)")

# 3. What a NaN in a padding row does to the real tokens one layer later.
print("\n3. a left-padded batch through a 4-layer tiny model (eager attention)")
torch.manual_seed(0)
model = KimiK2ForCausalLM(KimiK2Config.tiny()).eval()
model.set_attn_implementation("eager")
ids = torch.randint(0, 512, (2, 6), generator=torch.Generator().manual_seed(1))
attention_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]])
position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)


def run(mask):
    hidden = model.model.embed_tokens(ids)
    for layer in model.model.layers:
        hidden = layer(hidden, mask, position_ids, None)
    return model.lm_head(model.model.norm(hidden))


with torch.no_grad():
    good = causal_mask(attention_mask, 6, 0, torch.float32, "cpu")
    bad = torch.where(good == 0, 0.0, float("-inf"))
    logits_good, logits_bad = run(good), run(bad)
    logits_model = model(ids, attention_mask=attention_mask, position_ids=position_ids).logits
print(f"  finfo.min mask: NaN anywhere? {logits_good.isnan().any().item()}; equals model(...)? "
      f"{torch.allclose(logits_good, logits_model, atol=1e-6)}")
print(f"  -inf mask: NaN in row 1 at positions {logits_bad[1].isnan().any(-1).nonzero().flatten().tolist()} "
      f"(real tokens are 2..5)")
print(f"  row 0 (no padding): NaN? {logits_bad[0].isnan().any().item()}, max |diff| vs the finfo.min run "
      f"{(logits_good[0] - logits_bad[0]).abs().max().item():.1e}")

# 4. A mask of the wrong length.
print("\n4. a mask that does not cover cache + input")
try:
    causal_mask(torch.ones(1, 5), 1, 5, torch.float32, "cpu")
except ValueError as error:
    print("  ValueError:", error)

# 5. Why a cache needs a real mask: SDPA's is_causal is aligned top-left.
print("\n5. one new query after 5 cached keys")
g = torch.Generator().manual_seed(2)
q, k, v = torch.randn(1, 1, 1, 8, generator=g), torch.randn(1, 1, 6, 8, generator=g), torch.randn(1, 1, 6, 3, generator=g)
p_causal = torch.softmax(q @ k.transpose(-1, -2) + torch.full((1, 6), MIN).triu(1), -1)   # top-left triangle
print("  is_causal=True gives weights like   ", p_causal.flatten(), "(only key 0)")
print("  SDPA is_causal output equals v[0]?  ",
      torch.allclose(F.scaled_dot_product_attention(q, k, v, is_causal=True), v[:, :, :1]))
m = causal_mask(None, 1, 5, torch.float32, "cpu")
print("  causal_mask(None, 1, 5):", m.flatten().tolist(), "-> all 6 keys visible")

# Figure: the masks of a left-padded batch during prefill and during decoding.
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
pad = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]])
panels = [(causal_mask(pad, 6, 0, torch.float32, "cpu")[0, 0], "row 0: prefill 6 tokens"),
          (causal_mask(pad, 6, 0, torch.float32, "cpu")[1, 0], "row 1: 2 left pads, prefill"),
          (causal_mask(torch.cat([pad, torch.ones(2, 2, dtype=torch.long)], 1), 2, 6, torch.float32, "cpu")[1, 0],
           "row 1: decode 2 more (6 cached)")]
for ax, (m, title) in zip(axes, panels):
    ax.imshow((m == 0).float().numpy(), cmap="Greens", vmin=0, vmax=1.3)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, "0" if m[i, j] == 0 else "min", ha="center", va="center", fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("key position")
    ax.set_ylabel("query row")
fig.suptitle("Additive mask: 0 = may attend (green), min = finfo(float32).min", fontsize=11)
fig.tight_layout()
fig.savefig(HERE / "causal_mask.png", dpi=110)
print("wrote causal_mask.png")
