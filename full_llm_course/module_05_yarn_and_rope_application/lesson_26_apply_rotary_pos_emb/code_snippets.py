"""Lesson 26: apply_rotary_pos_emb with DeepSeek's de-interleave, proved equal to complex rotation of
the checkpoint's interleaved pairs, and what breaks without the permutation.

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes skip_permutation.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import kimik2
import kimik2.attention
from kimik2.rope import DeepseekV3RotaryEmbedding, apply_rotary_pos_emb, deinterleave, rotate_half

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=110)

# 1. The permutation.
x = torch.arange(8.0)
print("x              :", x)
print("deinterleave(x):", deinterleave(x), " <- [evens | odds]")
perm = deinterleave(torch.arange(64)).tolist()
print("64 dims: new position -> old dim:", perm[:4], "...", perm[30:34], "...", perm[-2:])


# 2. Reference semantics: the checkpoint's pairs (x_2p, x_2p+1) as complex numbers, as in
#    DeepSeek-V3's inference/model.py (view_as_complex), turned by e^{i m theta_p}.
def complex_interleaved(x, positions, inv_freq):
    """x (..., s, d) interleaved; returns the rotated vector, still interleaved."""
    z = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))           # (..., s, d/2)
    z = z * torch.polar(torch.ones_like(inv_freq), positions[:, None] * inv_freq)  # (s, d/2) angles
    return torch.view_as_real(z).flatten(-2)


g = torch.Generator().manual_seed(0)
b, h, s, d = 2, 64, 6, 64                                   # Kimi-K2: 64 heads, 64 rope dims
rope = DeepseekV3RotaryEmbedding(d, base=50000.0)
cos, sin = rope(torch.zeros(1), seq_len=32)                  # (32, 64) tables
q = torch.randn(b, h, s, d, generator=g)                     # q_pe as the checkpoint produces it
k = torch.randn(b, 1, s, d, generator=g)                     # k_pe: one per token, shared by the heads
position_ids = torch.tensor([[0, 1, 2, 3, 4, 5], [10, 11, 12, 13, 14, 15]])
q_emb, k_emb = apply_rotary_pos_emb(q, k, cos, sin, position_ids)
print("shapes: q", tuple(q.shape), "k", tuple(k.shape), "cos table", tuple(cos.shape),
      "-> cos[position_ids].unsqueeze(1)", tuple(cos[position_ids].unsqueeze(1).shape),
      "-> q_embed", tuple(q_emb.shape), "k_embed", tuple(k_emb.shape))
err_q = max((q_emb[i] - deinterleave(complex_interleaved(q[i], position_ids[i].float(), rope.inv_freq))).abs().max()
            for i in range(b)).item()
err_k = max((k_emb[i] - deinterleave(complex_interleaved(k[i], position_ids[i].float(), rope.inv_freq))).abs().max()
            for i in range(b)).item()
print(f"apply_rotary_pos_emb == deinterleave(complex rotation of interleaved pairs): max err q {err_q:.1e}, k {err_k:.1e}")
scores_hf = q_emb @ k_emb.transpose(-1, -2)                                          # (b, h, s, s)
scores_complex = torch.stack([complex_interleaved(q[i], position_ids[i].float(), rope.inv_freq)
                              @ complex_interleaved(k[i], position_ids[i].float(), rope.inv_freq).transpose(-1, -2)
                              for i in range(b)])
print(f"q.k scores, permuted layout vs interleaved layout: max diff {(scores_hf - scores_complex).abs().max():.1e}")
print("output stays permuted: q_embed equals the interleaved result in interleaved order?",
      torch.allclose(q_emb[0], complex_interleaved(q[0], position_ids[0].float(), rope.inv_freq), atol=1e-5))

# Left padding: position ids start later; a row is the same wherever it sits in the batch.
pad_ids = torch.tensor([[0, 0, 0, 1, 2, 3]])     # 3 pads, then tokens at positions 1..3 (cumsum(mask) - 1 style)
row_a, _ = apply_rotary_pos_emb(q[:1], k[:1], cos, sin, pad_ids)
row_b, _ = apply_rotary_pos_emb(q[:1, :, 3:], k[:1, :, 3:], cos, sin, torch.tensor([[1, 2, 3]]))
print("left-padded row, last 3 tokens == the same 3 tokens unpadded:", torch.allclose(row_a[..., 3:, :], row_b))


# 3. What breaks if the permutation is skipped: the Llama-style version on raw interleaved dims.
def apply_without_deinterleave(q, k, cos, sin, position_ids, unsqueeze_dim=1):
    cos = cos[position_ids].unsqueeze(unsqueeze_dim)
    sin = sin[position_ids].unsqueeze(unsqueeze_dim)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


torch.manual_seed(0)
config = kimik2.KimiK2Config.tiny()
model = kimik2.KimiK2ForCausalLM(config).eval()
ids = torch.randint(0, config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    right = model(ids).logits
    kimik2.attention.apply_rotary_pos_emb = apply_without_deinterleave     # monkeypatch the attention module
    try:
        wrong = model(ids).logits
        wrong_first = model(ids[:, :1]).logits
    finally:
        kimik2.attention.apply_rotary_pos_emb = apply_rotary_pos_emb
    right_first = model(ids[:, :1]).logits
print(f"tiny model, 24 tokens: max |logit difference| without the permutation {(right - wrong).abs().max():.4f} "
      f"(logits have std {right.std():.4f}); argmax agrees on {(right.argmax(-1) == wrong.argmax(-1)).float().mean():.0%} of positions")
print(f"  per position, max diff: {[round(v, 3) for v in (right - wrong).abs().amax((0, 2))[:6].tolist()]} ...")
print(f"  one token at position 0: max diff {(right_first - wrong_first).abs().max():.1e}  (cos = 1, sin = 0: the bug hides)")

# The same experiment with larger random weights (std 0.2 instead of 0.02): sharper attention.
torch.manual_seed(0)
sharp = kimik2.KimiK2ForCausalLM(kimik2.KimiK2Config.tiny(initializer_range=0.2)).eval()
with torch.no_grad():
    right_s = sharp(ids).logits
    kimik2.attention.apply_rotary_pos_emb = apply_without_deinterleave
    try:
        wrong_s = sharp(ids).logits
    finally:
        kimik2.attention.apply_rotary_pos_emb = apply_rotary_pos_emb
print(f"initializer_range 0.2: max |logit difference| {(right_s - wrong_s).abs().max():.3f} (logit std {right_s.std():.3f}); "
      f"argmax agrees on {(right_s.argmax(-1) == wrong_s.argmax(-1)).float().mean():.0%}")

# 4. Relative position: both versions give scores that depend on the distance only, but different functions.
dist = torch.arange(0, 200)
big_cos, big_sin = rope(torch.zeros(1), seq_len=400)
qv = torch.randn(1, 1, 1, d, generator=g)
kv = torch.randn(1, 1, 1, d, generator=g)


def score_vs_distance(fn, start):
    qs = fn(qv.expand(1, 1, len(dist), d), qv.expand(1, 1, len(dist), d), big_cos, big_sin, (start + dist)[None])[0]
    ks = fn(kv, kv, big_cos, big_sin, torch.tensor([[start]]))[1]
    return (qs * ks).sum(-1).flatten()


right_0, right_100 = score_vs_distance(apply_rotary_pos_emb, 0), score_vs_distance(apply_rotary_pos_emb, 100)
wrong_0, wrong_100 = score_vs_distance(apply_without_deinterleave, 0), score_vs_distance(apply_without_deinterleave, 100)
print(f"score(distance) from key position 0 vs 100: correct max diff {(right_0 - right_100).abs().max():.1e}, "
      f"skipped {(wrong_0 - wrong_100).abs().max():.1e}")
print(f"correct vs skipped score curves: max diff {(right_0 - wrong_0).abs().max():.3f} "
      f"(scores range {right_0.min():.2f} .. {right_0.max():.2f}); equal at distance 0: {torch.isclose(right_0[0], wrong_0[0]).item()}")

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
ax = axes[0]
ax.plot(dist, right_0, "b", label="with de-interleave (checkpoint's pairs)")
ax.plot(dist, wrong_0, "r", lw=0.9, label="skipped (pairs i, i+32)")
ax.set_xlabel("relative distance m − n (tokens)")
ax.set_ylabel("q·k after RoPE (one random q, k)")
ax.set_title("Both are relative, but different functions of distance")
ax.legend(fontsize=8)
ax = axes[1]
diff = (right - wrong).abs().amax((0, 2))
ax.bar(torch.arange(len(diff)), diff, color="tab:red")
ax.set_xlabel("token position")
ax.set_ylabel("max |logit difference|")
ax.set_title("Tiny model, init std 0.02: logit error if skipped")
fig.tight_layout()
fig.savefig(HERE / "skip_permutation.png", dpi=110)
print("wrote skip_permutation.png")
