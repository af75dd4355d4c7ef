"""Lesson 66: prove our model equals transformers' DeepseekV3ForCausalLM, then find a planted bug layer by layer.

Run: python code_snippets.py   (about 10 s; writes parity_report.png)
"""
import json
import math
import re
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

import kimik2.rope  # noqa: E402
from kimik2 import KimiK2Config, KimiK2ForCausalLM, parity  # noqa: E402

HERE = Path(__file__).parent
torch.set_num_threads(1)
hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()

# 1. transformers' model, with weights that give O(1) activations (its init would make every difference tiny).
config = KimiK2Config.tiny()
values = config.to_dict()
not_in_transformers = ("topk_method", "scoring_func", "aux_loss_alpha", "seq_aux", "ep_size", "moe_layer_freq",
                       "rope_scaling")
hf_config = DeepseekV3Config(**{k: v for k, v in values.items() if k not in not_in_transformers},
                             rope_scaling=values["rope_scaling"])
torch.manual_seed(0)
theirs = DeepseekV3ForCausalLM(hf_config).eval()
g = torch.Generator().manual_seed(1)
with torch.no_grad():
    for name, p in theirs.named_parameters():
        if "norm" in name:
            p.copy_(torch.rand(p.shape, generator=g) + 0.5)
        elif "embed_tokens" in name:
            p.copy_(torch.randn(p.shape, generator=g))
        else:
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))
    for layer in theirs.model.layers[1:]:
        layer.mlp.gate.e_score_correction_bias.copy_(torch.rand(16, generator=g) * 0.2 - 0.1)
print("transformers keeps experts fused:",
      {k: tuple(v.shape) for k, v in theirs.state_dict().items() if "layers.1.mlp.experts" in k})

# 2. Their checkpoint into our model: save_pretrained / from_pretrained through a folder.
with tempfile.TemporaryDirectory() as folder:
    theirs.save_pretrained(folder)
    saved = json.loads((Path(folder) / "config.json").read_text())
    ours = KimiK2ForCausalLM.from_pretrained(folder).eval()
print("config.json written by transformers: model_type", saved["model_type"], "| rope", saved.get("rope_parameters"))
print("our keys for the same expert:", [k for k in ours.state_dict() if "layers.1.mlp.experts.0." in k])

# 3. Logits, loss and gradients.
ids = torch.randint(0, 512, (2, 16), generator=torch.Generator().manual_seed(2))
labels = ids.clone()
labels[0, :5] = -100
out_ours = ours(ids, labels=labels)
out_theirs = theirs(ids, labels=labels)
print(f"\nlogits: max |ours - theirs| {(out_ours.logits - out_theirs.logits.float()).abs().max():.2e} "
      f"(logits up to {out_theirs.logits.abs().max():.1f})")
print(f"loss:   ours {out_ours.loss.item():.6f}, theirs {out_theirs.loss.item():.6f}")
out_ours.loss.backward()
out_theirs.loss.backward()
their_grads = {}
for name, p in theirs.named_parameters():
    fused = re.match(r"(.*\.experts)\.(gate_up_proj|down_proj)$", name)
    if not fused:
        their_grads[name] = p.grad
        continue
    for e, grad in enumerate(p.grad):   # split the fused tensors back into per-expert gradients
        if fused.group(2) == "down_proj":
            their_grads[f"{fused.group(1)}.{e}.down_proj.weight"] = grad
        else:
            gate, up = grad.chunk(2, dim=0)
            their_grads[f"{fused.group(1)}.{e}.gate_proj.weight"] = gate
            their_grads[f"{fused.group(1)}.{e}.up_proj.weight"] = up
worst = max(((p.grad - their_grads[n]).abs().max().item() / max(1.0, their_grads[n].abs().max().item()), n)
            for n, p in ours.named_parameters() if p.grad is not None)
print(f"gradients: {sum(p.grad is not None for p in ours.parameters())} tensors, worst relative difference "
      f"{worst[0]:.2e} ({worst[1]})")

# 4. The layer-by-layer report when everything agrees.
checkpoints = parity.compare_layer_outputs(ours, theirs, ids)
print("\n== parity report: clean ==")
print(parity.format_report(checkpoints))
runs = {"clean": checkpoints}

# 5. Break one thing: skip the de-interleave of the rope dims (lesson 26) by monkeypatching.
original = kimik2.rope.deinterleave
kimik2.rope.deinterleave = lambda x: x
try:
    runs["no rope de-interleave"] = parity.compare_layer_outputs(ours, theirs, ids)
finally:
    kimik2.rope.deinterleave = original
print("\n== parity report: rope de-interleave skipped ==")
print(parity.format_report(runs["no rope de-interleave"]))

# 6. A quieter bug: layer 2's q_a_layernorm with eps 1e-5 instead of 1e-6 (pitfall 10 of the reference).
norm = ours.model.layers[2].self_attn.q_a_layernorm
norm.variance_epsilon = 1e-5
quiet = parity.compare_layer_outputs(ours, theirs, ids)
norm.variance_epsilon = 1e-6
print(f"\neps 1e-5 in layer 2's q_a_layernorm: layers.2.self_attn differs by {quiet[10].max_abs_diff:.2e} "
      f"(clean: {checkpoints[10].max_abs_diff:.2e}); first divergence: {parity.first_divergence(quiet)}")
# The latent here has RMS about 1, so eps is invisible. Give both models a small latent (the same weights).
with torch.no_grad():
    for model in (ours, theirs):
        model.model.layers[2].self_attn.q_a_proj.weight.mul_(0.003)
    with torch.no_grad():
        latent = ours.model.layers[2].self_attn.q_a_proj(torch.randn(4, 64, generator=g))
    print(f"q_a_proj of layer 2 scaled by 0.003 in both models: latent RMS {latent.pow(2).mean().sqrt():.4f}")
    still_equal = parity.first_divergence(parity.compare_layer_outputs(ours, theirs, ids))
    norm.variance_epsilon = 1e-5
    runs["q_a_layernorm eps 1e-5, small latent (layer 2)"] = parity.compare_layer_outputs(ours, theirs, ids)
    norm.variance_epsilon = 1e-6
    for model in (ours, theirs):
        model.model.layers[2].self_attn.q_a_proj.weight.div_(0.003)
print(f"  correct eps: first divergence {still_equal}")
print("== parity report: eps 1e-5 with a small latent ==")
print(parity.format_report(runs["q_a_layernorm eps 1e-5, small latent (layer 2)"]))

# 7. One perturbed weight: layer 1's o_proj scaled by 1.001.
with torch.no_grad():
    ours.model.layers[1].self_attn.o_proj.weight.mul_(1.001)
runs["o_proj x 1.001 (layer 1)"] = parity.compare_layer_outputs(ours, theirs, ids)
with torch.no_grad():
    ours.model.layers[1].self_attn.o_proj.weight.div_(1.001)
print("\n== o_proj of layer 1 scaled by 1.001 ==")
print(parity.format_report(runs["o_proj x 1.001 (layer 1)"]))

# Figure: max |diff| at every checkpoint, for each run.
names = [c.name.replace("model.", "").replace("layers.", "L") for c in checkpoints]
fig, ax = plt.subplots(figsize=(13, 4.8))
for (label, run), marker in zip(runs.items(), "osD^"):
    ax.semilogy(range(len(run)), [max(c.max_abs_diff, 1e-10) for c in run], marker=marker, label=label)
ax.axhline(1e-5, color="k", ls=":", lw=1, label="atol 1e-5")
ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
ax.set_ylabel("max |ours - transformers| (0 drawn at 1e-10)")
ax.set_title("Parity report: each bug shows up first at the submodule that contains it")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
fig.tight_layout()
fig.savefig(HERE / "parity_report.png", dpi=110)
print("wrote parity_report.png")
