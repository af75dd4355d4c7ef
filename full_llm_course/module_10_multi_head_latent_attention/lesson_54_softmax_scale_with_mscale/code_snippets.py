"""Lesson 54: the softmax scale of MLA, 192^-0.5 times YaRN's mscale squared.

Run: python code_snippets.py   (a few seconds; writes softmax_scale.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import kimik2  # noqa: E402
from kimik2.attention import softmax_scale  # noqa: E402
from kimik2.rope import build_rotary_embedding, yarn_get_mscale  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, linewidth=110)

# 1. The numbers, from the formula and from the answer key.
print("1. softmax scales")
k2, ds = kimik2.KimiK2Config(), kimik2.KimiK2Config.deepseek_v3()
for name, config in (("Kimi-K2", k2), ("DeepSeek-V3", ds)):
    factor = config.rope_scaling["factor"]
    m = 0.1 * config.rope_scaling["mscale_all_dim"] * math.log(factor) + 1.0
    plain = config.qk_head_dim ** -0.5
    print(f"  {name:12s}: qk_head_dim {config.qk_head_dim}, factor {factor:g}: {plain:.7f} * {m:.6f}^2 = "
          f"{plain:.7f} * {m * m:.6f} = {plain * m * m:.6f}   (softmax_scale: {softmax_scale(config):.6f})")
print(f"  hidden/heads = {k2.hidden_size // k2.num_attention_heads} is not the head dim: "
      f"112^-0.5 = {112 ** -0.5:.6f}; 128^-0.5 = {128 ** -0.5:.6f}")
rope = build_rotary_embedding(k2)
cos, sin = rope(torch.zeros(1), seq_len=4096)
print(f"  Kimi-K2 cos/sin factor (rotary_emb.attention_scaling): {rope.attention_scaling:.6f}; "
      f"max |cos| = {cos.abs().max().item():.6f}")
for label, scaling in (("mscale_all_dim 0", dict(k2.rope_scaling, mscale_all_dim=0.0)),
                       ("no rope_scaling", None)):
    print(f"  Kimi-K2 with {label:16s}: {softmax_scale(kimik2.KimiK2Config(rope_scaling=scaling)):.6f}")

# 2. Where the temperature can go. One query/key pair split as MLA splits it: 128 nope + 64 rope dims.
print("\n2. the same pair of logits under three placements of mscale")
g = torch.Generator().manual_seed(0)
q, k = torch.randn(192, generator=g), torch.randn(192, generator=g)
nope, rope_part = (q[:128] @ k[:128]).item(), (q[128:] @ k[128:]).item()
m = yarn_get_mscale(32.0, 1.0)
s0 = 192 ** -0.5
placements = {
    "softmax scale (HF, always)": (s0 * m * m, s0 * m * m),
    "cos/sin times m (YaRN paper)": (s0, s0 * m * m),
    "DSINF, max_seq_len <= 4096": (s0, s0),
}
print(f"  q_nope.k_nope = {nope:.4f}, q_pe.k_pe = {rope_part:.4f}")
for name, (a, b) in placements.items():
    print(f"  {name:30s}: logit = {a:.5f}*{nope:.4f} + {b:.5f}*{rope_part:.4f} = {a * nope + b * rope_part:.4f}"
          f"   (nope x{a / s0:.4f}, rope x{b / s0:.4f})")

# 3. What the larger scale does: a sharper softmax over the same keys.
print("\n3. one query over 8 keys (the same logits q.k), two scales")
keys = torch.randn(8, 192, generator=g)
dots = keys @ q
for name, scale in (("192^-0.5        ", s0), ("Kimi-K2 0.130861", softmax_scale(k2))):
    p = torch.softmax(dots * scale, -1)
    entropy = -(p * p.log()).sum().item()
    print(f"  {name}: probs {p}  max {p.max().item():.4f}  entropy {entropy:.3f} nats")

# 4. Entropy of a softmax over n random keys (unit-variance q, k; logit std = scale * sqrt(192)).
print("\n4. mean softmax entropy over n random keys (unit-variance q, k)")
ns = [2 ** i for i in range(4, 18, 1)]
curves = {}
queries = torch.randn(16, 192, generator=g)
for name, scale in (("1/sqrt(192)", s0), ("Kimi-K2 scale", softmax_scale(k2)),
                    ("DeepSeek-V3 scale", softmax_scale(ds))):
    values = []
    for n in ns:
        p = torch.softmax(queries @ torch.randn(n, 192, generator=g).T * scale, -1)
        values.append((-(p * p.clamp_min(1e-30).log()).sum(-1)).mean().item())
    curves[name] = values
    print(f"  {name:18s}: logit std {scale * 192 ** 0.5:.3f}; n=4096: {values[ns.index(4096)]:.3f} nats "
          f"(ln n = {math.log(4096):.3f}); n=131072: {values[-1]:.3f} nats (ln n = {math.log(131072):.3f})")

# Figure: entropy vs number of keys, and the multiplier each placement gives the two parts of a logit.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
for name, values in curves.items():
    ax1.plot(ns, values, marker="o", ms=3, label=name)
ax1.plot(ns, [math.log(n) for n in ns], color="grey", ls=":", label="ln n (uniform)")
ax1.set_xscale("log", base=2)
ax1.set_xlabel("number of keys n")
ax1.set_ylabel("softmax entropy (nats)")
ax1.set_title("A larger scale lowers the entropy by a constant")
ax1.legend(fontsize=8)
names = list(placements)
x = torch.arange(len(names)).float()
ax2.bar(x - 0.18, [placements[n][0] / s0 for n in names], width=0.36, label="nope part (128 dims)")
ax2.bar(x + 0.18, [placements[n][1] / s0 for n in names], width=0.36, label="rope part (64 dims)")
ax2.set_xticks(x.tolist(), ["softmax scale\n(HF, always)", "cos/sin x m\n(YaRN paper)", "DSINF\nmax_seq_len<=4096"])
ax2.set_ylabel("logit multiplier vs 192^-0.5")
ax2.set_title("Kimi-K2 (factor 32): where m^2 = 1.813 lands")
ax2.legend(fontsize=8, loc="upper right")
ax2.set_ylim(0, 2.2)
fig.tight_layout()
fig.savefig(HERE / "softmax_scale.png", dpi=110)
print("wrote softmax_scale.png")
