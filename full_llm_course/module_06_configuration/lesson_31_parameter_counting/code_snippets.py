"""Lesson 31: parameters of one MLA block and one SwiGLU block, derived from the module shapes.

Run: python code_snippets.py   (about 15 s: also builds the whole of Kimi-K2 on the meta device; writes mla_blocks.png)
"""
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import DeepseekV3Attention, DeepseekV3MLP, KimiK2Config, KimiK2ForCausalLM, count_parameters  # noqa: E402
from kimik2.size import attention_parameters, mlp_parameters  # noqa: E402

HERE = Path(__file__).parent
torch.manual_seed(0)

# 1. The module tree of one Kimi-K2 attention block, on the meta device (shapes, no memory).
k2, v3 = KimiK2Config.kimi_k2(), KimiK2Config.deepseek_v3()
with torch.device("meta"):
    attn = DeepseekV3Attention(k2, 0)
print("Kimi-K2 DeepseekV3Attention parameters (nn.Linear stores weight as (out, in)):")
for name, p in attn.named_parameters():
    print(f"  {name:28s} {str(tuple(p.shape)):16s} {p.numel():>12,}")
built = sum(p.numel() for p in attn.parameters())
print(f"  {'sum':45s}{built:>12,}   attention_parameters: {attention_parameters(k2):,}")

# 2. The same check for DeepSeek-V3 and for the two tiny variants the formula must handle.
print("formula vs built block:")
cases = {"Kimi-K2": k2, "DeepSeek-V3": v3, "tiny": KimiK2Config.tiny(),
         "tiny q_lora_rank=None": KimiK2Config.tiny(q_lora_rank=None),
         "tiny attention_bias=True": KimiK2Config.tiny(attention_bias=True),
         "tiny both": KimiK2Config.tiny(q_lora_rank=None, attention_bias=True)}
for label, config in cases.items():
    with torch.device("meta"):
        block = DeepseekV3Attention(config, 0)
    n = sum(p.numel() for p in block.parameters())
    print(f"  {label:26s} built {n:>12,}  formula {attention_parameters(config):>12,}  equal: {n == attention_parameters(config)}")

# 3. The SwiGLU blocks.
with torch.device("meta"):
    expert = DeepseekV3MLP(k2, intermediate_size=k2.moe_intermediate_size)
    dense = DeepseekV3MLP(k2)
for label, block, width in (("expert", expert, 2048), ("dense MLP (layer 0)", dense, 18432)):
    shapes = ", ".join(f"{n.split('.')[0]} {tuple(p.shape)}" for n, p in block.named_parameters())
    print(f"{label}: {shapes} -> {sum(p.numel() for p in block.parameters()):,} = mlp_parameters(7168, {width}) "
          f"= {mlp_parameters(7168, width):,}")
gate = k2.n_routed_experts * k2.hidden_size + k2.n_routed_experts
print(f"router gate: 384 x 7168 weight + 384 correction bias = {gate:,}")

# 4. What the formulas say when you change one config field (the exercises use these).
print("attention_parameters for a few what-ifs:")
for label, config in (("Kimi-K2", k2), ("Kimi-K2 with 128 heads", KimiK2Config.kimi_k2().__class__(num_attention_heads=128)),
                      ("Kimi-K2 with q_lora_rank None", KimiK2Config.kimi_k2().__class__(q_lora_rank=None)),
                      ("DeepSeek-V3", v3)):
    print(f"  {label:30s}{attention_parameters(config):>14,}")

# 5. The whole model on the meta device: every parameter of the module tree vs the formula.
start = time.perf_counter()
with torch.device("meta"):
    model = KimiK2ForCausalLM(k2)
elapsed = time.perf_counter() - start
total = sum(p.numel() for p in model.parameters())
one_expert = sum(p.numel() for p in model.model.layers[1].mlp.experts[0].parameters())
skipped = 60 * (384 - 8) * one_expert
print(f"meta Kimi-K2 built in {elapsed:.0f} s: {total:,} parameters, active {total - skipped:,}")
print(f"count_parameters(kimi_k2):     {count_parameters(k2)}")
print(f"count_parameters(deepseek_v3): {count_parameters(v3)}")

# 6. Moonshot's 1.04T / 32.6B against what the formula can produce.
stored = 1_026_470_731_056   # elements in the released safetensors files (architecture.md §10)
c = count_parameters(k2)
embed = k2.vocab_size * k2.hidden_size
moe_extra = 3 * 7168 * 18432 - (384 + 1) * one_expert - gate   # layer 0 as an MoE layer instead of dense
print(f"stored elements {stored:,} - parameters {c['total']:,} = {stored - c['total']:,} (FP8 scales, inv_freq)")
print(f"total if layer 0 were MoE: {c['total'] - moe_extra:,}")
print(f"active {c['active']:,}; without input embedding {c['active'] - embed:,}; "
      f"without embedding and lm_head {c['active'] - 2 * embed:,}")

# Figure: one attention block, matrix by matrix, Kimi-K2 vs DeepSeek-V3.
def parts(config):
    H, n, r_q, r_kv = config.hidden_size, config.num_attention_heads, config.q_lora_rank, config.kv_lora_rank
    return {"q_a_proj": H * r_q, "q_b_proj": r_q * n * config.qk_head_dim,
            "kv_a_proj_with_mqa": H * (r_kv + config.qk_rope_head_dim),
            "kv_b_proj": r_kv * n * (config.qk_nope_head_dim + config.v_head_dim),
            "o_proj": n * config.v_head_dim * H, "2 latent norms": r_q + r_kv}

fig, ax = plt.subplots(figsize=(8, 3.6))
names = list(parts(k2))
colors = plt.cm.tab10.colors
for row, (label, config) in enumerate((("Kimi-K2 (64 heads)", k2), ("DeepSeek-V3 (128 heads)", v3))):
    left = 0
    for i, (name, size) in enumerate(parts(config).items()):
        ax.barh(row, size / 1e6, left=left, color=colors[i], label=name if row == 0 else None)
        if size > 8e6:
            ax.text(left + size / 2e6, row, f"{size / 1e6:.1f}M", ha="center", va="center", fontsize=8)
        left += size / 1e6
    ax.text(left + 1, row, f"{attention_parameters(config) / 1e6:.1f}M", va="center", fontsize=9)
ax.set_yticks([0, 1], ["Kimi-K2 (64 heads)", "DeepSeek-V3 (128 heads)"])
ax.set_xlabel("parameters of one MLA block (millions)")
ax.set_xlim(0, 215)
ax.set_title("One MLA block: q_b_proj, kv_b_proj, o_proj grow with the heads")
ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22))
fig.tight_layout()
fig.savefig(HERE / "mla_blocks.png", dpi=110)
print("wrote mla_blocks.png")
