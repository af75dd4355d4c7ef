"""Lesson 75: two cache layouts - expanded keys/values or the MLA latent - and what each costs per token.

Run: python code_snippets.py   (about 10 seconds; writes cache_layouts.png)
"""
import copy
from pathlib import Path
import tempfile
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM, KVCache  # noqa: E402

HERE = Path(__file__).parent

# 1. The tiny model in both modes: what the cache of layer 0 holds after a prefill of 2 x 7 tokens.
print("1. tiny model (4 layers, 4 heads, nope 16, rope 16, v 16, kv_lora_rank 32), prefill (2, 7)")
torch.manual_seed(0)
config = KimiK2Config.tiny()
model = KimiK2ForCausalLM(config).eval()
ids = torch.randint(0, config.vocab_size, (2, 8), generator=torch.Generator().manual_seed(1))
for mode in ("expanded", "absorbed"):
    model.set_mla_mode(mode)
    layout = model.model.layers[0].self_attn.cache_layout
    with torch.no_grad():
        cache = model(ids[:, :7], use_cache=True).past_key_values
    print(f"  {mode:8s} -> cache_layout {layout!r:10s}: layer 0 holds {tuple(cache.keys[0].shape)} and "
          f"{tuple(cache.values[0].shape)}; bytes_per_token() = {cache.bytes_per_token()} (float32)")
    with torch.no_grad():
        cache16 = copy.deepcopy(model).bfloat16()(ids[:, :7], use_cache=True).past_key_values
    print(f"  {'':8s}    in bfloat16: bytes_per_token() = {cache16.bytes_per_token()}")

# 2. Kimi-K2's sizes: 61 layers of entries on the meta device (shapes and dtypes, no memory).
print("\n2. Kimi-K2, one decoded position, bf16, 61 layers (cache built on the meta device)")
kimi = KimiK2Config.kimi_k2()
h, nope, rope, v, r = (kimi.num_attention_heads, kimi.qk_nope_head_dim, kimi.qk_rope_head_dim, kimi.v_head_dim,
                       kimi.kv_lora_rank)
shapes = {"expanded": ((1, h, 1, nope + rope), (1, h, 1, v)), "latent": ((1, 1, 1, r), (1, 1, 1, rope))}
per_token = {}
for layout, (key_shape, value_shape) in shapes.items():
    cache = KVCache(layout=layout)
    for layer in range(kimi.num_hidden_layers):
        cache.update(torch.empty(key_shape, dtype=torch.bfloat16, device="meta"),
                     torch.empty(value_shape, dtype=torch.bfloat16, device="meta"), layer)
    per_token[layout] = cache.bytes_per_token()
    values = (cache.keys[0][0, :, 0].numel() + cache.values[0][0, :, 0].numel())
    print(f"  {layout:8s}: per layer {key_shape} + {value_shape} -> {values:5d} values; "
          f"bytes_per_token() = {per_token[layout]:,d}")
print(f"  expanded / latent = {per_token['expanded'] / per_token['latent']:.2f}; "
      f"expanded per layer = k_nope {h * nope} + k_pe copies {h * rope} + v {h * v}")

# 3. Passing a cache of the other layout.
print("\n3. an absorbed model given an expanded cache")
model.set_mla_mode("absorbed")
try:
    with torch.no_grad():
        model(ids[:, :3], past_key_values=KVCache())
except ValueError as error:
    print(f"  ValueError: {error}")
model.set_mla_mode("expanded")

# 4. transformers 5.24 on the same weights: what its cache holds, and what kv_b_proj sees at a decode step.
print("\n4. transformers' DeepseekV3ForCausalLM, same weights: prefill 7 tokens, then decode 1")
import transformers  # noqa: E402
from transformers import DeepseekV3ForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
warnings.filterwarnings("ignore")
with tempfile.TemporaryDirectory() as folder:
    model.save_pretrained(folder)
    theirs = DeepseekV3ForCausalLM.from_pretrained(folder).eval()
seen = []
hook = theirs.model.layers[0].self_attn.kv_b_proj.register_forward_hook(
    lambda module, args, output: seen.append((tuple(args[0].shape), tuple(output.shape))))
with torch.no_grad():
    prefill = theirs(ids[:, :7], use_cache=True)
    their_cache = prefill.cache
    print(f"  {type(their_cache).__name__}, layer 0: keys {tuple(their_cache.layers[0].keys.shape)}, "
          f"values {tuple(their_cache.layers[0].values.shape)}  <- the latent and k_pe, one head each")
    step = theirs(ids[:, 7:], cache=their_cache, use_cache=True)
    ours = model(ids).logits
hook.remove()
for name, (x, y) in zip(("prefill", "decode step"), seen):
    print(f"  {name:11s}: layer 0 kv_b_proj maps {x} -> {y}")
difference = (torch.cat([prefill.logits, step.logits], 1) - ours).abs().max().item()
print(f"  logits vs ours (8 positions): max |difference| = {difference:.1e}")

# Figure: what one token costs in each layout, per layer, Kimi-K2 and DeepSeek-V3.
fig, ax = plt.subplots(figsize=(8.5, 4.2))
models = {"Kimi-K2 (64 heads)": 64, "DeepSeek-V3 (128 heads)": 128}
labels, x = [], 0
for name, heads in models.items():
    parts = [(heads * nope, "k_nope (per head)", "tab:blue"), (heads * rope, "k_pe copied to every head", "tab:cyan"),
             (heads * v, "v (per head)", "tab:orange")]
    bottom = 0
    for value, label, color in parts:
        ax.bar(x, value, bottom=bottom, color=color, label=label if heads == 64 else None)
        bottom += value
    ax.text(x, bottom, f"{bottom:,d}", ha="center", va="bottom", fontsize=9)
    ax.bar(x + 1, r, color="tab:green", label="c_KV latent" if heads == 64 else None)
    ax.bar(x + 1, rope, bottom=r, color="tab:red", label="k_pe (one, shared)" if heads == 64 else None)
    ax.text(x + 1, r + rope, f"{r + rope}", ha="center", va="bottom", fontsize=9)
    labels += [f"{name}\nexpanded", f"{name}\nlatent"]
    x += 2.6
ax.set_xticks([0, 1, 2.6, 3.6], labels, fontsize=8)
ax.set_ylabel("values cached per token per layer")
ax.set_title("What one token leaves in the cache of one layer")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "cache_layouts.png", dpi=110)
print("wrote cache_layouts.png")
