"""Lesson 53: decoupled RoPE in the attention - rotary_emb built from the config, and
apply_decoupled_rope rotating every head's q_pe and the one shared k_pe.

Run: python code_snippets.py   (about 2 s; writes decoupled_rope.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import kimik2  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=110)
torch.set_grad_enabled(False)

# 1. The rotary embedding the attention builds, at Kimi-K2's config (no big weights needed: build it alone).
print("== 1. rotary_emb for Kimi-K2")
k2 = kimik2.KimiK2Config.kimi_k2()
rotary = kimik2.rope.build_rotary_embedding(k2)
print(f"{type(rotary).__name__}: dim {rotary.dim} (= qk_rope_head_dim), base {rotary.base}, "
      f"factor {rotary.scaling_factor}, original {rotary.original_max_position_embeddings}, "
      f"attention_scaling {rotary.attention_scaling}, table built so far: {rotary.max_seq_len_cached} rows")
cos, sin = rotary(torch.empty(0), seq_len=3001)
print(f"rotary(x, seq_len=3001) -> cos {tuple(cos.shape)}, sin {tuple(sin.shape)}; "
      f"table now {rotary.max_seq_len_cached} rows")

# 2. apply_decoupled_rope at the tiny config: a cached prefix of 6 tokens, 4 new ones.
print("\n== 2. apply_decoupled_rope (tiny: 4 heads, rope dim 16)")
config = kimik2.KimiK2Config.tiny()
torch.manual_seed(0)
attn = kimik2.DeepseekV3Attention(config)
g = torch.Generator().manual_seed(1)
q_pe = torch.randn(2, 4, 4, 16, generator=g)          # (b, heads, s, rope)
k_pe = torch.randn(2, 1, 4, 16, generator=g)          # (b, 1, s, rope): one rope key per token
past = 6
position_ids = torch.arange(past, past + 4)[None].expand(2, -1)
q_rot, k_rot = attn.apply_decoupled_rope(q_pe, k_pe, position_ids, past_length=past)
print(f"q_pe {tuple(q_pe.shape)}, k_pe {tuple(k_pe.shape)}, position_ids {position_ids[0].tolist()}, past_length {past}")
print(f"-> q_pe {tuple(q_rot.shape)}, k_pe {tuple(k_rot.shape)}; rotary table has {attn.rotary_emb.max_seq_len_cached} rows")
print("norms kept (a rotation):", torch.allclose(q_rot.norm(dim=-1), q_pe.norm(dim=-1), atol=1e-5),
      torch.allclose(k_rot.norm(dim=-1), k_pe.norm(dim=-1), atol=1e-5))

# 3. Relative positions: shifting every position by the same amount leaves the scores alone.
scores = q_rot @ k_rot.transpose(-1, -2)                                   # (2, 4, 4, 4): k_pe broadcast over heads
for shift in (11, 1000):
    q_s, k_s = attn.apply_decoupled_rope(q_pe, k_pe, position_ids + shift, past_length=past)
    print(f"positions + {shift:4d}: max |score change| = {(q_s @ k_s.transpose(-1, -2) - scores).abs().max():.1e}")

# 4. Explicit positions beyond past + s (e.g. a caller's own position_ids): the table must reach them.
fresh = kimik2.DeepseekV3Attention(config)
far = torch.tensor([[40, 41, 42, 43]])
fresh.apply_decoupled_rope(q_pe[:1], k_pe[:1], far, past_length=0)
print(f"\npositions {far[0].tolist()} with past_length 0: table has {fresh.rotary_emb.max_seq_len_cached} rows "
      f"(past + s alone would give 4)")
cos4, sin4 = fresh.rotary_emb(q_pe, seq_len=4)
try:
    kimik2.rope.apply_rotary_pos_emb(q_pe[:1], k_pe[:1], cos4, sin4, far)
except IndexError as error:
    print("with a 4-row table instead:", type(error).__name__, str(error).split("\n")[0])

# 5. Rotating one shared k_pe vs a copy per head: same result, 1/64 of the work and of the cache.
k_expanded = k_pe.expand(-1, 4, -1, -1)
_, k_each = attn.apply_decoupled_rope(q_pe, k_expanded, position_ids, past_length=past)
print("rotating 4 copies == broadcasting the one rotated k_pe:", torch.equal(k_each, k_rot.expand(-1, 4, -1, -1)))

# 6. bf16: cos and sin come back in q_pe's dtype.
q16, k16 = attn.apply_decoupled_rope(q_pe.bfloat16(), k_pe.bfloat16(), position_ids, past_length=past)
print(f"bf16 in -> {q16.dtype}, {k16.dtype}; max |bf16 - fp32| on q_pe {(q16.float() - q_rot).abs().max():.3f}")

# Figure: score of a fixed q_pe and a fixed k_pe placed at positions m and n, Kimi-K2's rope (64 dims).
rotary = kimik2.rope.build_rotary_embedding(k2)
q1 = torch.randn(1, 1, 1, 64, generator=torch.Generator().manual_seed(2))
k1 = torch.randn(1, 1, 1, 64, generator=torch.Generator().manual_seed(3))
n_pos = 96
cos, sin = rotary(q1, seq_len=n_pos)
pos = torch.arange(n_pos)[None]
q_all, k_all = kimik2.rope.apply_rotary_pos_emb(q1.expand(1, 1, n_pos, 64), k1.expand(1, 1, n_pos, 64), cos, sin, pos)
grid = (q_all @ k_all.transpose(-1, -2))[0, 0]                           # (m, n)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
im = ax1.imshow(grid.numpy(), cmap="coolwarm", origin="lower")
ax1.set_xlabel("key position n")
ax1.set_ylabel("query position m")
ax1.set_title("q_pe . k_pe for fixed vectors placed at m, n\n(constant along diagonals: depends on m - n only)")
fig.colorbar(im, ax=ax1, shrink=0.8)
ax2.plot(torch.arange(n_pos).numpy(), grid[n_pos - 1].flip(0).numpy(), label="query at 95")
ax2.plot(torch.arange(60).numpy(), grid[59, :60].flip(0).numpy(), "--", label="query at 59")
ax2.set_xlabel("distance m - n")
ax2.set_ylabel("score")
ax2.set_title("The same curve from any query position")
ax2.legend()
fig.suptitle("Kimi-K2's decoupled RoPE (64 dims, theta 50000, YaRN factor 32)", fontsize=11)
fig.tight_layout()
fig.savefig(HERE / "decoupled_rope.png", dpi=110)
plt.close(fig)
print("\nwrote decoupled_rope.png")
