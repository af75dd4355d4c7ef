"""Lesson 55: DeepseekV3Attention.forward, step by step, at Kimi-K2's size and at the tiny size.

Run: python code_snippets.py   (about 10 seconds; writes mla_forward.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import kimik2  # noqa: E402
from kimik2 import DeepseekV3Attention, KimiK2Config, KVCache  # noqa: E402
from kimik2.attention import causal_mask  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, linewidth=110)


def walk(attn, x, show=True):
    """The forward of DeepseekV3Attention (expanded mode, no cache), one step at a time."""
    b, s, _ = x.shape
    steps = [("hidden_states", x)]
    position_ids = torch.arange(0, s)[None]
    q = attn.project_queries(x)
    steps.append(("project_queries -> q", q))
    q_nope, q_pe = q.split([attn.qk_nope_head_dim, attn.qk_rope_head_dim], dim=-1)
    steps += [("  q_nope", q_nope), ("  q_pe", q_pe)]
    compressed_kv, k_pe = attn.project_latent(x)
    steps += [("project_latent -> c_KV", compressed_kv), ("  k_pe (one head)", k_pe)]
    q_pe, k_pe = attn.apply_decoupled_rope(q_pe, k_pe, position_ids, 0)
    steps += [("rope -> q_pe", q_pe), ("rope -> k_pe", k_pe)]
    k_nope, value = attn.expand_latent(compressed_kv)
    steps += [("expand_latent -> k_nope", k_nope), ("  value", value)]
    query = torch.cat([q_nope, q_pe], dim=-1)
    key = torch.cat([k_nope, k_pe.expand(-1, attn.num_heads, -1, -1)], dim=-1)
    steps += [("query = [q_nope | q_pe]", query), ("key = [k_nope | k_pe x heads]", key)]
    out = attn.attend(query, key, value, None)
    steps.append(("attend", out))
    out = out.transpose(1, 2).reshape(b, s, attn.num_heads * attn.v_head_dim)
    steps.append(("transpose + reshape", out))
    out = attn.o_proj(out)
    steps.append(("o_proj", out))
    if show:
        for name, t in steps:
            print(f"  {name:30s} {str(tuple(t.shape)):22s} {t.numel() // (b * s):>7d} values per token")
    return out


# 1. Kimi-K2's real layer: built on the meta device (no memory), then given bf16 storage.
print("1. one Kimi-K2 attention layer, batch 1, 8 tokens, bf16")
config = KimiK2Config()
with torch.device("meta"):
    big = DeepseekV3Attention(config, layer_idx=1)
big = big.to_empty(device="cpu").to(torch.bfloat16)
generator = torch.Generator().manual_seed(0)
with torch.no_grad():
    for name, p in big.named_parameters():
        p.copy_(torch.ones_like(p) if "norm" in name else torch.randn(p.shape, generator=generator) * 0.02)
for name, module in big.named_children():
    if isinstance(module, torch.nn.Linear):
        print(f"  {name:20s} weight {str(tuple(module.weight.shape)):14s} {module.weight.numel():>11,d} params")
print(f"  total {sum(p.numel() for p in big.parameters()):,d} params; softmax_scale {big.softmax_scale:.6f}")
x = torch.randn(1, 8, 7168, generator=generator).bfloat16()
with torch.no_grad():
    stepwise = walk(big, x)
    whole = big(x)
print(f"  forward() vs the steps above: max |diff| = {(whole - stepwise).abs().max().item():.1e}")

# 2. The tiny config, fp32: the same walk and the same forward.
print("\n2. tiny config (4 heads, 16 + 16 query/key dims, 16 value dims), batch 2, 7 tokens")
tiny = KimiK2Config.tiny()
torch.manual_seed(0)
attn = DeepseekV3Attention(tiny, layer_idx=0).eval()
x = 2 * torch.randn(2, 7, 64, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    stepwise = walk(attn, x)
    whole = attn(x)
    with_positions = attn(x, position_ids=torch.arange(7)[None])
print(f"  forward() vs steps: {(whole - stepwise).abs().max().item():.1e}; "
      f"position_ids=None vs arange(7): {(whole - with_positions).abs().max().item():.1e}")
print("  output[0, 0, :6]:", whole[0, 0, :6])

# 3. Decoding with a cache: 5 tokens, then 1, then 1, must equal 7 at once.
print("\n3. prefill 5 tokens, then decode 2 tokens one at a time (expanded KVCache)")
cache = KVCache()
with torch.no_grad():
    parts = []
    for start, stop in ((0, 5), (5, 6), (6, 7)):
        past = cache.get_seq_length(0)
        mask = causal_mask(None, stop - start, past, x.dtype, x.device)
        parts.append(attn(x[:, start:stop], past_key_value=cache))
        print(f"  step {start}:{stop}: past_length {past}, mask {None if mask is None else tuple(mask.shape)}, "
              f"cache keys {tuple(cache.keys[0].shape)} values {tuple(cache.values[0].shape)}")
    cached = torch.cat(parts, dim=1)
print(f"  cached decode vs one full forward: max |diff| = {(cached - whole).abs().max().item():.1e}")

# 4. Two mistakes that keep every shape right.
print("\n4. mistakes that keep the shapes")
with torch.no_grad():
    cache = KVCache()
    attn(x[:, :5], past_key_value=cache)
    wrong_pos = attn(x[:, 5:6], position_ids=torch.zeros(1, 1, dtype=torch.long), past_key_value=cache)
print(f"  decode token 5 at position 0 instead of 5: max |diff| = {(wrong_pos - whole[:, 5:6]).abs().max().item():.3f}")


def qkv(module, hidden):
    q_nope, q_pe = module.project_queries(hidden).split([module.qk_nope_head_dim, module.qk_rope_head_dim], -1)
    c, k_pe = module.project_latent(hidden)
    q_pe, k_pe = module.apply_decoupled_rope(q_pe, k_pe, torch.arange(hidden.shape[1])[None], 0)
    k_nope, v = module.expand_latent(c)
    key = torch.cat([k_nope, k_pe.expand(-1, module.num_heads, -1, -1)], -1)
    return torch.cat([q_nope, q_pe], -1), key, v


with torch.no_grad():
    out = attn.attend(*qkv(attn, x), None)                            # (b, h, s, v)
    no_transpose = attn.o_proj(out.reshape(2, 7, -1))                 # (b, h, s, v) read as (b, s, h*v)
print(f"  reshape without transpose(1, 2): max |diff| = {(no_transpose - whole).abs().max().item():.3f}")

# Figure: the tensors of one layer per token, at Kimi-K2's size, as a flow.
rows = [("x", "(b, s, 7168)", 7168, "io"), ("q_a_proj + norm", "(b, s, 1536)", 1536, "q"),
        ("q_b_proj -> q", "(b, 64, s, 192)", 12288, "q"),
        ("kv_a_proj_with_mqa", "(b, s, 512) + (b, 1, s, 64)", 576, "kv"),
        ("kv_b_proj -> k_nope, v", "(b, 64, s, 128) x 2", 16384, "kv"),
        ("key = [k_nope | k_pe]", "(b, 64, s, 192)", 12288, "kv"), ("attend -> context", "(b, 64, s, 128)", 8192, "attn"),
        ("transpose + reshape", "(b, s, 8192)", 8192, "attn"), ("o_proj", "(b, s, 7168)", 7168, "io")]
palette = {"io": "tab:gray", "q": "tab:blue", "kv": "tab:orange", "attn": "tab:green"}
fig, ax = plt.subplots(figsize=(10, 4.6))
ax.barh(range(len(rows)), [r[2] for r in rows], color=[palette[r[3]] for r in rows])
for i, (name, shape, n, _) in enumerate(rows):
    ax.text(n + 150, i, f"{shape}  {n:,d}", va="center", fontsize=8)
ax.set_yticks(range(len(rows)), [r[0] for r in rows])
ax.invert_yaxis()
ax.set_xlim(0, 24000)
ax.set_xlabel("values per token (one layer, Kimi-K2 sizes)")
ax.set_title("MLA forward, top to bottom: query path (blue), key/value path (orange), attention (green)")
fig.tight_layout()
fig.savefig(HERE / "mla_forward.png", dpi=110)
print("wrote mla_forward.png")
