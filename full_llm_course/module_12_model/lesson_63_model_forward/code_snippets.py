"""Lesson 63: DeepseekV3Model.forward - positions, the no-padding fast path, the mask, the loop, the cache.

Run: python code_snippets.py   (a few seconds; writes masks.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import DeepseekV3Model, KimiK2Config  # noqa: E402
from kimik2.attention import causal_mask  # noqa: E402

HERE = Path(__file__).parent
torch.set_num_threads(1)


def unit_gain_(model, seed=0):
    """Weights that give O(1) activations, so that differences below are meaningful."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embed_tokens" not in name:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g))
    return model


model = unit_gain_(DeepseekV3Model(KimiK2Config.tiny())).eval()
ids = torch.randint(0, 512, (2, 10), generator=torch.Generator().manual_seed(1))

with torch.no_grad():
    # 1. Plain call: (b, s) ids -> (b, s, H) final hidden states, no cache.
    hidden, cache = model(ids)
    print(f"model(ids {tuple(ids.shape)}) -> hidden {tuple(hidden.shape)}, cache {cache}")
    print(f"  RMS per token after the final norm: {[round(v, 4) for v in hidden.pow(2).mean(-1).sqrt()[0, :4].tolist()]}")

    # 2. An all-ones mask is dropped: the fast path gives the same bits.
    ones = torch.ones(2, 10, dtype=torch.long)
    print("all-ones mask == no mask, bit for bit:", torch.equal(model(ids, attention_mask=ones)[0], hidden))
    print("mask built for the fast path:", causal_mask(None, 10, 0, torch.float32, torch.device("cpu")))

    # 3. Left padding: row 0 gets 3 pad tokens in front; its real tokens must not notice.
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), ids[:1, :7]], dim=1)       # (1, 10)
    mask = torch.tensor([[0, 0, 0] + [1] * 7])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out_padded = model(padded, attention_mask=mask, position_ids=positions)[0][:, 3:]
    out_alone = model(ids[:1, :7])[0]
    print(f"left-padded row vs the same 7 tokens alone: max |diff| {(out_padded - out_alone).abs().max():.2e}")
    out_wrong = model(padded, attention_mask=mask)[0][:, 3:]                           # default positions 0..9
    print(f"  same, positions left at their default 0..9: max |diff| {(out_wrong - out_alone).abs().max():.2e} "
          "(RoPE is relative: a constant shift cancels)")
    out_nomask = model(padded, position_ids=positions)[0][:, 3:]
    print(f"  same, no attention_mask (pads attended to): max |diff| {(out_nomask - out_alone).abs().max():.2e}")

    # 4. The cache: prefill 6 tokens, then decode 4 one at a time; compare with the full forward.
    hidden6, cache = model(ids[:, :6], use_cache=True)
    steps = [hidden6]
    print(f"prefill 6 tokens: cache {type(cache).__name__}(layout={cache.layout!r}) holds {cache.get_seq_length()} "
          f"positions, {len(cache.keys)} layers, keys of layer 0 {tuple(cache.keys[0].shape)}")
    for t in range(6, 10):
        step, cache = model(ids[:, t:t + 1], past_key_values=cache, use_cache=True)
        steps.append(step)
    cached = torch.cat(steps, dim=1)
    print(f"after 4 decode steps the cache holds {cache.get_seq_length()} positions; "
          f"cached vs full forward: max |diff| {(cached - hidden).abs().max():.2e}")

# 5. What the fast path saves: an explicit additive mask is (b, 1, s, s) in the model dtype.
for s in (4096, 131072):
    print(f"explicit mask for one sequence of {s:>6} tokens in bf16: {2 * s * s / 2**30:8.3f} GiB")

# Figure: the three masks the model builds.
fig, axes = plt.subplots(1, 3, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1, 1.2]})
fast = torch.ones(10, 10).tril()
pad_mask = causal_mask(torch.tensor([[0, 0, 0] + [1] * 7]), 10, 0, torch.float32, torch.device("cpu"))[0, 0] == 0
decode = causal_mask(torch.tensor([[0, 0, 0] + [1] * 8]), 1, 10, torch.float32, torch.device("cpu"))[0, 0] == 0
for ax, m, title in ((axes[0], fast, "no padding, no cache: mask None\n(SDPA is_causal, nothing built)"),
                     (axes[1], pad_mask.float(), "row 0 left-padded by 3\n(1, 1, 10, 10) additive mask"),
                     (axes[2], decode.float(), "decode step 11 with a cache\n(1, 1, 1, 11) additive mask")):
    ax.imshow(m.numpy(), cmap="Greens", vmin=0, vmax=1.3)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("key position")
    ax.set_ylabel("query position")
    ax.set_xticks(range(m.shape[1]))
    ax.set_yticks(range(m.shape[0]), [str(10 + i) for i in range(m.shape[0])] if m.shape[0] == 1 else
                  [str(i) for i in range(m.shape[0])])
fig.suptitle("green: the query may attend to the key")
fig.tight_layout()
fig.savefig(HERE / "masks.png", dpi=110)
print("wrote masks.png")
