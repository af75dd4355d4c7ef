"""Lesson 38: sigmoid scores in float32.

Run: python code_snippets.py   (a few seconds; writes score_distribution.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kimik2 import KimiK2Config, MoEGate  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, linewidth=120)

# 1. Shapes and dtype on the tiny gate, with bf16 input.
torch.manual_seed(0)
gate = MoEGate(KimiK2Config.tiny())
x = torch.randn(2, 3, 64, generator=torch.Generator().manual_seed(1)).bfloat16()
scores = gate.compute_scores(x.reshape(-1, 64))
print(f"x {tuple(x.shape)} {x.dtype} -> reshape (6, 64) -> scores {tuple(scores.shape)} {scores.dtype}, "
      f"min {scores.min().item():.4f}, max {scores.max().item():.4f}")

# 2. Sigmoid vs softmax on 8 logits, then with a 9th expert added.
logits = torch.tensor([2.0, 1.5, 0.3, 0.0, -0.4, -1.0, 1.1, -2.0])
print("logits             ", logits)
print("sigmoid            ", logits.sigmoid())
print("softmax            ", logits.softmax(-1))
more = torch.cat([logits, torch.tensor([3.0])])
print("sigmoid, 9 experts ", more.sigmoid())
print("softmax, 9 experts ", more.softmax(-1))
k = 3
top = logits.topk(k).indices
print("top-3 by sigmoid", logits.sigmoid().topk(k).indices.tolist(), "by softmax", logits.softmax(-1).topk(k).indices.tolist())
w_sig = logits.sigmoid()[top] / logits.sigmoid()[top].sum()
w_soft = logits.softmax(-1)[top] / logits.softmax(-1)[top].sum()
print("renormalised weights, sigmoid", w_sig, "softmax", w_soft)

# 3. Kimi-K2 sizes: float32 scoring vs bf16 scoring on 1024 bf16 tokens, at init and with the weight x4
#    (a stand-in for a trained router with larger logits; the real trained scale is not used here).
k2 = KimiK2Config.kimi_k2()
tokens = torch.randn(1024, 7168, generator=torch.Generator().manual_seed(2)).bfloat16()   # bf16 activations
for scale in (1.0, 4.0):
    torch.manual_seed(0)
    big = MoEGate(k2)
    with torch.no_grad():
        big.weight.mul_(scale)
        s32 = big.compute_scores(tokens)                                        # fp32 logits, fp32 sigmoid
        s16 = F.linear(tokens, big.weight.bfloat16()).sigmoid()                 # everything in bf16
        s16_out = s32.bfloat16()                                                # fp32 math, bf16 result only
    print(f"Kimi-K2 gate, weight x{scale:.0f}, 1024 tokens: logit std {torch.logit(s32).std().item():.3f}")
    for label, s in (("bf16 matmul + sigmoid", s16), ("fp32 math, rounded to bf16", s16_out)):
        err = (s.float() - s32).abs().max().item()
        distinct = torch.tensor([row.unique().numel() for row in s.float()]).float().mean().item()
        idx32 = s32.topk(8, dim=-1).indices.sort(-1).values
        idx16 = s.float().topk(8, dim=-1).indices.sort(-1).values
        changed = (idx32 != idx16).any(-1).sum().item()
        kth = s.float().topk(9, dim=-1).values
        tie = (kth[:, 7] == kth[:, 8]).sum().item()
        print(f"  {label:28s} max |score error| {err:.2e}; distinct scores per token {distinct:.0f} of 384; "
              f"8th = 9th score (a tie at the cut) {tie}; top-8 set changed {changed} of 1024")
    row = s32[0].topk(10).values
    print("  token 0, top-10 fp32 scores:", [round(v, 5) for v in row.tolist()])
    print("  token 0, same in bf16      :", [round(v, 5) for v in s16[0].float().topk(10).values.tolist()])

# 4. Figure: score distribution (init and trained-like) and the bf16 grid at the top of one token.
torch.manual_seed(0)
init = MoEGate(k2)
with torch.no_grad():
    s_init = init.compute_scores(tokens)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
axes[0].hist(s_init.flatten().numpy(), bins=100, alpha=0.7, label="at init (logit std 0.58)")
axes[0].hist(s32.flatten().numpy(), bins=100, alpha=0.7, label="weight x4 (logit std 2.3)")
axes[0].set_title("Kimi-K2 gate: sigmoid scores of 1024 tokens x 384 experts\n(each in (0, 1), independent, no sum-to-1)")
axes[0].set_xlabel("score")
axes[0].set_ylabel("count")
axes[0].legend()
top32 = s32[0].topk(16).values.numpy()
top16 = s16[0].float().topk(16).values.numpy()
axes[1].plot(range(16), top32, "o-", label="fp32")
axes[1].plot(range(16), top16, "s--", label="bf16 scoring")
axes[1].axvline(7.5, color="tab:red", ls=":", label="top-8 cut")
axes[1].set_title("token 0: its 16 highest scores, sorted\nbf16 has 8 significant bits: steps of 2^-8 below 1")
axes[1].set_xlabel("rank")
axes[1].set_ylabel("score")
axes[1].legend()
fig.tight_layout()
fig.savefig(HERE / "score_distribution.png", dpi=110)
print("wrote score_distribution.png")
