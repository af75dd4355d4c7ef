"""Lesson 28: every key of Kimi-K2's config.json, who reads it, and the two rope conventions.

Run: python code_snippets.py   (prints the tables quoted in teaching.md, writes config_readers.png)
"""
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import kimik2
from kimik2.config import METADATA_KEYS

HERE = Path(__file__).parent
ROOT = HERE.parents[2]                     # the repository root
SRC = ROOT / "src" / "kimik2"
raw = json.loads((ROOT / "tests" / "fixtures" / "kimi_k2_instruct_config.json").read_text())

# Who reads each key (checked below against the source: every named file must mention the key).
READERS = {
    "vocab_size": ("model",), "hidden_size": ("attention", "mlp", "moe", "model"),
    "intermediate_size": ("mlp",), "moe_intermediate_size": ("mlp", "moe"),
    "num_hidden_layers": ("model", "hf"), "first_k_dense_replace": ("config",), "moe_layer_freq": ("config",),
    "num_attention_heads": ("attention",), "q_lora_rank": ("attention",), "kv_lora_rank": ("attention",),
    "qk_nope_head_dim": ("attention",), "qk_rope_head_dim": ("attention", "rope"), "v_head_dim": ("attention",),
    "attention_bias": ("attention",), "attention_dropout": ("attention",), "rope_theta": ("rope",),
    "rope_scaling": ("rope", "attention"), "max_position_embeddings": ("rope",),
    "n_routed_experts": ("moe",), "n_shared_experts": ("moe",), "num_experts_per_tok": ("moe",),
    "topk_method": ("moe",), "n_group": ("moe",), "topk_group": ("moe",), "norm_topk_prob": ("moe",),
    "routed_scaling_factor": ("moe",), "hidden_act": ("mlp",), "rms_norm_eps": ("model",),
    "initializer_range": ("model",), "tie_word_embeddings": ("model", "hf"),
}
NOT_READ = {  # keys no module computes with: why
    "num_key_value_heads": "MLA gives every head its own k_nope and v",
    "num_nextn_predict_layers": "MTP layers are not part of the main model",
    "scoring_func": "checked == 'sigmoid'; the sigmoid is written in MoEGate",
    "aux_loss_alpha": "training loss weight (module on training)",
    "seq_aux": "training loss switch (module on training)",
    "pretraining_tp": "checked == 1", "use_cache": "forward() takes use_cache as an argument",
    "bos_token_id": "tokenizer / generation", "eos_token_id": "tokenizer / generation",
}

def mentions(module: str, key: str) -> bool:
    return re.search(rf"\b{key}\b", (SRC / f"{module}.py").read_text()) is not None

print(f"config.json of Kimi-K2-Instruct: {len(raw)} keys "
      f"({sum(k in METADATA_KEYS for k in raw)} metadata, {sum(k not in METADATA_KEYS for k in raw)} network fields)")
print(f"{'key':26s} {'value':>12s}  read by")
for key, value in raw.items():
    shown = json.dumps(value) if not isinstance(value, dict) else "{...}"
    if key in METADATA_KEYS:
        reader = "metadata (kept, never used for maths)"
    elif key in READERS:
        assert all(mentions(m, key) for m in READERS[key]), key
        reader = ", ".join(f"{m}.py" for m in READERS[key])
    else:
        reader = "not read: " + NOT_READ[key]
    print(f"  {key:24s} {shown[:12]:>12s}  {reader}")
assert set(raw) == set(READERS) | set(NOT_READ) | (set(raw) & METADATA_KEYS)
fields = {f for f in kimik2.KimiK2Config.__dataclass_fields__} - {"metadata"}
print("fields of KimiK2Config missing from the file (class default used):", sorted(fields - set(raw)))

config = kimik2.KimiK2Config.from_dict(raw)
print("from_dict(file) == kimi_k2() preset (ignoring metadata):",
      {**config.to_dict(), **{k: None for k in METADATA_KEYS}} == {**kimik2.KimiK2Config.kimi_k2().to_dict(), **{k: None for k in METADATA_KEYS}})
print("metadata kept:", sorted(config.metadata))
print("MoE layers:", [i for i in range(config.num_hidden_layers) if config.is_moe_layer(i)][:3], "...",
      f"({sum(config.is_moe_layer(i) for i in range(config.num_hidden_layers))} of {config.num_hidden_layers}); "
      "layer 0 is dense")

print("\ntransformers >= 5 style -> what the config holds:")
yarn = {k: v for k, v in raw["rope_scaling"].items() if k != "type"}
for params in ({"rope_type": "default", "rope_theta": 50000.0},
               {"rope_type": "linear", "factor": 4.0, "rope_theta": 50000.0},
               {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0},
               {"rope_type": "yarn", "rope_theta": 50000.0, **yarn}):
    tiny = kimik2.KimiK2Config.tiny().to_dict()
    del tiny["rope_scaling"], tiny["rope_theta"]
    c = kimik2.KimiK2Config.from_dict({**tiny, "rope_parameters": params})
    print(f"  rope_type {params['rope_type']!r:9s}: rope_theta={c.rope_theta}, rope_scaling={c.rope_scaling}")

print("\nerrors:")
for label, change in (
        ("type and rope_type disagree", {"rope_scaling": {"type": "yarn", "rope_type": "linear", "factor": 2.0}}),
        ("'default' with a factor", {"rope_scaling": None, "rope_parameters": {"rope_type": "default", "factor": 2.0}}),
        ("both conventions at once", {"rope_parameters": {"rope_type": "default"}}),
        ("an unknown key", {"moe_expert_count": 384}),
        ("a rope_scaling key the type does not take", {"rope_scaling": {"type": "linear", "factor": 2.0, "beta_fast": 32}})):
    try:
        kimik2.KimiK2Config.from_dict({**raw, **change})
    except ValueError as error:
        print(f"  {label}: ValueError: {error}")

# Figure: which module reads which key
modules = ["attention", "rope", "mlp", "moe", "model", "config", "hf"]
keys = [k for k in raw if k not in METADATA_KEYS]
keys.sort(key=lambda k: (min((modules.index(m) for m in READERS.get(k, ())), default=99), k))
grid = [[1.0 if m in READERS.get(k, ()) else 0.0 for m in modules] for k in keys]
fig, ax = plt.subplots(figsize=(6.2, 9.5))
ax.imshow(grid, cmap="Blues", vmin=0, vmax=1.4, aspect="auto")
ax.set_xticks(range(len(modules)), [f"{m}.py" for m in modules], rotation=35, ha="right")
ax.set_yticks(range(len(keys)), [k + ("  (not read)" if k in NOT_READ else "") for k in keys], fontsize=7.5)
ax.set_xticks([x - 0.5 for x in range(1, len(modules))], minor=True)
ax.set_yticks([y - 0.5 for y in range(1, len(keys))], minor=True)
ax.grid(which="minor", color="white", lw=1)
ax.tick_params(which="minor", length=0)
ax.set_title(f"Who reads each of the {len(keys)} network keys of config.json\n"
             f"(src/kimik2; {len(raw) - len(keys)} metadata keys not shown)", fontsize=10)
fig.tight_layout()
fig.savefig(HERE / "config_readers.png", dpi=110)
print("wrote config_readers.png")
