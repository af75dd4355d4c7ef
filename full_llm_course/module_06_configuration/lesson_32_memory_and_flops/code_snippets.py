"""Lesson 32: how many bytes Kimi-K2 needs (weights, KV cache) and how many FLOPs one token costs.

Run: python code_snippets.py   (a few seconds; writes flops_vs_context.png and cache_per_token.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from kimik2 import DeepseekV3Attention, DeepseekV3MLP, KimiK2Config, KimiK2ForCausalLM, count_parameters  # noqa: E402
from kimik2.size import forward_flops_per_token, kv_cache_bytes, kv_cache_values_per_token, weight_bytes  # noqa: E402

HERE = Path(__file__).parent
GiB, TB = 2 ** 30, 1e12
k2, v3 = KimiK2Config.kimi_k2(), KimiK2Config.deepseek_v3()

# 1. Weights.
for label, config in (("Kimi-K2", k2), ("DeepSeek-V3", v3)):
    print(f"{label:11s} weights: bf16 {weight_bytes(config, 2):,} B = {weight_bytes(config, 2) / TB:.2f} TB "
          f"({weight_bytes(config, 2) / GiB:,.0f} GiB); FP8 {weight_bytes(config, 1) / TB:.2f} TB")


def fp8_scales(config):
    """One fp32 scale per 128 x 128 block of every Linear inside the decoder layers (our estimate of what
    the FP8 checkpoint quantizes: attention projections and all MLPs; not the gate, embedding or head)."""
    def blocks(module):
        return sum(math.ceil(m.weight.shape[0] / 128) * math.ceil(m.weight.shape[1] / 128)
                   for m in module.modules() if isinstance(m, torch.nn.Linear))
    with torch.device("meta"):
        attn, expert, dense = (DeepseekV3Attention(config, 0), DeepseekV3MLP(config, intermediate_size=config.moe_intermediate_size),
                               DeepseekV3MLP(config))
    moe_layers = sum(config.is_moe_layer(i) for i in range(config.num_hidden_layers))
    experts = config.n_routed_experts + (config.n_shared_experts or 0)
    return (config.num_hidden_layers * blocks(attn) + moe_layers * experts * blocks(expert)
            + (config.num_hidden_layers - moe_layers) * blocks(dense))


scales = fp8_scales(k2)
inv_freq = k2.num_hidden_layers * k2.qk_rope_head_dim // 2
print(f"FP8 block scales (estimate): {scales:,} fp32 values = {4 * scales / 1e6:.0f} MB; "
      f"+ {inv_freq:,} inv_freq values = {scales + inv_freq:,}  (checkpoint extra: 62,498,608)")

# 2. KV cache.
for label, config in (("Kimi-K2", k2), ("DeepSeek-V3", v3)):
    values = kv_cache_values_per_token(config)
    print(f"{label:11s} cache values per token per layer: latent {values['latent']}, expanded {values['expanded']:,} "
          f"({values['expanded'] / values['latent']:.1f}x)")
    print(f"{'':11s} bytes per token (bf16, {config.num_hidden_layers} layers): latent {kv_cache_bytes(config, 1):,}, "
          f"expanded {kv_cache_bytes(config, 1, latent=False):,}")
    print(f"{'':11s} at 131072 tokens: latent {kv_cache_bytes(config, 131072) / GiB:.2f} GiB, "
          f"expanded {kv_cache_bytes(config, 131072, latent=False) / GiB:.1f} GiB")

# 3. FLOPs per token.
for label, config in (("Kimi-K2", k2), ("DeepSeek-V3", v3)):
    active = count_parameters(config)["active"]
    matmul = forward_flops_per_token(config, 0)
    print(f"{label:11s} active {active:,}; 2 x active = {2 * active:,}; matmul FLOPs {matmul:,} "
          f"(= 2 x {matmul // 2:,} multiplied weights)")
    for ctx in (1, 4096, 32768, 131072):
        total = forward_flops_per_token(config, ctx)
        print(f"{'':11s} context {ctx:>6}: {total / 1e9:8.2f} GFLOP/token, attention share {(total - matmul) / total:6.1%}")

# 4. The independent check: torch's FlopCounterMode on a tiny model decoding one token.
torch.manual_seed(0)
for label, config in (("tiny", KimiK2Config.tiny()), ("tiny q_lora_rank=None", KimiK2Config.tiny(q_lora_rank=None))):
    model = KimiK2ForCausalLM(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, 37), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        cache = model(ids[:, :36], use_cache=True).past_key_values
        with FlopCounterMode(display=False) as counter:
            model(ids[:, 36:], past_key_values=cache, use_cache=True)
    by_op = {str(op).replace("aten.", ""): n for op, n in counter.get_flop_counts()["Global"].items()}
    print(f"{label}: FlopCounterMode {counter.get_total_flops():,} {by_op}; forward_flops_per_token(config, 37) "
          f"{forward_flops_per_token(config, 37):,}")

# 5. Training compute, the 6N estimate.
tokens = 15.5e12
for label, config in (("Kimi-K2", k2), ("DeepSeek-V3 (on K2's 15.5T tokens)", v3)):
    n = count_parameters(config)["active"]
    print(f"{label}: 6 x {n / 1e9:.2f}e9 x 15.5e12 = {6 * n * tokens:.3e} FLOPs")
ctx = 4096
n = count_parameters(k2)["active"]
print(f"with attention at 4096 context: 3 x forward_flops_per_token(k2, 2048) x tokens = "
      f"{3 * forward_flops_per_token(k2, ctx // 2) * tokens:.3e}  (average context of a causal 4096 window = 2048)")
print(f"at a sustained 1e18 FLOP/s: {6 * n * tokens / 1e18 / 86400:.0f} days")

# Figure 1: FLOPs per token vs context.
contexts = [2 ** k for k in range(8, 18)] + [131072]
contexts = sorted(set(contexts))
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
for (label, config), color in zip((("Kimi-K2", k2), ("DeepSeek-V3", v3)), ("tab:blue", "tab:orange")):
    totals = [forward_flops_per_token(config, c) / 1e9 for c in contexts]
    matmul = forward_flops_per_token(config, 0) / 1e9
    ax.plot(contexts, totals, "o-", color=color, label=f"{label}: total")
    ax.axhline(matmul, color=color, ls="--", lw=1, label=f"{label}: weights only ({matmul:.1f})")
    ax2.plot(contexts, [100 * (t - matmul) / t for t in totals], "o-", color=color, label=label)
for a in (ax, ax2):
    a.set_xscale("log", base=2)
    a.set_xlabel("context length (tokens attended to)")
    a.grid(alpha=0.3)
ax.set_ylabel("forward GFLOP per token")
ax.set_title("Forward FLOPs for one token")
ax.legend(fontsize=8)
ax2.set_ylabel("attention (q.k and p.v) share, %")
ax2.set_title("The attention share grows with the context")
ax2.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "flops_vs_context.png", dpi=110)

# Figure 2: cache memory vs context, latent vs expanded.
fig, ax = plt.subplots(figsize=(7, 3.8))
for (label, config), color in zip((("Kimi-K2", k2), ("DeepSeek-V3", v3)), ("tab:blue", "tab:orange")):
    ax.plot(contexts, [kv_cache_bytes(config, c) / GiB for c in contexts], "o-", color=color,
            label=f"{label}: MLA latent ({kv_cache_bytes(config, 1):,} B/token, same for both)")
    ax.plot(contexts, [kv_cache_bytes(config, c, latent=False) / GiB for c in contexts], "s--", color=color,
            label=f"{label}: expanded K, V ({kv_cache_bytes(config, 1, latent=False):,} B/token)")
ax.axhline(141, color="gray", lw=1, ls=":")
ax.text(300, 160, "one 141 GB GPU", color="gray", fontsize=8)
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("tokens in the cache (one sequence)")
ax.set_ylabel("KV cache, GiB (bf16)")
ax.set_title("KV cache of one sequence: latent vs expanded")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(HERE / "cache_per_token.png", dpi=110)
print("wrote flops_vs_context.png, cache_per_token.png")
