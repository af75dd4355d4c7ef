"""Lesson 50: MLA theory - the paper's matrices in the checkpoint's tensors, why W^UK can be
absorbed into the query, and why RoPE has to be decoupled for that to survive.

Run: python code_snippets.py   (about 3 s; writes mla_data_flow.png and absorption_error.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

import kimik2  # noqa: E402
from kimik2.size import attention_parameters  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=110)

# 1. One Kimi-K2 attention layer on the meta device: shapes, no memory.
print("== 1. one Kimi-K2 attention layer (meta device)")
config = kimik2.KimiK2Config.kimi_k2()
with torch.device("meta"):
    attn = kimik2.DeepseekV3Attention(config, layer_idx=1)
for name, p in attn.named_parameters():
    print(f"{name:28s} {str(tuple(p.shape)):15s} {p.numel():>12,d}")
heads, nope, rope_dim, v_dim = (config.num_attention_heads, config.qk_nope_head_dim, config.qk_rope_head_dim,
                                config.v_head_dim)
r_kv, r_q = config.kv_lora_rank, config.q_lora_rank

print("\n== 2. the paper's matrices inside those tensors")
w_dkv, w_kr = attn.kv_a_proj_with_mqa.weight.split([r_kv, rope_dim], dim=0)
kv_b = attn.kv_b_proj.weight.view(heads, nope + v_dim, r_kv)
w_uk, w_uv = kv_b.split([nope, v_dim], dim=1)
q_b = attn.q_b_proj.weight.view(heads, nope + rope_dim, r_q)
w_uq, w_qr = q_b.split([nope, rope_dim], dim=1)
symbols = [("W^DKV", "kv_a_proj_with_mqa.weight[:512]", w_dkv), ("W^KR", "kv_a_proj_with_mqa.weight[512:]", w_kr),
           ("W^UK", "kv_b_proj.weight.view(64, 256, 512)[:, :128]", w_uk),
           ("W^UV", "kv_b_proj.weight.view(64, 256, 512)[:, 128:]", w_uv),
           ("W^DQ", "q_a_proj.weight", attn.q_a_proj.weight),
           ("W^UQ", "q_b_proj.weight.view(64, 192, 1536)[:, :128]", w_uq),
           ("W^QR", "q_b_proj.weight.view(64, 192, 1536)[:, 128:]", w_qr),
           ("W^O", "o_proj.weight", attn.o_proj.weight)]
for symbol, where, tensor in symbols:
    print(f"{symbol:6s} = {where:46s} {tuple(tensor.shape)}")

hidden, qk = config.hidden_size, nope + rope_dim
q_path = hidden * r_q + r_q + r_q * heads * qk
mha_like = hidden * heads * qk * 2 + hidden * heads * v_dim * 2      # q, k, v, o projections
print(f"\nattention_parameters(kimi_k2) = {attention_parameters(config):,} per layer")
print(f"query path: q_a_proj + q_a_layernorm + q_b_proj = {q_path:,}; one full q_proj would be "
      f"{hidden * heads * qk:,}")
print(f"an MHA layer with the same head sizes (q, k: 192 per head, v: 128, o_proj): "
      f"{mha_like:,}")


# 3. Absorption: with the latent cached, W^UK folds into the query ... unless the keys get rotated.
def rope(x, positions, base=50000.0):
    """Rotate consecutive pairs (x0, x1), (x2, x3), ... of x (..., n, d) by position * base^(-2i/d)."""
    d = x.shape[-1]
    inv_freq = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = positions.double()[:, None] * inv_freq                     # (n, d/2)
    pairs = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(pairs * torch.polar(torch.ones_like(angles), angles)).flatten(-2).to(x.dtype)


print("\n== 3. absorbing W^UK into the query (one head, Kimi-K2 sizes, query at position 100)")
g = torch.Generator().manual_seed(0)
W_uk = torch.randn(nope, r_kv, generator=g) / r_kv ** 0.5       # one head's (128, 512) slice
latents = torch.randn(101, r_kv, generator=g)                    # c_KV of positions 0 .. 100 (cached)
k_rot = torch.randn(101, rope_dim, generator=g)                      # W^KR h_j of positions 0 .. 100
q_nope = torch.randn(nope, generator=g)                          # the query's nope part
q_rot = torch.randn(rope_dim, generator=g)                           # W^QR c^Q of the query
t, positions = 100, torch.arange(101)

keys = latents @ W_uk.T                                          # (101, 128): expanded keys k^C_j = W^UK c_j
q_absorbed = W_uk.T @ q_nope                                     # (512,): one vector per query, per head
print(f"q_absorbed = W_uk^T q_nope: {tuple(q_absorbed.shape)}; scores against the latent cache "
      f"(101, 512) -> {tuple((latents @ q_absorbed).shape)}")
no_rope = (keys @ q_nope, latents @ q_absorbed)
print(f"no RoPE:              max |expanded - absorbed| = {(no_rope[0] - no_rope[1]).abs().max():.1e}")

# RoPE applied to the 128 dims that come out of the latent: k_j = R_j W^UK c_j, q_t = R_t q.
coupled_true = rope(keys, positions) @ rope(q_nope[None], torch.tensor([t]))[0]
coupled_absorbed = latents @ (W_uk.T @ q_nope)   # the only W^UK-fold that does not depend on j
err_coupled = (coupled_true - coupled_absorbed).abs()
print("RoPE on k^C = W^UK c:  |expanded - absorbed| at offsets t - j = 0, 1, 5, 50, 100:",
      [f"{err_coupled[t - o]:.2f}" for o in (0, 1, 5, 50, 100)], f"(scores have std {coupled_true.std():.2f})")
# What would have to be folded instead: W_uk^T R_{j-t}^T q, a different (512,) vector for every key j.
needed = torch.stack([W_uk.T @ rope(q_nope[None], torch.tensor([t - j]))[0] for j in (100, 99, 50)])
print("the query-side vector the fold would need for keys j = 100, 99, 50 (first 4 of 512 values):")
print(needed[:, :4])

# Decoupled: nope part absorbed through the latent, rope part from a separate k_pe rotated once and cached.
k_pe = rope(k_rot, positions)                                   # cached, (101, 64), shared by all heads
q_pe = rope(q_rot[None], torch.tensor([t]))[0]
decoupled_true = torch.cat([keys, k_pe], -1) @ torch.cat([q_nope, q_pe])      # [k_nope | k_pe] . [q_nope | q_pe]
decoupled_absorbed = latents @ q_absorbed + k_pe @ q_pe                       # cache: 512 + 64 per token
err_decoupled = (decoupled_true - decoupled_absorbed).abs()
print(f"decoupled RoPE:       max |expanded - absorbed| = {err_decoupled.max():.1e} over all 101 keys")
rel_pos = rope(q_rot[None], torch.tensor([t + 7]))[0] @ rope(k_rot, positions + 7).T
print(f"decoupled scores after shifting every position by 7: max change {(rel_pos - k_pe @ q_pe).abs().max():.1e}")

# Figure 1: absorption error against the distance between query and key.
offsets = torch.arange(0, 101)
fig, ax = plt.subplots(figsize=(8, 3.8))
scale = coupled_true.std()
ax.semilogy(offsets, (err_coupled.flip(0) / scale).clamp_min(1e-9), label="RoPE on keys from the latent: fold fails")
ax.semilogy(offsets, (err_decoupled.flip(0) / scale).clamp_min(1e-9), label="decoupled RoPE (k_pe): fold exact up to rounding")
ax.set_xlabel("distance t - j between the query and the cached key")
ax.set_ylabel("|expanded - absorbed| / std(scores)")
ax.set_title("Folding W^UK into the query: one head, Kimi-K2 sizes, float32")
ax.set_ylim(1e-9, 10)
ax.legend(loc="center right")
fig.tight_layout()
fig.savefig(HERE / "absorption_error.png", dpi=110)
plt.close(fig)


# Figure 2: the data flow of one MLA layer, tensor names and Kimi-K2 sizes.
def box(ax, x, y, text, color, w=1.9, h=0.62):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.03", fc=color, ec="black", lw=0.7))
    ax.text(x, y, text, ha="center", va="center", fontsize=7.5)


def arrow(ax, a, b):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=9, lw=0.8, color="black",
                                 shrinkA=0, shrinkB=0))


fig, ax = plt.subplots(figsize=(14, 5.2))
ax.set_xlim(-0.2, 16.7)
ax.set_ylim(-0.3, 5.6)
ax.axis("off")
proj, norm, data, cached = "#cfe2f3", "#fff2cc", "#eeeeee", "#c9e7c3"
box(ax, 0.9, 2.6, "h_t\n(b, s, 7168)", data, w=1.4)
# query path
box(ax, 3.0, 4.6, "q_a_proj  W^DQ\n7168 -> 1536", proj)
box(ax, 5.2, 4.6, "q_a_layernorm\nRMSNorm(1536), eps 1e-6", norm, w=2.1)
box(ax, 7.5, 4.6, "q_b_proj  W^UQ, W^QR\n1536 -> 64 x 192", proj, w=2.1)
box(ax, 9.9, 5.1, "q_nope (b, 64, s, 128)", data, w=2.2, h=0.5)
box(ax, 9.9, 4.3, "q_pe (b, 64, s, 64)", data, w=2.2, h=0.5)
box(ax, 11.8, 4.3, "RoPE", norm, w=0.9, h=0.5)
arrow(ax, (1.6, 2.8), (2.05, 4.4))
arrow(ax, (3.95, 4.6), (4.15, 4.6))
arrow(ax, (6.25, 4.6), (6.45, 4.6))
arrow(ax, (8.55, 4.75), (8.8, 5.05))
arrow(ax, (8.55, 4.45), (8.8, 4.3))
arrow(ax, (11.0, 4.3), (11.35, 4.3))
# kv path
box(ax, 3.0, 1.2, "kv_a_proj_with_mqa\nW^DKV, W^KR: 7168 -> 512 + 64", proj, w=2.3)
box(ax, 5.6, 1.9, "c_KV (b, s, 512)", data, w=1.8, h=0.5)
box(ax, 5.6, 0.5, "k_pe (b, 1, s, 64)", data, w=1.8, h=0.5)
box(ax, 7.7, 1.9, "kv_a_layernorm\nRMSNorm(512), eps 1e-6", norm, w=1.8)
box(ax, 7.7, 0.5, "RoPE", norm, w=0.9, h=0.5)
box(ax, 9.85, 1.9, "kv_b_proj  W^UK, W^UV\n512 -> 64 x (128 + 128)", proj, w=2.0)
box(ax, 12.0, 2.5, "k_nope (b, 64, s, 128)", data, w=2.0, h=0.5)
box(ax, 12.0, 1.3, "value (b, 64, s, 128)", data, w=2.0, h=0.5)
arrow(ax, (1.6, 2.4), (1.85, 1.45))
arrow(ax, (4.15, 1.4), (4.7, 1.85))
arrow(ax, (4.15, 1.0), (4.7, 0.55))
arrow(ax, (6.5, 1.9), (6.8, 1.9))
arrow(ax, (6.5, 0.5), (7.25, 0.5))
arrow(ax, (8.6, 1.9), (8.85, 1.9))
arrow(ax, (10.85, 2.05), (11.0, 2.45))
arrow(ax, (10.85, 1.75), (11.0, 1.35))
ax.plot([8.15, 14.5], [0.5, 0.5], color="black", lw=0.8)
ax.text(11.4, 0.62, "k_pe: one rope key per token, broadcast to all 64 heads", ha="center", fontsize=7.5)
# the cache and the attention
ax.add_patch(plt.Rectangle((6.7, 0.05), 2.0, 2.35, fill=False, ec="tab:green", ls="--", lw=1.3))
ax.text(7.7, 2.65, "latent cache: the outputs of these,\n512 + 64 values per token", ha="center", fontsize=7.5,
        color="tab:green")
box(ax, 13.9, 3.4, "attention\nsoftmax(q k^T scale) v\nq, k: 192 = 128 + 64\nv: 128", cached, w=1.8, h=1.1)
box(ax, 15.85, 3.4, "o_proj  W^O\n8192 -> 7168", proj, w=1.5)
arrow(ax, (11.0, 5.1), (13.3, 3.95))
arrow(ax, (12.25, 4.3), (13.6, 3.95))
arrow(ax, (13.0, 2.5), (13.4, 2.85))
arrow(ax, (13.0, 1.3), (13.9, 2.85))
arrow(ax, (14.5, 0.5), (14.5, 2.85))
arrow(ax, (14.8, 3.4), (15.1, 3.4))
ax.set_title("One MLA layer of Kimi-K2: checkpoint tensor names, paper symbols, sizes", fontsize=11)
fig.tight_layout()
fig.savefig(HERE / "mla_data_flow.png", dpi=110)
plt.close(fig)
print("\nwrote absorption_error.png and mla_data_flow.png")
