"""Lesson 52: the key/value path of MLA - kv_a_proj_with_mqa -> [c_KV | k_pe], kv_a_layernorm on
c_KV only, kv_b_proj -> per head [k_nope | value].

Run: python code_snippets.py   (about 2 s; writes kv_path.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import kimik2  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=110)
torch.set_grad_enabled(False)  # only forward passes here: cleaner printing

# 1. Shapes at Kimi-K2's size, on the meta device.
print("== 1. Kimi-K2 shapes (meta device)")
with torch.device("meta"):
    big = kimik2.DeepseekV3Attention(kimik2.KimiK2Config.kimi_k2())
    x = torch.empty(2, 5, 7168)
    both = big.kv_a_proj_with_mqa(x)
    latent, k_pe = big.project_latent(x)
    k_nope, value = big.expand_latent(latent)
print(f"hidden {tuple(x.shape)} -> kv_a_proj_with_mqa {tuple(both.shape)} -> c_KV {tuple(latent.shape)}, "
      f"k_pe {tuple(k_pe.shape)}")
print(f"expand_latent: kv_b_proj {tuple(big.kv_b_proj(latent).shape)} -> k_nope {tuple(k_nope.shape)}, "
      f"value {tuple(value.shape)}")
print("kv_a_layernorm:", big.kv_a_layernorm)

# 2. The tiny config with numbers: only the latent is normalised.
print("\n== 2. tiny config (hidden 64, 4 heads, kv_lora_rank 32, rope 16, nope 16, v 16)")
config = kimik2.KimiK2Config.tiny()
torch.manual_seed(0)
attn = kimik2.DeepseekV3Attention(config)
for name, p in attn.named_parameters():
    if name.startswith("kv_"):
        print(f"{name:28s} {tuple(p.shape)}")
h = torch.randn(1, 200, 64, generator=torch.Generator().manual_seed(1))
latent, k_pe = attn.project_latent(h)
raw = attn.kv_a_proj_with_mqa(h)
print(f"project_latent: {tuple(h.shape)} -> c_KV {tuple(latent.shape)}, k_pe {tuple(k_pe.shape)}")
rms = lambda t: t.pow(2).mean(-1).sqrt()  # noqa: E731  per-token RMS
print(f"per-token RMS, first 4 tokens: c_KV {rms(latent)[0, :4]}, k_pe {rms(k_pe)[0, 0, :4]}")
print("k_pe is the raw slice of kv_a_proj_with_mqa's output:",
      torch.equal(k_pe[:, 0], raw[..., config.kv_lora_rank:]))
print("c_KV is kv_a_layernorm of the first 32 outputs:   ",
      torch.equal(latent, attn.kv_a_layernorm(raw[..., :config.kv_lora_rank])))

# 3. expand_latent and the per-head layout [k_nope | value].
print("\n== 3. expand_latent")
k_nope, value = attn.expand_latent(latent)
print(f"expand_latent: c_KV {tuple(latent.shape)} -> k_nope {tuple(k_nope.shape)}, value {tuple(value.shape)}")
w = attn.kv_b_proj.weight.view(4, 16 + 16, 32)                          # (heads, nope + v, kv_lora_rank)
w_uk, w_uv = w.split([16, 16], dim=1)
print("k_nope[:, 1] == c_KV @ W_UK[1]^T:", torch.allclose(k_nope[:, 1], latent @ w_uk[1].T, atol=1e-6),
      "| value[:, 1] == c_KV @ W_UV[1]^T:", torch.allclose(value[:, 1], latent @ w_uv[1].T, atol=1e-6))
flat = attn.kv_b_proj(latent)                                           # (1, 200, 128)
keys_first = flat[..., :64].view(1, 200, 4, 16).transpose(1, 2)         # wrong: [all keys | all values]
print(f"reading [all keys | all values] instead: max |diff| on k_nope = {(keys_first - k_nope).abs().max():.2f}")
print("k_nope contiguous:", k_nope.is_contiguous(), "| stride", k_nope.stride())

# 4. What gets cached, and what it would cost to expand it for every cached token.
k2 = kimik2.KimiK2Config.kimi_k2()
print(f"\nKimi-K2 per token and layer: latent + k_pe = {k2.kv_lora_rank + k2.qk_rope_head_dim} values; "
      f"k_nope + value for 64 heads = {64 * (k2.qk_nope_head_dim + k2.v_head_dim)} values "
      f"({64 * (k2.qk_head_dim + k2.v_head_dim)} with k_pe copied into every head); "
      f"kv_b_proj multiply-adds to rebuild them: {k2.kv_lora_rank * 64 * 256:,}")

# Figure: output layouts (left) and per-token RMS of the latent vs k_pe (right).
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 3.8), gridspec_kw={"width_ratios": [1.35, 1]})
ax1.barh(1, 512, color="tab:blue", edgecolor="white")
ax1.barh(1, 64, left=512, color="tab:purple", edgecolor="white")
ax1.text(256, 1, "c_KV 512 -> kv_a_layernorm", ha="center", va="center", color="white", fontsize=8)
ax1.text(544, 1, "k_pe\n64", ha="center", va="center", color="white", fontsize=7)
for head in range(3):
    ax1.barh(0, 128, left=head * 256, color="tab:red", edgecolor="white")
    ax1.barh(0, 128, left=head * 256 + 128, color="tab:green", edgecolor="white")
    ax1.text(head * 256 + 64, 0, f"head {head}\nk_nope 128", ha="center", va="center", color="white", fontsize=7)
    ax1.text(head * 256 + 192, 0, f"head {head}\nvalue 128", ha="center", va="center", color="white", fontsize=7)
ax1.text(770, 0, "...", va="center")
ax1.set_yticks([0, 1], ["kv_b_proj\n(first 3 of 64 heads)", "kv_a_proj_with_mqa\n(576)"])
ax1.set_xlim(0, 800)
ax1.set_xlabel("output column")
ax1.set_title("Output layouts of the two kv projections")
ax2.plot(rms(latent)[0].numpy(), ".", ms=4, label="c_KV after kv_a_layernorm (weight = 1)")
ax2.plot(rms(k_pe)[0, 0].numpy(), ".", ms=4, label="k_pe (never normalised)")
ax2.set_ylim(0, 1.3)
ax2.set_xlabel("token (tiny model, random hidden states)")
ax2.set_ylabel("per-token RMS")
ax2.set_title("Only the latent is normalised")
ax2.legend(fontsize=8, loc="lower right")
fig.tight_layout()
fig.savefig(HERE / "kv_path.png", dpi=110)
plt.close(fig)
print("\nwrote kv_path.png")
