"""Lesson 51: the query path of MLA - q_a_proj -> q_a_layernorm -> q_b_proj (or q_proj), per head
[q_nope | q_pe].

Run: python code_snippets.py   (about 2 s; writes query_path.png)
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

# 1. Shapes at Kimi-K2's size, on the meta device (no memory, no arithmetic).
print("== 1. Kimi-K2 shapes (meta device)")
with torch.device("meta"):
    big = kimik2.DeepseekV3Attention(kimik2.KimiK2Config.kimi_k2())
    x = torch.empty(2, 5, 7168)
    c_q = big.q_a_proj(x)
    print(f"hidden {tuple(x.shape)} -> q_a_proj {tuple(c_q.shape)} -> q_a_layernorm {tuple(big.q_a_layernorm(c_q).shape)}"
          f" -> q_b_proj {tuple(big.q_b_proj(c_q).shape)} -> project_queries {tuple(big.project_queries(x).shape)}")
print("q_a_layernorm:", big.q_a_layernorm)

# 2. The same at the tiny config, with numbers.
print("\n== 2. tiny config (hidden 64, 4 heads, q_lora_rank 48, nope 16 + rope 16)")
config = kimik2.KimiK2Config.tiny()
torch.manual_seed(0)
attn = kimik2.DeepseekV3Attention(config)
for name, p in attn.named_parameters():
    if name.startswith("q_"):
        print(f"{name:22s} {tuple(p.shape)}")
h = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(1))
q = attn.project_queries(h)
q_nope, q_pe = q.split([config.qk_nope_head_dim, config.qk_rope_head_dim], dim=-1)
print(f"project_queries: {tuple(h.shape)} -> {tuple(q.shape)}; q_nope {tuple(q_nope.shape)}, q_pe {tuple(q_pe.shape)}")
print("q is contiguous:", q.is_contiguous(), "| stride", q.stride())

# 3. The layout: head h owns columns h*32 .. h*32+31 of q_b_proj's output, nope first.
flat = attn.q_b_proj(attn.q_a_layernorm(attn.q_a_proj(h)))              # (2, 5, 128)
print("\n== 3. layout of q_b_proj's 128 outputs")
print("q[0, 2, 0, :4]            ", q[0, 2, 0, :4])
print("flat[0, 0, 64:68] (head 2)", flat[0, 0, 64:68])
wrong = flat.view(2, 5, 2, 4, 16)                                         # [all nope | all rope] reading
print("all-nope-first reading of head 2's q_nope equals the real one?",
      torch.equal(wrong[:, :, 0].transpose(1, 2)[0, 2], q_nope[0, 2]))
no_transpose = flat.view(2, 4, 5, 32)                                     # view straight to (b, h, s, d)
print("view(b, h, s, d) without the transpose, same shape, same values?",
      no_transpose.shape == q.shape, torch.equal(no_transpose, q))

# 4. The eps trap: q_a_layernorm keeps 1e-6 whatever rms_norm_eps says.
print("\n== 4. eps of the latent norm")
other = kimik2.KimiK2Config.tiny(rms_norm_eps=1e-5)
layer = kimik2.KimiK2ForCausalLM(other).model.layers[0]
print(f"rms_norm_eps = {other.rms_norm_eps}: input_layernorm eps {layer.input_layernorm.variance_epsilon}, "
      f"q_a_layernorm eps {layer.self_attn.q_a_layernorm.variance_epsilon}, "
      f"kv_a_layernorm eps {layer.self_attn.kv_a_layernorm.variance_epsilon}")
rms_values = torch.logspace(-4, 0, 41)                                   # 1e-4 ... 1, 10 points a decade
base = torch.randn(200, 1536, generator=torch.Generator().manual_seed(2))
base = base / base.pow(2).mean(-1, keepdim=True).sqrt()                   # every row has RMS exactly 1
changes = []
for rms in rms_values:
    latent = base * rms
    right = kimik2.DeepseekV3RMSNorm(1536)(latent)
    wrong_eps = kimik2.DeepseekV3RMSNorm(1536, eps=1e-5)(latent)
    changes.append(((wrong_eps - right).norm() / right.norm()).item())
for target in (1e-3, 1e-2, 1e-1, 1.0):
    i = int((rms_values - target).abs().argmin())
    print(f"latent RMS {rms_values[i]:.0e}: eps 1e-5 instead of 1e-6 changes the normalised latent by {changes[i]:.1e}")

# 5. Without the bottleneck: q_lora_rank = None gives one q_proj.
print("\n== 5. q_lora_rank = None")
flat_config = kimik2.KimiK2Config.tiny(q_lora_rank=None)
torch.manual_seed(0)
plain = kimik2.DeepseekV3Attention(flat_config)
print("query modules:", [n for n, _ in plain.named_children() if n.startswith("q_")],
      "| q_proj.weight", tuple(plain.q_proj.weight.shape), "| project_queries", tuple(plain.project_queries(h).shape))
k2 = kimik2.KimiK2Config.kimi_k2()
print(f"Kimi-K2 query parameters per layer: low-rank {7168 * 1536 + 1536 + 1536 * 12288:,}, q_proj {7168 * 12288:,}")

# Figure: the layout of q_b_proj's outputs (left) and what the wrong eps does (right).
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.3, 1]})
for head in range(3):
    ax1.barh(0, 128, left=head * 192, color="tab:blue", edgecolor="white")
    ax1.barh(0, 64, left=head * 192 + 128, color="tab:orange", edgecolor="white")
    ax1.text(head * 192 + 64, 0, f"head {head}\nq_nope 128", ha="center", va="center", color="white", fontsize=8)
    ax1.text(head * 192 + 160, 0, "q_pe\n64", ha="center", va="center", fontsize=8)
ax1.text(3 * 192 + 30, 0, "... head 63", va="center", fontsize=9)
ax1.set_xlim(0, 3 * 192 + 130)
ax1.set_yticks([])
ax1.set_xlabel("output column of q_b_proj (first 3 of 64 heads; 12288 in all)")
ax1.set_title("q_b_proj output: head-major, [q_nope | q_pe] per head")
ax2.loglog(rms_values, changes)
ax2.set_xlabel("RMS of the query latent c_Q")
ax2.set_ylabel("relative change of q_a_layernorm(c_Q)")
ax2.set_title("using rms_norm_eps = 1e-5 instead of 1e-6")
ax2.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(HERE / "query_path.png", dpi=110)
plt.close(fig)
print("\nwrote query_path.png")
