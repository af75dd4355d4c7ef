"""Lesson 36: what a mixture-of-experts layer buys, and why its load must be balanced.

Run: python code_snippets.py   (a few seconds; writes routing_heatmap.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, MoEGate, count_parameters  # noqa: E402
from kimik2.size import mlp_parameters  # noqa: E402

HERE = Path(__file__).parent

# 1. Sparsity and expert parameters, Kimi-K2 vs DeepSeek-V3.
for name, c in (("Kimi-K2", KimiK2Config.kimi_k2()), ("DeepSeek-V3", KimiK2Config.deepseek_v3())):
    moe_layers = c.num_hidden_layers - c.first_k_dense_replace
    expert = mlp_parameters(c.hidden_size, c.moe_intermediate_size)
    routed_total = moe_layers * c.n_routed_experts * expert
    routed_active = moe_layers * c.num_experts_per_tok * expert
    shared = moe_layers * c.n_shared_experts * expert
    counts = count_parameters(c)
    print(f"{name}: {c.n_routed_experts} routed, {c.num_experts_per_tok} active, {c.n_shared_experts} shared, "
          f"sparsity {c.n_routed_experts // c.num_experts_per_tok}, {moe_layers} MoE layers, "
          f"one expert {expert:,}")
    print(f"  routed experts: total {routed_total:,} ({routed_total / counts['total']:.1%} of {counts['total']:,}), "
          f"active {routed_active:,}")
    print(f"  shared experts: {shared:,} (always active)")
    print(f"  whole model active {counts['active']:,} = {counts['active'] / counts['total']:.2%} of total")

# 2. A tiny random gate: 16 experts, 4 per token. Route 4096 tokens two ways.
config = KimiK2Config.tiny()
torch.manual_seed(0)
gate = MoEGate(config)
g = torch.Generator().manual_seed(1)
n, H, E = 4096, config.hidden_size, config.n_routed_experts
isotropic = torch.randn(1, n, H, generator=g)                      # no shared direction
common = torch.randn(H, generator=g)
common = 2.0 * common / common.norm() * H ** 0.5                  # one direction all tokens share
skewed = torch.randn(1, n, H, generator=g) + common                # real hidden states look more like this


@torch.no_grad()
def route(x):
    idx, w = gate(x)
    dense = torch.zeros(idx.shape[0], E).scatter(1, idx, w)        # (tokens, E): 0 where not chosen
    load = torch.bincount(idx.flatten(), minlength=E)              # (token, slot) pairs per expert
    return dense, load


fair = n * config.num_experts_per_tok / E
for label, x in (("isotropic tokens", isotropic), ("tokens sharing a direction", skewed)):
    dense, load = route(x)
    print(f"{label}: load per expert {load.tolist()}")
    print(f"  fair share {fair:.0f}; max/fair {load.max().item() / fair:.2f}; "
          f"experts with < 1/4 of fair share: {(load < fair / 4).sum().item()}")
dense_iso, load_iso = route(isotropic)
dense_skew, load_skew = route(skewed)
print("first 3 tokens, isotropic, weights per expert (0 = not chosen):")
torch.set_printoptions(precision=2, linewidth=140)
print(dense_iso[:3])

# 3. Figure: token x expert weights for 32 tokens, and the load of all 4096 tokens.
fig, axes = plt.subplots(2, 2, figsize=(11, 7), gridspec_kw={"height_ratios": [3, 2]})
for col, (label, dense, load) in enumerate((("isotropic tokens", dense_iso, load_iso),
                                            ("tokens sharing one direction", dense_skew, load_skew))):
    ax = axes[0, col]
    im = ax.imshow(dense[:32].numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1.5)
    ax.set_title(f"routing weights, {label}\n(32 tokens, 4 of 16 experts each)")
    ax.set_xlabel("expert")
    ax.set_ylabel("token")
    fig.colorbar(im, ax=ax, label="weight (0 = not chosen)")
    ax = axes[1, col]
    ax.bar(range(E), load.numpy(), color="tab:blue")
    ax.axhline(fair, color="tab:red", ls="--", label=f"fair share {fair:.0f}")
    ax.set_xlabel("expert")
    ax.set_ylabel("tokens routed (of 4096)")
    ax.set_title("expert load")
    ax.legend()
fig.suptitle("A random tiny MoEGate: balanced on isotropic input, collapsed when tokens share a direction")
fig.tight_layout()
fig.savefig(HERE / "routing_heatmap.png", dpi=110)
print("wrote routing_heatmap.png")
