"""Lesson 76: the cost of one decoded token in three MLA forms - expanded cache, latent cache
re-expanded (transformers 5.24), absorbed over the latent - derived, then measured.

Run: python code_snippets.py   (about 10 seconds; writes decode_roofline.png)
"""
from pathlib import Path
import statistics
import sys
import tempfile
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM  # noqa: E402
from kimik2.size import attention_parameters, count_parameters  # noqa: E402

HERE = Path(__file__).parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.dont_write_bytecode = True              # import the benchmark without leaving __pycache__ in benchmarks/
from bench_decode import cache_bytes_per_token  # noqa: E402
from bench_model import CONFIG as BENCH  # noqa: E402

MODES = ("expanded cache", "latent, re-expanded", "absorbed")


def per_token_costs(config: KimiK2Config, t: int, bytes_per_value: int = 2) -> dict[str, tuple[int, int]]:
    """One decoded token, one layer, t keys (the cache plus the new token): FLOPs and bytes moved that
    differ between the modes (the shared projections q_a, q_b, kv_a and o_proj are left out)."""
    h, r, rope = config.num_attention_heads, config.kv_lora_rank, config.qk_rope_head_dim
    nope, v = config.qk_nope_head_dim, config.v_head_dim
    expanded_values = h * (nope + rope + v)                  # per cached position: keys and values, all heads
    latent_values = r + rope                                 # per cached position: c_KV and k_pe
    kv_b = r * h * (nope + v)                                # multiply-adds of kv_b_proj for one position
    attention = h * t * (nope + rope + v)                    # q.k over t keys, then the weighted sum of values
    return {
        "expanded cache": (2 * (kv_b + attention),                       # kv_b_proj for the new token only
                           t * expanded_values * bytes_per_value),
        "latent, re-expanded": (2 * (t * kv_b + attention),              # kv_b_proj over all t positions
                                t * (latent_values + 2 * expanded_values) * bytes_per_value),  # + write, re-read K, V
        # fold W_UK and unfold W_UV once; then per key a 576-dim score and a 512-dim value
        "absorbed": (2 * (h * (nope + v) * r + h * t * (r + rope + r)),
                     t * latent_values * bytes_per_value),
    }


# 1. Kimi-K2, one layer, bf16.
kimi = KimiK2Config.kimi_k2()
print("1. one decoded token, one Kimi-K2 layer, bf16: FLOPs and bytes that differ between the modes")
for t in (4096, 32768, 131072):
    for mode, (flops, moved) in per_token_costs(kimi, t).items():
        print(f"  t={t:6d} {mode:20s}: {flops / 1e9:9.2f} GFLOP, {moved / 2 ** 20:9.1f} MiB moved, "
              f"{flops / moved:8.1f} FLOP per byte")

# 2. Roofline: time ~ max(FLOPs / peak, bytes / bandwidth) = max(FLOPs / rho, bytes) / bandwidth.
print("\n2. time per decoded token and layer in units of 'one byte read', rho = 300 FLOP per byte")
RHO = 300
for t in (4096, 32768, 131072):
    costs = per_token_costs(kimi, t)
    units = {mode: max(flops / RHO, moved) for mode, (flops, moved) in costs.items()}
    bound = {mode: "compute" if flops / RHO > moved else "memory" for mode, (flops, moved) in costs.items()}
    print(f"  t={t:6d}: " + ", ".join(f"{mode} {units[mode] / units['absorbed']:5.1f}x ({bound[mode]})"
                                      for mode in MODES) + "  (absorbed = 1)")
fused = per_token_costs(kimi, 4096)["latent, re-expanded"][0] / RHO / per_token_costs(kimi, 4096)["absorbed"][1]
print(f"  re-expansion that never writes K and V to memory (compute-bound at t=4096): {fused:.1f}x")

# 3. Whole model, one decoded token at batch 1: the weights vs the cache.
print("\n3. Kimi-K2, one decoded token at batch 1, 61 layers, bf16")
weights = count_parameters(kimi)["active"] * 2
attn_weights = attention_parameters(kimi) * 2
print(f"  active weights read once per step: {weights / 1e9:.1f} GB (attention alone {attn_weights / 2 ** 20:.0f} MiB "
      f"per layer)")
for t in (4096, 32768, 131072):
    costs = per_token_costs(kimi, t)
    print(f"  t={t:6d}: cache read, expanded {61 * costs['expanded cache'][1] / 1e9:7.1f} GB, "
          f"latent {61 * costs['absorbed'][1] / 1e9:5.2f} GB")

# 4. The benchmark's attention shape, predicted and measured on this CPU.
bench = KimiK2Config.tiny(**dict(BENCH, num_hidden_layers=1, first_k_dense_replace=1))
T = 2048
print(f"\n4. bench_decode's attention shape (hidden {bench.hidden_size}, {bench.num_attention_heads} heads, "
      f"kv_lora_rank {bench.kv_lora_rank}, rope {bench.qk_rope_head_dim}, nope {bench.qk_nope_head_dim}, "
      f"v {bench.v_head_dim}), 1 layer, float32, t = {T}")
for mode, (flops, moved) in per_token_costs(bench, T, bytes_per_value=4).items():
    print(f"  predicted {mode:20s}: {flops / 1e6:7.1f} MFLOP, {moved / 2 ** 20:5.2f} MiB moved")

import transformers  # noqa: E402
from transformers import DeepseekV3ForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
warnings.filterwarnings("ignore")
torch.set_num_threads(1)                      # one thread: less noise from other work on the machine
torch.manual_seed(0)
with tempfile.TemporaryDirectory() as folder:  # the same weights in all three, as bench_decode.py does
    KimiK2ForCausalLM(bench).save_pretrained(folder)
    absorbed = KimiK2ForCausalLM.from_pretrained(folder).eval()
    absorbed.set_mla_mode("absorbed")
    expanded = KimiK2ForCausalLM.from_pretrained(folder).eval()
    theirs = DeepseekV3ForCausalLM.from_pretrained(folder, attn_implementation="sdpa").eval()
models = {"expanded cache": expanded, "latent, re-expanded": theirs, "absorbed": absorbed}
ids = torch.randint(0, bench.vocab_size, (1, T), generator=torch.Generator().manual_seed(T))
state, step_ms = {}, {mode: [] for mode in models}
with torch.no_grad():
    for mode, model in models.items():                            # prefill once (not timed)
        out = model(ids, use_cache=True)
        state[mode] = (out.past_key_values, out.logits[:, -1:].argmax(-1))
        measured = cache_bytes_per_token(out.past_key_values, T)
        print(f"  {mode:20s}: cache bytes per token (measured on the cache object) {measured}")
    for _ in range(12):                                           # 12 decode steps, interleaved
        for mode, model in models.items():
            cache, token = state[mode]
            start = time.perf_counter()
            out = model(token, past_key_values=cache, use_cache=True)
            step_ms[mode].append((time.perf_counter() - start) * 1e3)
            state[mode] = (out.past_key_values, out.logits[:, -1:].argmax(-1))
best = {mode: min(values) for mode, values in step_ms.items()}
for mode in MODES:
    print(f"  measured {mode:20s}: best step {best[mode]:5.1f} ms, median {statistics.median(step_ms[mode]):5.1f} ms")
print(f"  ratios of best steps: transformers / absorbed = {best['latent, re-expanded'] / best['absorbed']:.2f}, "
      f"expanded / absorbed = {best['expanded cache'] / best['absorbed']:.2f}")

# 5. The attention core alone at the same shape: the kernel matters as much as the count.
print(f"\n5. attention core of one decode step at the benchmark shape, t = {T}, float32, 1 thread (best of 20)")
layer = absorbed.model.layers[0].self_attn
h, nope, rope, r = layer.num_heads, layer.qk_nope_head_dim, layer.qk_rope_head_dim, layer.kv_lora_rank
g = torch.Generator().manual_seed(1)
q_nope, q_pe = torch.randn(1, h, 1, nope, generator=g), torch.randn(1, h, 1, rope, generator=g)
latent, k_pe = torch.randn(1, 1, T, r, generator=g), torch.randn(1, 1, T, rope, generator=g)
mask = torch.zeros(1, 1, 1, T)                     # a decode step: the new token sees every cached position


def absorbed_through_sdpa(q_nope, q_pe, latent, k_pe, mask):
    """The absorbed step through SDPA: [q_latent | q_pe] against one concatenated key head [c_KV | k_pe],
    shared over the query heads with enable_gqa; the latent is the value. The answer key instead writes
    two score einsums, as DeepSeek's inference/model.py does."""
    kv_b = layer.kv_b_proj.weight.view(h, nope + layer.v_head_dim, r)
    w_uk, w_uv = kv_b.split([nope, layer.v_head_dim], dim=1)
    q_latent = torch.einsum("bhsd,hdr->bhsr", q_nope, w_uk)
    query, key = torch.cat([q_latent, q_pe], dim=-1), torch.cat([latent, k_pe], dim=-1)   # (1, h, 1, r + rope), (1, 1, T, r + rope)
    context = F.scaled_dot_product_attention(query, key, latent, attn_mask=mask, scale=layer.softmax_scale,
                                             enable_gqa=True)
    return torch.einsum("bhsr,hvr->bhsv", context, w_uv)


def best_ms(fn, repeats=20):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return min(times)


with torch.no_grad():
    k_nope, value = layer.expand_latent(latent[:, 0])                  # what an expanded cache would hold
    key = torch.cat([k_nope, k_pe.expand(-1, h, -1, -1)], dim=-1)       # (1, h, T, nope + rope)
    query = torch.cat([q_nope, q_pe], dim=-1)
    reference_out = layer.attend_absorbed(q_nope, q_pe, latent, k_pe, mask)
    sdpa_out = absorbed_through_sdpa(q_nope, q_pe, latent, k_pe, mask)
    expanded_out = layer.attend(query, key, value, mask)
    core_ms = {"expanded, SDPA over (1, h, t, .)": best_ms(lambda: layer.attend(query, key, value, mask)),
               "absorbed, SDPA enable_gqa over [c_KV | k_pe]": best_ms(
                   lambda: absorbed_through_sdpa(q_nope, q_pe, latent, k_pe, mask)),
               "absorbed, two score einsums (answer key)": best_ms(
                   lambda: layer.attend_absorbed(q_nope, q_pe, latent, k_pe, mask))}
for name, ms in core_ms.items():
    print(f"  {name:44s}: {ms:5.2f} ms")
print(f"  outputs: max |answer key - SDPA form| = {(reference_out - sdpa_out).abs().max().item():.1e}, "
      f"max |absorbed - expanded| = {(reference_out - expanded_out).abs().max().item():.1e}")

# Figure: Kimi-K2, one layer: FLOPs and bytes per decoded token, and the roofline time.
ts = [2 ** i for i in range(10, 18)]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
for mode, style in zip(MODES, ("-", "--", "-.")):
    ax1.plot(ts, [per_token_costs(kimi, t)[mode][0] / 1e9 for t in ts], style, marker="o", ms=3, label=f"{mode}: FLOPs")
    ax2.plot(ts, [max(f / RHO, b) / 2 ** 20 for f, b in (per_token_costs(kimi, t)[mode] for t in ts)], style,
             marker="o", ms=3, label=mode)
ax2.axhline(attn_weights / 2 ** 20, color="gray", lw=1, ls=":", label="attention weights of the layer (batch 1)")
ax1.set_ylabel("GFLOP per decoded token (one layer)")
ax1.set_title("Arithmetic, Kimi-K2 layer")
ax2.set_ylabel("max(FLOP / 300, bytes), MiB-equivalents")
ax2.set_title("Roofline time (300 FLOP per byte), Kimi-K2 layer")
for ax in (ax1, ax2):
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("context t (positions)")
    ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "decode_roofline.png", dpi=110)
print("wrote decode_roofline.png")
