"""Lesson 18: build_rotary_embedding picks the RoPE class from config.rope_scaling.

Run: python code_snippets.py   (prints the table quoted in teaching.md)
"""
import torch

from kimik2 import KimiK2Config
from kimik2.attention import DeepseekV3Attention
from kimik2.rope import build_rotary_embedding

configs = {
    "tiny, rope_scaling None": KimiK2Config.tiny(rope_scaling=None),
    "tiny, linear 4": KimiK2Config.tiny(rope_scaling={"type": "linear", "factor": 4.0}),
    "tiny, dynamic 2": KimiK2Config.tiny(rope_scaling={"type": "dynamic", "factor": 2.0}),
    "tiny, yarn (preset)": KimiK2Config.tiny(),
    "tiny, yarn (2 keys)": KimiK2Config.tiny(rope_scaling={"type": "yarn", "factor": 4.0,
                                                           "original_max_position_embeddings": 256}),
    "Kimi-K2": KimiK2Config.kimi_k2(),
    "DeepSeek-V3": KimiK2Config.deepseek_v3(),
}
print(f"{'config':24s} {'class':44s} {'dim':>4s} {'base':>8s} {'max_pos':>8s}  extra")
for name, config in configs.items():
    rope = build_rotary_embedding(config)
    extra = ""
    if hasattr(rope, "scaling_factor"):
        extra = f"factor {rope.scaling_factor:g}"
    if hasattr(rope, "beta_fast"):
        extra += (f", orig {rope.original_max_position_embeddings}, beta_fast {rope.beta_fast:g}, "
                  f"beta_slow {rope.beta_slow:g}, mscale {rope.mscale:g}, mscale_all_dim {rope.mscale_all_dim:g}")
    print(f"{name:24s} {type(rope).__name__:44s} {rope.dim:4d} {rope.base:8g} {rope.max_position_embeddings:8d}  {extra}")

config = KimiK2Config.kimi_k2()
print("Kimi-K2 hidden_size / num_attention_heads =", config.hidden_size // config.num_attention_heads,
      "but the RoPE dim is qk_rope_head_dim =", config.qk_rope_head_dim)

attention = DeepseekV3Attention(KimiK2Config.tiny(), layer_idx=0)
print("DeepseekV3Attention(tiny).rotary_emb:", type(attention.rotary_emb).__name__)

try:
    KimiK2Config.tiny(rope_scaling={"type": "ntk", "factor": 2.0})
except ValueError as error:
    print("ValueError:", error)
try:
    KimiK2Config.tiny(rope_scaling={"type": "linear", "factor": 2.0, "beta_fast": 32.0})
except ValueError as error:
    print("ValueError:", error)

cos, sin = build_rotary_embedding(KimiK2Config.kimi_k2())(torch.zeros(1, dtype=torch.bfloat16), seq_len=8)
print("Kimi-K2 rotary_emb(x, seq_len=8):", tuple(cos.shape), cos.dtype)
