"""Lesson 02: where Kimi-K2's 1.026T parameters live, next to DeepSeek-V3's 671B.

python code_snippets.py          # seconds: counts from the config alone (kimik2.size), writes param_share.png
python code_snippets.py --meta   # also builds Kimi-K2 on the meta device (~15 s) and checks every count
"""

import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, count_parameters  # noqa: E402
from kimik2.size import attention_parameters, mlp_parameters  # noqa: E402

HERE = Path(__file__).parent
COMPONENTS = ["routed experts", "attention (MLA)", "shared experts", "token embeddings", "lm_head",
              "dense MLP", "router gates", "RMSNorms"]


def components(config: KimiK2Config) -> dict[str, tuple[int, int]]:
    """component -> (total, active per token), from the config alone."""
    hidden, layers = config.hidden_size, config.num_hidden_layers
    moe = sum(config.is_moe_layer(i) for i in range(layers))
    expert = mlp_parameters(hidden, config.moe_intermediate_size)
    embed = config.vocab_size * hidden
    rows = {
        "routed experts": (moe * config.n_routed_experts * expert, moe * config.num_experts_per_tok * expert),
        "attention (MLA)": (layers * attention_parameters(config),) * 2,
        "shared experts": (moe * (config.n_shared_experts or 0) * expert,) * 2,
        "token embeddings": (embed,) * 2,
        "lm_head": (0 if config.tie_word_embeddings else embed,) * 2,
        "dense MLP": ((layers - moe) * mlp_parameters(hidden, config.intermediate_size),) * 2,
        "router gates": (moe * config.n_routed_experts * (hidden + 1),) * 2,   # weight + e_score_correction_bias
        "RMSNorms": ((2 * layers + 1) * hidden,) * 2,                           # 2 per layer + final norm
    }
    return rows


presets = {"Kimi-K2": KimiK2Config.kimi_k2(), "DeepSeek-V3": KimiK2Config.deepseek_v3()}
tables = {name: components(config) for name, config in presets.items()}

print("field                     Kimi-K2     DeepSeek-V3")
for field in ("num_hidden_layers", "first_k_dense_replace", "hidden_size", "num_attention_heads", "vocab_size",
              "n_routed_experts", "num_experts_per_tok", "n_shared_experts", "moe_intermediate_size",
              "n_group", "topk_group", "routed_scaling_factor", "rope_theta"):
    print(f"{field:<24}{getattr(presets['Kimi-K2'], field):>10}{getattr(presets['DeepSeek-V3'], field):>14}")
for name, config in presets.items():
    print(f"{name}: sparsity {config.n_routed_experts // config.num_experts_per_tok} "
          f"({config.n_routed_experts} experts / {config.num_experts_per_tok} active), yarn factor "
          f"{config.rope_scaling['factor']:g} x {config.rope_scaling['original_max_position_embeddings']} = "
          f"{int(config.rope_scaling['factor'] * config.rope_scaling['original_max_position_embeddings']):,} positions")

for name, config in presets.items():
    print(f"{name}: one MLA block {attention_parameters(config):,}; one expert "
          f"{mlp_parameters(config.hidden_size, config.moe_intermediate_size):,}; dense MLP "
          f"{mlp_parameters(config.hidden_size, config.intermediate_size):,}")
for name, config in presets.items():
    counts = count_parameters(config)
    rows = tables[name]
    assert sum(t for t, _ in rows.values()) == counts["total"] and sum(a for _, a in rows.values()) == counts["active"]
    print(f"\n{name}: total {counts['total']:,}  active {counts['active']:,} ({counts['active'] / counts['total']:.2%})")
    print(f"  {'component':<17}{'total':>19}{'share':>8}{'active':>17}{'share':>8}")
    for component in COMPONENTS:
        total, active = rows[component]
        print(f"  {component:<17}{total:>19,}{total / counts['total']:>8.2%}{active:>17,}"
              f"{active / counts['active']:>8.2%}")

kimi = count_parameters(presets["Kimi-K2"])
embed = presets["Kimi-K2"].vocab_size * presets["Kimi-K2"].hidden_size
print(f"\nKimi-K2 active without the input embedding: {kimi['active'] - embed:,}; "
      f"without embedding and lm_head: {kimi['active'] - 2 * embed:,}  (Moonshot quotes 32.6B)")
k2 = presets["Kimi-K2"]
all_moe = (kimi["total"] - mlp_parameters(k2.hidden_size, k2.intermediate_size)              # drop layer 0's MLP
           + k2.n_routed_experts * (k2.hidden_size + 1)                                       # add a gate
           + (k2.n_routed_experts + 1) * mlp_parameters(k2.hidden_size, k2.moe_intermediate_size))  # and experts
print(f"if layer 0 were MoE too: {all_moe:,} (a guess at Moonshot's 1.04T, not a sourced explanation)")

# The figure: share of the total and share of what one token uses.
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
y = range(len(COMPONENTS))
for ax, column, title in ((axes[0], 0, "share of ALL parameters"), (axes[1], 1, "share of ACTIVE parameters per token")):
    for offset, (name, color) in zip((-0.2, 0.2), (("Kimi-K2", "tab:blue"), ("DeepSeek-V3", "tab:orange"))):
        counts = count_parameters(presets[name])
        key = "total" if column == 0 else "active"
        shares = [100 * tables[name][c][column] / counts[key] for c in COMPONENTS]
        ax.barh([i + offset for i in y], shares, height=0.4, color=color,
                label=f"{name} ({counts[key] / 1e9:,.1f}B)")
        for i, share in zip(y, shares):
            ax.text(share + 1, i + offset, f"{share:.1f}%", va="center", fontsize=7)
    ax.set_title(title)
    ax.set_xlim(0, 115)
    ax.set_xlabel("percent")
    ax.legend(loc="lower right", fontsize=8)
axes[0].set_yticks(list(y), COMPONENTS)
axes[0].invert_yaxis()
fig.suptitle("Where the parameters live (counted from the config; MTP layer of DeepSeek-V3 excluded)")
fig.tight_layout()
fig.savefig(HERE / "param_share.png", dpi=110)
plt.close(fig)
print("wrote param_share.png")

if "--meta" in sys.argv:
    import time

    from kimik2 import KimiK2ForCausalLM

    patterns = [(r"^model\.embed_tokens\.", "token embeddings"), (r"^lm_head\.", "lm_head"),
                (r"\.mlp\.experts\.", "routed experts"), (r"\.mlp\.shared_experts\.", "shared experts"),
                (r"\.mlp\.gate\.", "router gates"), (r"\.mlp\.", "dense MLP"), (r"\.self_attn\.", "attention (MLA)"),
                (r"norm", "RMSNorms")]
    start = time.perf_counter()
    with torch.device("meta"):
        model = KimiK2ForCausalLM(presets["Kimi-K2"])
    built = {c: 0 for c in COMPONENTS}
    for name, parameter in model.named_parameters():
        built[next(label for pattern, label in patterns if re.search(pattern, name))] += parameter.numel()
    print(f"meta-device Kimi-K2 built in {time.perf_counter() - start:.1f} s, {len(list(model.parameters())):,} "
          f"tensors, {sum(built.values()):,} parameters; every component equals the formula: "
          f"{all(built[c] == tables['Kimi-K2'][c][0] for c in COMPONENTS)}")
    print("layer 1 expert 383 down_proj:", tuple(model.model.layers[1].mlp.experts[383].down_proj.weight.shape),
          "on", model.model.layers[1].mlp.experts[383].down_proj.weight.device)
