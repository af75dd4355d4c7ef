"""Lesson 17: dynamic NTK's forward: grow, keep, and go back to the original base.

Run: python code_snippets.py   (prints the numbers quoted in teaching.md)
"""
import torch

from kimik2 import DeepseekV3DynamicNTKScalingRotaryEmbedding, DeepseekV3RotaryEmbedding
from kimik2.rope import rotate_half


def base_in_use(rope):
    """Read the base back from the slowest frequency: inv_freq[-1] = base^(-(d-2)/d)."""
    return rope.inv_freq[-1].double().item() ** (-rope.dim / (rope.dim - 2))


x = torch.zeros(1)
rope = DeepseekV3DynamicNTKScalingRotaryEmbedding(16, max_position_embeddings=1024, base=10000.0, scaling_factor=2.0)
print(" call         rebuilt  rows cached  base in use")
for seq_len in (300, 200, 1500, 1200, 3000, 100):
    before = getattr(rope, "cos_cached", None)
    cos, sin = rope(x, seq_len=seq_len)
    rebuilt = rope.cos_cached is not before
    print(f" forward({seq_len:4d})  {str(rebuilt):7s}  {rope.max_seq_len_cached:11d}  {base_in_use(rope):11.1f}")

fresh = DeepseekV3DynamicNTKScalingRotaryEmbedding(16, max_position_embeddings=1024, base=10000.0, scaling_factor=2.0)
print("after the reset, forward(100) equals a fresh module's:", torch.equal(cos, fresh(x, seq_len=100)[0]))

# Without the reset rule (the remote modeling_deepseek.py behaviour): call the base class's forward.
old = DeepseekV3DynamicNTKScalingRotaryEmbedding(16, max_position_embeddings=1024, base=10000.0, scaling_factor=2.0)
DeepseekV3RotaryEmbedding.forward(old, x, 3000)
stale = DeepseekV3RotaryEmbedding.forward(old, x, 100)[0]
print(f"without the reset, forward(100) after forward(3000) uses base {base_in_use(old):.1f}; "
      f"max |cos - fresh cos| = {(stale - cos).abs().max().item():.4f}")

# The KV-cache inconsistency: decode past max_position_embeddings one token at a time.
dim, max_pos = 64, 4096
rope = DeepseekV3DynamicNTKScalingRotaryEmbedding(dim, max_position_embeddings=max_pos, base=50000.0, scaling_factor=2.0)
g = torch.Generator().manual_seed(0)
q, k = torch.randn(dim, generator=g), torch.randn(dim, generator=g)
key_pos = 100
rotate = lambda v, cos, sin, p: v * cos[p] + rotate_half(v) * sin[p]
cos, sin = rope(x, seq_len=max_pos + 1)                  # prefill of 4097 tokens: table built with base'(4097)
k_cached = rotate(k, cos, sin, key_pos)                  # key stored in the cache with that rotation
print(f"prefill of {max_pos + 1} tokens: base {base_in_use(rope):.1f}")
for length in (max_pos + 2, 6000, 8192):
    cos, sin = rope(x, seq_len=length)                   # the table is rebuilt for every longer length
    q_now = rotate(q, cos, sin, length - 1)
    k_now = rotate(k, cos, sin, key_pos)                 # what the key would be under today's base
    print(f"decode to {length}: base {base_in_use(rope):9.1f}; score with cached key {q_now @ k_cached:8.4f}, "
          f"with a re-rotated key {q_now @ k_now:8.4f}")
