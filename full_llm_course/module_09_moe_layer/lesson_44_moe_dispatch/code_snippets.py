"""Lesson 44: DeepseekV3MoE.dispatch - sort the (token, slot) pairs by expert, run each expert once, add back.

Run: python code_snippets.py   (a few seconds; writes dispatch_sort.png)
"""
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import DeepseekV3MoE, KimiK2Config  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=110)
torch.set_num_threads(1)   # small tensors: one thread is as fast and the timings are steadier

# 1. The index arithmetic on 4 tokens, k = 2 slots each, E = 4 experts.
topk_idx = torch.tensor([[2, 0], [1, 2], [0, 3], [2, 1]])            # (n, k): token t's experts
topk_weight = torch.tensor([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1], [0.5, 0.5]])
top_k = topk_idx.shape[1]
flat = topk_idx.view(-1)                                              # slot s = t * k + j
order = flat.argsort(stable=True)
counts = torch.bincount(flat, minlength=4)
print("flat expert of each slot    :", flat.tolist())
print("order = argsort(stable)     :", order.tolist())
print("flat[order] (sorted experts):", flat[order].tolist())
print("token = order // k          :", (order // top_k).tolist())
print("slot  = order %  k          :", (order % top_k).tolist())
print("weight = topk_weight[order] :", [round(v, 2) for v in topk_weight.view(-1)[order].tolist()])
print("tokens_per_expert           :", counts.tolist())
for e, (tokens, weights) in enumerate(zip((order // top_k).split(counts.tolist()),
                                          topk_weight.view(-1)[order].split(counts.tolist()))):
    print(f"  expert {e}: tokens {tokens.tolist()} weights {[round(v, 2) for v in weights.tolist()]}")

# 2. The real method on a tiny layer with E = 4, k = 2, compared with a per-token loop.
config = KimiK2Config.tiny(n_routed_experts=4, num_experts_per_tok=2, hidden_size=8, moe_intermediate_size=6)
torch.manual_seed(0)
moe = DeepseekV3MoE(config)
x = torch.randn(4, 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
w = topk_weight.clone().requires_grad_()


def per_token_loop(layer, x, topk_idx, topk_weight):
    """The definition: y_t = sum_j w_{t,j} FFN_{e(t,j)}(x_t), one token and one expert at a time."""
    rows = []
    for t in range(x.shape[0]):
        row = torch.zeros(x.shape[1])
        for j in range(topk_idx.shape[1]):
            row = row + topk_weight[t, j] * layer.experts[int(topk_idx[t, j])](x[t])
        rows.append(row)
    return torch.stack(rows)


fast = moe.dispatch(x, topk_idx, w, counts.tolist())
slow = per_token_loop(moe, x, topk_idx, w)
print("dispatch output (4, 8):\n", fast.detach())
print(f"max |dispatch - per-token loop| = {(fast - slow).abs().max().item():.1e}")

# 3. Differentiable: the same gradients for x, the weights and every expert.
probe = torch.randn(4, 8, generator=torch.Generator().manual_seed(2))
inputs = [x, w] + list(moe.experts.parameters())
g_fast = torch.autograd.grad((fast * probe).sum(), inputs, allow_unused=True)
g_slow = torch.autograd.grad((slow * probe).sum(), inputs, allow_unused=True)
worst = max((a - b).abs().max().item() for a, b in zip(g_fast, g_slow) if a is not None)
print("d(loss)/d(topk_weight):\n", g_fast[1])
unused = [i for i, g in enumerate(g_fast[2:]) if g is None]
print(f"max gradient difference (x, topk_weight, 36 expert matrices): {worst:.1e}; "
      f"expert matrices without a gradient: {unused}")

# 4. What goes wrong with the two shortcuts.
tokens_all = order // top_k
outs = torch.cat([moe.experts[e](x[t]) * ww.unsqueeze(-1) for e, (t, ww) in enumerate(
    zip(tokens_all.split(counts.tolist()), topk_weight.view(-1)[order].split(counts.tolist())))])
with torch.no_grad():
    overwrite = torch.zeros(4, 8)
    overwrite[tokens_all] = outs                              # assignment: one of each token's two rows survives
    plus_equal = torch.zeros(4, 8)
    plus_equal[tokens_all] += outs                            # += with repeated indices: same problem
    added = torch.zeros(4, 8).index_add_(0, tokens_all, outs)  # accumulates every row
print(f"assign   : max error {(overwrite - slow).abs().max().item():.3f}")
print(f"+=       : max error {(plus_equal - slow).abs().max().item():.3f}")
print(f"index_add: max error {(added - slow).abs().max().item():.1e}")

def dispatch_with_split(layer, x, topk_idx, topk_weight, tokens_per_expert, accumulator=torch.float32):
    """The same sum, with every expert's piece made up front by split (an earlier version of this lesson),
    accumulated in `accumulator`: float32 as the answer key does, or bf16 for section 5's comparison."""
    order = topk_idx.view(-1).argsort(stable=True)
    token_of_slot = (order // topk_idx.shape[1]).split(tokens_per_expert)
    weight_of_slot = topk_weight.view(-1)[order].split(tokens_per_expert)
    mixed = torch.zeros(x.shape, dtype=accumulator)
    for expert, tokens, weights in zip(layer.experts, token_of_slot, weight_of_slot):
        if tokens.numel():
            mixed.index_add_(0, tokens, expert(x[tokens]).to(accumulator) * weights.to(accumulator).unsqueeze(-1))
    return mixed.to(x.dtype)


def routed_layer(num_tokens, input_seed, **overrides):
    """A fresh layer (weights from seed 0), num_tokens random inputs of width 64, and the layer's own
    routing of them: layer, x, topk_idx, topk_weight, tokens_per_expert."""
    torch.manual_seed(0)
    layer = DeepseekV3MoE(KimiK2Config.tiny(**overrides))
    x = torch.randn(num_tokens, 64, generator=torch.Generator().manual_seed(input_seed))
    with torch.no_grad():
        topk_idx, topk_weight = layer.gate(x)
    counts = torch.bincount(topk_idx.view(-1), minlength=len(layer.experts)).tolist()
    return layer, x, topk_idx, topk_weight, counts


# 5. bf16 activations: float32 accumulation vs accumulating in bf16 (32 experts, top-8, like Kimi-K2's k).
layer, xb, idx, wt, cnt = routed_layer(64, 3, n_routed_experts=32, num_experts_per_tok=8)
with torch.no_grad():
    exact = per_token_loop(layer.double(), xb.double(), idx, wt.double())   # the float64 truth
    layer.bfloat16()
    ours = layer.dispatch(xb.bfloat16(), idx, wt, cnt)
    naive_bf16 = dispatch_with_split(layer, xb.bfloat16(), idx, wt, cnt, accumulator=torch.bfloat16)
for label, y in (("float32 accumulator (ours)", ours), ("bf16 accumulator", naive_bf16)):
    err = (y.double() - exact).abs()
    print(f"bf16 layer, {label:26s}: mean |error| vs float64 {err.mean().item():.2e}, max {err.max().item():.2e}")

# 6. Speed: grouped by expert vs one token at a time (256 tokens, 16 experts, top-4).
layer, xs, idx, wt, cnt = routed_layer(256, 4, n_routed_experts=16, num_experts_per_tok=4)
with torch.no_grad():
    start = time.perf_counter()
    for _ in range(5):
        a = layer.dispatch(xs, idx, wt, cnt)
    t_fast = (time.perf_counter() - start) / 5
    start = time.perf_counter()
    b = per_token_loop(layer, xs, idx, wt)
    t_slow = time.perf_counter() - start
print(f"256 tokens: per-token loop / dispatch time = {t_slow / t_fast:.0f}x (1024 expert calls vs 16); "
      f"max difference {(a - b).abs().max().item():.1e}")

# 7. Decoding: one token, Kimi-K2's 384 experts, top-8. Cutting `order` into 384 pieces up front (split)
#    costs more than running the 8 small experts; the answer key slices out only the 8 runs it uses.
def best_us(fn, repeats=300):
    """Best of 7 timings of `repeats` calls, in microseconds per call."""
    times = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        times.append((time.perf_counter() - start) / repeats * 1e6)
    return min(times)


layer, x1, idx, wt, cnt = routed_layer(1, 5, n_routed_experts=384, num_experts_per_tok=8, moe_intermediate_size=32)
with torch.no_grad():
    same = torch.equal(layer.dispatch(x1, idx, wt, cnt), dispatch_with_split(layer, x1, idx, wt, cnt))
    t_slices = best_us(lambda: layer.dispatch(x1, idx, wt, cnt))
    t_split = best_us(lambda: dispatch_with_split(layer, x1, idx, wt, cnt))
    t_experts = best_us(lambda: [layer.experts[e](x1) for e in idx[0].tolist()])
print(f"one token, 384 experts, top-8: dispatch with slices {t_slices:.0f} us, with split {t_split:.0f} us "
      f"(the 8 expert MLPs alone: {t_experts:.0f} us); outputs identical: {same}")

# 8. Kimi-K2 sizes: one sequence of 4096 tokens.
n, k, E, H = 4096, 8, 384, 7168
print(f"Kimi-K2, n = {n}: order ({n * k},), {n * k / E:.1f} slots per expert on average; "
      f"a sorted (n*k, H) float32 buffer would be {n * k * H * 4 / 2**20:.0f} MiB, "
      f"the (n, H) float32 accumulator {n * H * 4 / 2**20:.0f} MiB")

# Figure: the slots before and after the sort.
colors = plt.get_cmap("tab10")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 2.2]})
ax = axes[0]
for t in range(4):
    for j in range(2):
        e = int(topk_idx[t, j])
        ax.add_patch(plt.Rectangle((j, 3 - t), 1, 1, color=colors(e), alpha=0.75))
        ax.text(j + 0.5, 3.5 - t, f"e{e}\nw={topk_weight[t, j]:.1f}", ha="center", va="center", fontsize=9)
ax.set_xlim(0, 2)
ax.set_ylim(0, 4)
ax.set_xticks([0.5, 1.5], ["slot 0", "slot 1"])
ax.set_yticks([3.5, 2.5, 1.5, 0.5], [f"token {t}" for t in range(4)])
ax.set_title("topk_idx (n=4, k=2): slot s = 2t + j")
ax = axes[1]
for pos, s in enumerate(order.tolist()):
    e = int(flat[s])
    ax.add_patch(plt.Rectangle((pos, 0), 1, 1, color=colors(e), alpha=0.75))
    ax.text(pos + 0.5, 0.5, f"s={s}\nt={s // 2}\nw={topk_weight.view(-1)[s]:.1f}", ha="center", va="center", fontsize=9)
edges = torch.cumsum(counts, 0).tolist()
for e, end in enumerate(edges):
    begin = end - int(counts[e])
    ax.text((begin + end) / 2, 1.05, f"expert {e}\n{int(counts[e])} slot{'s' if counts[e] > 1 else ''}",
            ha="center", va="bottom", fontsize=9)
    ax.axvline(end, color="black", lw=2)
ax.set_xlim(0, 8)
ax.set_ylim(0, 1.5)
ax.set_xticks([i + 0.5 for i in range(8)], [str(i) for i in range(8)])
ax.set_yticks([])
ax.set_xlabel("position after argsort(stable=True); t = order // k")
ax.set_title("sorted by expert, split by tokens_per_expert = [2, 2, 3, 1]")
fig.tight_layout()
fig.savefig(HERE / "dispatch_sort.png", dpi=110)
print("wrote dispatch_sort.png")
