"""Lesson 99: export a tiny Kimi-K2 to the Hugging Face layout and load it with transformers."""

import json
import logging
import tempfile
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from safetensors import safe_open
from transformers import DeepseekV3ForCausalLM
from transformers.utils import logging as hf_logging

import kimik2
from kimik2.hf import save_pretrained

torch.set_num_threads(1)
hf_logging.set_verbosity_error()
logging.getLogger("kimik2").setLevel(logging.ERROR)
HERE = Path(__file__).parent


def group(name):
    for key in ("embed_tokens", "lm_head", "self_attn", "experts", "shared_experts", "mlp.gate.", "norm"):
        if key in name:
            return key.strip(".")
    return "dense mlp"


sizes = {}
for tied in (False, True):
    torch.manual_seed(0)
    model = kimik2.KimiK2ForCausalLM(kimik2.KimiK2Config.tiny(vocab_size=4352, tie_word_embeddings=tied)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp)
        config = json.loads((Path(tmp) / "config.json").read_text())
        with safe_open(str(Path(tmp) / "model.safetensors"), framework="pt") as handle:
            names = list(handle.keys())
            by_group = Counter()
            for key in names:
                by_group[group(key)] += handle.get_tensor(key).numel() * 4
        file_bytes = (Path(tmp) / "model.safetensors").stat().st_size
        theirs = DeepseekV3ForCausalLM.from_pretrained(tmp).eval()
        batch = torch.randint(0, 4352, (2, 32), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            diff = (theirs(batch).logits - model(batch).logits).abs().max().item()
    sizes[tied] = by_group
    print(f"tie_word_embeddings={tied}: {len(names)} tensors, model.safetensors {file_bytes:,} bytes, "
          f"lm_head.weight stored: {'lm_head.weight' in names}")
    print(f"  transformers {type(theirs).__name__}: max |logit difference| = {diff:.2e}")
print("config.json:", {k: config[k] for k in ("model_type", "architectures", "torch_dtype", "vocab_size",
      "hidden_size", "kv_lora_rank", "qk_rope_head_dim", "n_routed_experts", "num_experts_per_tok",
      "first_k_dense_replace", "topk_method", "scoring_func", "routed_scaling_factor", "tie_word_embeddings")})
print("some tensor names:", [n for n in names if n.startswith("model.layers.1.")][:6])
print("bias buffer saved:", "model.layers.1.mlp.gate.e_score_correction_bias" in names)

fig, ax = plt.subplots(figsize=(8, 3.8))
groups = sorted(sizes[False], key=lambda g: -sizes[False][g])
for j, tied in enumerate((False, True)):
    ax.bar([i + (j - 0.5) * 0.4 for i in range(len(groups))], [sizes[tied].get(g, 0) / 1e6 for g in groups],
           width=0.4, label=f"tie_word_embeddings={tied}")
ax.set_xticks(range(len(groups)), groups, rotation=20)
ax.set(title="model.safetensors of the tiny preset (vocab 4352, fp32) by tensor group", ylabel="MB")
ax.legend()
fig.tight_layout()
fig.savefig(HERE / "export_sizes.png", dpi=110)
print("wrote export_sizes.png")
