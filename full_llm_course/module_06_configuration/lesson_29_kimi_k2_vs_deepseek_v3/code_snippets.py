"""Lesson 29: Kimi-K2 vs DeepSeek-V3, every differing config field and what it does.

Run: python code_snippets.py   (prints the tables quoted in teaching.md, writes k2_vs_v3.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import kimik2
from kimik2.size import attention_parameters, mlp_parameters

HERE = Path(__file__).parent
k2, v3 = kimik2.KimiK2Config.kimi_k2(), kimik2.KimiK2Config.deepseek_v3()
a, b = k2.to_dict(), v3.to_dict()

print(f"{'field':32s} {'Kimi-K2':>12s} {'DeepSeek-V3':>12s}")
for key in sorted(a):
    if key == "rope_scaling":
        for sub in sorted(a[key]):
            if a[key][sub] != b[key][sub]:
                print(f"  rope_scaling.{sub:17s} {a[key][sub]!s:>12s} {b[key][sub]!s:>12s}")
    elif a[key] != b[key]:
        print(f"  {key:30s} {a[key]!s:>12s} {b[key]!s:>12s}")
same = sorted(k for k in a if a[k] == b[k])
print(f"equal: {len(same)} fields, e.g. hidden_size {k2.hidden_size}, num_hidden_layers {k2.num_hidden_layers}, "
      f"num_experts_per_tok {k2.num_experts_per_tok}, kv_lora_rank {k2.kv_lora_rank}")

def parts(c):
    """Total parameters by kind (the count_parameters rule, split up)."""
    h, expert = c.hidden_size, mlp_parameters(c.hidden_size, c.moe_intermediate_size)
    moe = [i for i in range(c.num_hidden_layers) if c.is_moe_layer(i)]
    return {
        "embed + lm_head": 2 * c.vocab_size * h,
        "attention": c.num_hidden_layers * attention_parameters(c),
        "dense MLPs": (c.num_hidden_layers - len(moe)) * mlp_parameters(h, c.intermediate_size),
        "routed experts": len(moe) * c.n_routed_experts * expert,
        "shared experts + gates + norms": len(moe) * (expert + c.n_routed_experts * (h + 1)) + (2 * c.num_hidden_layers + 1) * h,
    }

print("\nparameters (total / active):")
for name, c in (("Kimi-K2", k2), ("DeepSeek-V3", v3)):
    count = kimik2.count_parameters(c)
    assert sum(parts(c).values()) == count["total"]
    print(f"  {name:11s}: {count['total']:,} / {count['active']:,}")
    for part, n in parts(c).items():
        print(f"      {part:30s} {n / 1e9:8.2f} B")
print(f"  one MLA block: Kimi-K2 {attention_parameters(k2):,}, DeepSeek-V3 {attention_parameters(v3):,}")
print(f"  sparsity n_routed/active: {k2.n_routed_experts / k2.num_experts_per_tok:g} vs "
      f"{v3.n_routed_experts / v3.num_experts_per_tok:g}; experts per group: "
      f"{k2.n_routed_experts // k2.n_group} vs {v3.n_routed_experts // v3.n_group}; "
      f"eligible experts per token: {k2.topk_group * k2.n_routed_experts // k2.n_group} vs "
      f"{v3.topk_group * v3.n_routed_experts // v3.n_group}")
print(f"  context: {k2.rope_scaling['factor']:g} x {k2.rope_scaling['original_max_position_embeddings']} = "
      f"{k2.rope_scaling['factor'] * 4096:g} (K2), {v3.rope_scaling['factor']:g} x 4096 = {v3.rope_scaling['factor'] * 4096:g} (V3)")
print(f"  q.k products per key per layer (heads x 192): {k2.num_attention_heads * 192} vs {v3.num_attention_heads * 192}")

# Figure: where the parameters sit
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
names = list(parts(k2))
width = 0.38
for i, (name, c, color) in enumerate((("Kimi-K2", k2, "tab:red"), ("DeepSeek-V3", v3, "tab:blue"))):
    values = [parts(c)[part] / 1e9 for part in names]
    ys = [y + (i - 0.5) * width for y in range(len(names))]
    axes[0].barh(ys, values, height=width, color=color, label=f"{name} ({kimik2.count_parameters(c)['total'] / 1e9:,.0f} B total)")
    for y, v in zip(ys, values):
        axes[0].text(v * 1.15, y, f"{v:,.1f}", va="center", fontsize=8)
axes[0].set_xscale("log")
axes[0].set_xlim(0.2, 5000)
axes[0].set_yticks(range(len(names)), names, fontsize=8)
axes[0].set_xlabel("parameters (billions, log scale)")
axes[0].set_title("Where the parameters sit")
axes[0].legend(fontsize=8, loc="lower right")
keys = ["n_routed_experts", "num_attention_heads", "first_k_dense_replace", "n_group", "topk_group",
        "vocab_size", "rope_theta"]
ratios = [getattr(k2, key) / getattr(v3, key) for key in keys]
extra = [("routed_scaling", k2.routed_scaling_factor / v3.routed_scaling_factor),
         ("yarn factor", k2.rope_scaling["factor"] / v3.rope_scaling["factor"]),
         ("beta_fast", k2.rope_scaling["beta_fast"] / v3.rope_scaling["beta_fast"])]
labels = keys + [e[0] for e in extra]
ratios += [e[1] for e in extra]
axes[1].barh(range(len(labels)), ratios, color=["tab:red" if r > 1 else "tab:blue" for r in ratios])
axes[1].set_xscale("log", base=2)
axes[1].axvline(1, color="k", lw=0.8)
axes[1].set_yticks(range(len(labels)), labels, fontsize=8)
for y, r in enumerate(ratios):
    axes[1].text(r * 1.1, y, f"{r:.3g}", va="center", ha="left", fontsize=8)
axes[1].set_xlim(1 / 64, 16)
axes[1].set_xlabel("Kimi-K2 / DeepSeek-V3 (log scale)")
axes[1].set_title("Every differing architecture value, as a ratio")
fig.tight_layout()
fig.savefig(HERE / "k2_vs_v3.png", dpi=110)
print("wrote k2_vs_v3.png")
