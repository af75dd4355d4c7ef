"""Lesson 93: QK-Clip on MLA weights - which rows get sqrt(gamma), which get gamma, which are never touched.

Run: python code_snippets.py   (about 3 seconds; writes qk_clip_rows.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import DeepseekV3Attention, KimiK2Config  # noqa: E402
from kimik2.qk_clip import qk_clip_  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).parent


@torch.no_grad()
def head_logits(attn, x):
    """Scaled causal logits (b, h, s, s), recomputed step by step from the MLA weights."""
    s = x.shape[1]
    q_nope, q_pe = attn.project_queries(x).split([attn.qk_nope_head_dim, attn.qk_rope_head_dim], dim=-1)
    latent, k_pe = attn.project_latent(x)
    q_pe, k_pe = attn.apply_decoupled_rope(q_pe, k_pe, torch.arange(s)[None], 0)
    k_nope, _ = attn.expand_latent(latent)
    nope = q_nope @ k_nope.transpose(2, 3)                      # (b, h, s, s)
    rope = q_pe @ k_pe.transpose(2, 3)                          # (b, h, s, s): k_pe (b, 1, s, rope) broadcast
    logits = (nope + rope) * attn.softmax_scale
    return logits.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf")), nope, rope


config = KimiK2Config.tiny()
torch.manual_seed(0)
attn = DeepseekV3Attention(config, layer_idx=0)
h, nope, rope, v = attn.num_heads, attn.qk_nope_head_dim, attn.qk_rope_head_dim, attn.v_head_dim
print("1. tiny MLA weights and their per-head row blocks")
print(f"  q_b_proj.weight {tuple(attn.q_b_proj.weight.shape)} -> view (h, nope + rope, q_lora) = "
      f"{(h, nope + rope, attn.q_lora_rank)}")
print(f"  kv_b_proj.weight {tuple(attn.kv_b_proj.weight.shape)} -> view (h, nope + v, kv_lora) = "
      f"{(h, nope + v, attn.kv_lora_rank)}")
print(f"  kv_a_proj_with_mqa.weight {tuple(attn.kv_a_proj_with_mqa.weight.shape)}: last {rope} rows = shared k_pe")

# Make head 1 explode: scale its query rows up by 8.
with torch.no_grad():
    attn.q_b_proj.weight.view(h, nope + rope, -1)[1] *= 8.0
x = torch.randn(2, 16, config.hidden_size, generator=torch.Generator().manual_seed(1))
before, nope_before, rope_before = head_logits(attn, x)
s_max = before.amax(dim=(0, 2, 3))
tau = float(s_max.sort().values[-2] + s_max.max()) / 2         # between the two largest heads: one head over
print("\n2. max logit per head before:", [round(v, 3) for v in s_max.tolist()], f" tau = {tau:.3f}")

weights_before = {name: p.detach().clone() for name, p in attn.named_parameters()}
gamma = qk_clip_(attn, s_max, tau)
after, nope_after, rope_after = head_logits(attn, x)
print("  gamma:", [round(v, 4) for v in gamma.tolist()])
print("  max logit per head after: ", [round(v, 3) for v in after.amax(dim=(0, 2, 3)).tolist()])
clipped = gamma < 1
print(f"  clipped head: |max logit after - tau| = {abs(after.amax(dim=(0, 2, 3))[1].item() - tau):.2e}")
print("  clipped head: nope part x", f"{(nope_after[:, clipped] / nope_before[:, clipped]).mean().item():.4f}",
      " rope part x", f"{(rope_after[:, clipped] / rope_before[:, clipped]).mean().item():.4f}",
      f" (gamma = {gamma[clipped].item():.4f})")
print("  other heads' logits bitwise equal:", torch.equal(after[:, ~clipped], before[:, ~clipped]))

print("\n3. which rows changed (ratio new / old, per row block of the clipped head)")
changed = {}
for name, p in attn.named_parameters():
    diff = (p.detach() != weights_before[name])
    changed[name] = int(diff.any(dim=-1).sum()) if p.dim() == 2 else int(diff.sum())
    print(f"  {name:28s} rows changed: {changed[name]}")
q_rows = attn.q_b_proj.weight.view(h, nope + rope, -1)[1] / weights_before["q_b_proj.weight"].view(h, nope + rope, -1)[1]
kv_rows = attn.kv_b_proj.weight.view(h, nope + v, -1)[1] / weights_before["kv_b_proj.weight"].view(h, nope + v, -1)[1]
print(f"  head 1 q_nope rows x {q_rows[:nope].mean():.4f}, q_pe rows x {q_rows[nope:].mean():.4f}, "
      f"k_nope rows x {kv_rows[:nope].mean():.4f}, v rows x {kv_rows[nope:].mean():.4f}; "
      f"sqrt(gamma) = {gamma[1].sqrt():.4f}")

# 4. Kimi-K2's real sizes (shapes only).
kimi = dict(h=64, nope=128, rope=64, v=128, q_lora=1536, kv_lora=512, hidden=7168)
print("\n4. Kimi-K2: q_b_proj (64*192, 1536) = (12288, 1536) -> view (64, 192, 1536); "
      "kv_b_proj (64*256, 512) = (16384, 512) -> view (64, 256, 512); kv_a_proj_with_mqa (576, 7168)")
print(f"  per clipped head: {kimi['nope']}+{kimi['rope']} query rows and {kimi['nope']} key rows rescaled, "
      f"{kimi['v']} value rows and the {kimi['rope']} shared k_pe rows untouched")

# Figure: the factor applied to each row of q_b_proj and kv_b_proj, per head.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for ax, weight, old, width, title in ((axes[0], attn.q_b_proj.weight, weights_before["q_b_proj.weight"], nope + rope,
                                       "q_b_proj rows: [q_nope | q_pe] per head"),
                                      (axes[1], attn.kv_b_proj.weight, weights_before["kv_b_proj.weight"], nope + v,
                                       "kv_b_proj rows: [k_nope | v] per head")):
    ratio = (weight.detach() / old)[:, 0]
    ax.step(range(len(ratio)), ratio, where="mid")
    for k in range(1, h):
        ax.axvline(k * width - 0.5, color="gray", lw=0.5)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("row")
    ax.set_ylim(0, 1.1)
axes[0].set_ylabel("new / old weight")
fig.suptitle(f"QK-Clip on head 1 (gamma = {gamma[1]:.3f}): sqrt(gamma) on nope rows, gamma on q_pe rows", fontsize=10)
fig.tight_layout()
fig.savefig(HERE / "qk_clip_rows.png", dpi=110)
print("\nwrote qk_clip_rows.png")
