"""Lesson 74: the KV cache - what decoding re-uses, what it saves, and the cache's two methods.

Run: python code_snippets.py   (about 10 seconds on a laptop; writes cache_vs_recompute.png)
"""
from pathlib import Path
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM, KVCache  # noqa: E402
from kimik2.size import forward_flops_per_token  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, linewidth=110)

# 1. KVCache by hand: update appends along dim 2 and returns everything cached so far.
print("1. KVCache.update by hand (layer 0, batch 1, 2 heads, key dim 3, value dim 2)")
g = torch.Generator().manual_seed(0)
cache = KVCache()
for length in (3, 1, 1):
    keys, values = cache.update(torch.randn(1, 2, length, 3, generator=g), torch.randn(1, 2, length, 2, generator=g), 0)
    print(f"  update with {length} position(s) -> keys {tuple(keys.shape)}, values {tuple(values.shape)}, "
          f"get_seq_length() = {cache.get_seq_length()}")
print(f"  layer 1 was never updated: get_seq_length(1) = {cache.get_seq_length(1)}")

# 2. Greedy decoding of the tiny model, with and without the cache.
print("\n2. tiny model, greedy: prompt of 8 tokens, 24 new tokens")
torch.manual_seed(0)
config = KimiK2Config.tiny()
model = KimiK2ForCausalLM(config).eval()
prompt = torch.randint(0, config.vocab_size, (1, 8), generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    tokens, recompute_logits, positions_recomputed = prompt, [], 0
    for _ in range(24):                                        # no cache: the whole prefix, every step
        logits = model(tokens).logits[:, -1]                   # (1, vocab)
        positions_recomputed += tokens.shape[1]
        recompute_logits.append(logits)
        tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], dim=1)

    out = model(prompt, use_cache=True)                         # prefill: 8 positions into the cache
    cache, cached_tokens, cached_logits, positions_cached = out.past_key_values, prompt, [], prompt.shape[1]
    print(f"  after prefill: layer 0 keys {tuple(cache.keys[0].shape)}, values {tuple(cache.values[0].shape)}")
    for step in range(24):
        logits = out.logits[:, -1]
        cached_logits.append(logits)
        next_token = logits.argmax(-1, keepdim=True)            # (1, 1)
        cached_tokens = torch.cat([cached_tokens, next_token], dim=1)
        if step < 23:
            out = model(next_token, past_key_values=cache)      # one new position against the cache
            positions_cached += 1
    print(f"  after 23 steps: layer 0 keys {tuple(cache.keys[0].shape)}, get_seq_length() = {cache.get_seq_length()}")
difference = max((a - b).abs().max().item() for a, b in zip(recompute_logits, cached_logits))
print(f"  same tokens: {torch.equal(tokens, cached_tokens)}; max |logit difference| over 24 steps = {difference:.1e}")
print(f"  positions run through the model: {positions_recomputed} without cache, {positions_cached} with it")
print(f"  new tokens: {tokens[0, 8:].tolist()}")

# 3. Cost of one step at growing context: a full forward (no cache) vs one cached position.
print("\n3. one decoding step of the tiny model at context c (best of 3, milliseconds)")
ids = torch.randint(0, config.vocab_size, (1, 1025), generator=torch.Generator().manual_seed(2))


def best_of_3(step) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


contexts, no_cache_ms, cache_ms = (16, 64, 256, 1024), [], []
with torch.no_grad():
    for c in contexts:
        no_cache_ms.append(best_of_3(lambda: model(ids[:, :c + 1])))             # recompute c + 1 positions
        prefilled = model(ids[:, :c], use_cache=True).past_key_values

        def one_cached_step():
            copy = KVCache(prefilled.layout)                                     # fresh dicts: the prefill stays c long
            copy.keys, copy.values = dict(prefilled.keys), dict(prefilled.values)
            model(ids[:, c:c + 1], past_key_values=copy)
        cache_ms.append(best_of_3(one_cached_step))
        print(f"  c = {c:4d}: no cache {no_cache_ms[-1]:7.1f} ms   with cache {cache_ms[-1]:5.1f} ms")

# 4. The same at Kimi-K2's size, by formula: F(c) = A + B c FLOPs for one token attending to c positions.
print("\n4. Kimi-K2, generating N tokens after a prompt of P tokens (FLOPs, formula of lesson 32)")
kimi = KimiK2Config.kimi_k2()
A = forward_flops_per_token(kimi, 0)
B = forward_flops_per_token(kimi, 1) - A
print(f"  F(c) = A + B c with A = {A / 1e9:.1f} GFLOP (weights), B = {B / 1e6:.2f} MFLOP per context position")


def S(m: int) -> float:
    """FLOPs of a forward over m tokens, token c attending to c positions: sum of F(1..m)."""
    return A * m + B * m * (m + 1) / 2


def generation_flops(P: int, N: int) -> tuple[float, float]:
    """N new tokens after P prompt tokens. With the cache: the prefill, then N - 1 single-token steps,
    so every position is computed once: S(P + N - 1). Without: step i re-runs all P + i tokens."""
    return S(P + N - 1), sum(S(P + i) for i in range(N))


for P, N in ((1000, 1000), (4000, 4000), (30000, 2000)):
    cached, recomputed = generation_flops(P, N)
    print(f"  P = {P:5d}, N = {N:4d}: with cache {cached / 1e15:8.2f} PFLOP, without {recomputed / 1e15:10.1f} PFLOP "
          f"({recomputed / cached:6.0f}x)")

# Figure: positions processed and measured time per step.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
steps = range(1, 201)
ax1.plot(steps, [8 + s for s in steps], label="no cache: the whole prefix (8 + step)")
ax1.plot(steps, [1 for _ in steps], label="with cache: the one new token")
ax1.set_xlabel("decoding step")
ax1.set_ylabel("positions run through the model")
ax1.set_title("Work per step (total: quadratic vs linear)")
ax1.legend(fontsize=8)
ax2.plot(contexts, no_cache_ms, "o-", label="no cache (full forward of c + 1 tokens)")
ax2.plot(contexts, cache_ms, "s-", label="with cache (1 token, c cached)")
ax2.set_xscale("log", base=2)
ax2.set_yscale("log")
ax2.set_xlabel("context c")
ax2.set_ylabel("milliseconds per step (best of 3)")
ax2.set_title("Measured on the tiny model (CPU)")
ax2.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "cache_vs_recompute.png", dpi=110)
print("wrote cache_vs_recompute.png")
