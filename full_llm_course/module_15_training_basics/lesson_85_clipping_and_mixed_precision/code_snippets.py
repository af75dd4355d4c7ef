"""Lesson 85: one training step - global-norm clipping, bf16 autocast on CPU, the non-finite guard
(kimik2.training.trainer.training_step).

Run: python code_snippets.py   (about 8 seconds; needs the corpus: `make data`; writes clipping_bf16.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM, MoEGate  # noqa: E402
from kimik2.training import BatchIterator, pack_windows  # noqa: E402
from kimik2.training.tokens import corpus_token_streams, corpus_tokenizer  # noqa: E402
from kimik2.training.trainer import TrainSettings, build_optimizer, training_step  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).parent
DATA = Path(__file__).resolve().parents[3] / "data"

tokenizer = corpus_tokenizer(DATA)
train_tokens, _ = corpus_token_streams(tokenizer, DATA)
windows = pack_windows(train_tokens, 64)
config = KimiK2Config.tiny(vocab_size=tokenizer.vocab_size, max_position_embeddings=512)
batch = BatchIterator(windows, batch_size=8, seed=0).next_batch()                   # (8, 64)


def fresh_model():
    torch.manual_seed(0)
    return KimiK2ForCausalLM(config)


# 1. The global norm, by hand and by clip_grad_norm_.
print("1. global gradient norm of one batch (tiny model, batch 8 x 64, fresh weights)")
model = fresh_model()
model(batch, labels=batch).loss.backward()
norms = {name: p.grad.norm().item() for name, p in model.named_parameters() if p.grad is not None}
by_hand = math.sqrt(sum(n ** 2 for n in norms.values()))
largest = sorted(norms.items(), key=lambda item: -item[1])[:3]
print(f"  {len(norms)} gradient tensors; largest: " + ", ".join(f"{n} {v:.3f}" for n, v in largest))
before = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
returned = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
after = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
print(f"  sqrt(sum of squared tensor norms) = {by_hand:.6f}; clip_grad_norm_ returned {returned.item():.6f}")
print(f"  clipped to max_norm 0.25: new norm {after.double().norm().item():.6f}, "
      f"factor {after.double().norm().item() / by_hand:.6f} "
      f"= 0.25 / ({by_hand:.6f} + 1e-6); cosine(before, after) = "
      f"{F.cosine_similarity(before.double(), after.double(), dim=0).item():.6f}")

# 2. A short run with clipping at 1.0: how often does it act?
print("\n2. 24 AdamW steps at lr 3e-3 (constant), clip 1.0: gradient norm before clipping")
model = fresh_model()
settings = TrainSettings(optimizer="adamw", lr=3e-3, batch_size=8, seq_len=64, grad_clip=1.0)
optimizer = build_optimizer(model, settings)
batches = BatchIterator(windows, batch_size=8, seed=0)
grad_norms, losses = [], []
for step in range(24):
    output, grad_norm = training_step(model, batches.next_batch(), optimizer, settings)
    grad_norms.append(grad_norm.item())
    losses.append(output.loss.item())
print("  " + " ".join(f"{g:.2f}" for g in grad_norms))
trained = {name: t.clone() for name, t in model.state_dict().items()}
print(f"  clipped on {sum(g > 1.0 for g in grad_norms)} of 24 steps; largest {max(grad_norms):.2f} "
      f"(step {grad_norms.index(max(grad_norms))}); loss {losses[0]:.3f} -> {losses[-1]:.3f}")

# 3. bf16 autocast on CPU: which layers run in bf16?
print("\n3. dtypes inside torch.autocast('cpu', dtype=torch.bfloat16), fresh model, one forward")
model = fresh_model()
seen = {}


def record(name):
    def hook(module, inputs, output):
        out = output[0] if isinstance(output, tuple) else output
        seen.setdefault(name, (inputs[0].dtype, out.dtype))
    return hook


for name in ("model.layers.1.input_layernorm", "model.layers.1.self_attn.q_a_proj", "model.layers.1.self_attn",
             "model.layers.1.mlp.experts.0", "model.layers.1.mlp", "model.layers.1", "model.norm", "lm_head"):
    model.get_submodule(name).register_forward_hook(record(name))
with torch.autocast("cpu", dtype=torch.bfloat16):
    output = model(batch, labels=batch)
for name, (dtype_in, dtype_out) in seen.items():
    print(f"  {name:36s} {str(dtype_in):15s} -> {dtype_out}")
print(f"  logits {output.logits.dtype}, loss {output.loss.dtype}, weights {model.lm_head.weight.dtype}")
with torch.autocast("cpu", dtype=torch.bfloat16):
    probe = torch.randn(2, 5).bfloat16()
    print(f"  under CPU autocast: softmax(bf16) -> {F.softmax(probe, -1).dtype}, "
          f"cross_entropy(bf16) -> {F.cross_entropy(probe, torch.tensor([0, 1])).dtype}, "
          f"linear(x.float(), w.float()) -> {F.linear(probe.float(), torch.randn(3, 5)).dtype}")

# 4. fp32 vs bf16 on one batch: loss, logits, gradients; then routing.
print("\n4. the same batch in fp32 and under bf16 autocast (the weights after the 24 steps of section 2)")
runs = {}
for tag, bf16 in (("fp32", False), ("bf16", True)):
    model = fresh_model()
    model.load_state_dict(trained)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        output = model(batch, labels=batch)
    output.loss.backward()
    runs[tag] = (output.loss.item(), output.logits.detach(),
                 torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
(loss32, logits32, grad32), (loss16, logits16, grad16) = runs["fp32"], runs["bf16"]
print(f"  loss fp32 {loss32:.6f}, bf16 {loss16:.6f}, difference {loss16 - loss32:+.2e}")
print(f"  logits: max |bf16 - fp32| = {(logits16 - logits32).abs().max().item():.2e} "
      f"(logit scale {logits32.abs().max().item():.2f})")
print(f"  gradients: cosine similarity {F.cosine_similarity(grad32.double(), grad16.double(), dim=0).item():.5f}, "
      f"relative norm error {((grad16.double() - grad32.double()).norm() / grad32.double().norm()).item():.3f}")
picks = {}
model = fresh_model()
for name, gate in model.named_modules():
    if isinstance(gate, MoEGate):
        gate.register_forward_hook(lambda module, inputs, output, name=name:
                                   picks.setdefault(name, []).append(output[0].sort(dim=-1).values))
with torch.no_grad():
    model(batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(batch)
print("  fresh weights, tokens whose 4 experts differ under bf16: "
      + ", ".join(f"layer {name.split('.')[2]} {(a != b).any(-1).float().mean().item():.1%}"
                  for name, (a, b) in picks.items()))
eps = torch.finfo(torch.bfloat16).eps
print(f"  bf16: 8 significant bits, eps {eps}; spacing near 1: {eps}, near 12 (ln 163840): {8 * eps}, "
      f"near 16: {16 * eps}")

# 5. The guard: a non-finite loss leaves everything untouched.
print("\n5. the non-finite guard")
model = fresh_model()
optimizer = build_optimizer(model, TrainSettings(optimizer="adamw"))
with torch.no_grad():
    model.model.norm.weight[0] = float("inf")                  # poison one weight: the loss becomes NaN
snapshot = {name: t.clone() for name, t in model.state_dict().items()}
output, grad_norm = training_step(model, batch, optimizer, TrainSettings(optimizer="adamw"))
unchanged = all(torch.equal(t.nan_to_num(), snapshot[n].nan_to_num()) for n, t in model.state_dict().items())
print(f"  training_step returned ({output}, {grad_norm}); weights unchanged: {unchanged}; "
      f"gradients: {sum(p.grad is not None for p in model.parameters())} tensors; optimizer state entries: "
      f"{len(optimizer.state)}")

# 6. Kimi-K2 scale.
print("\n6. the global norm at Kimi-K2's scale")
kimi = KimiK2Config()
per_layer = 7 + 2                                           # attention projections and norms, then the two layer norms
dense = per_layer + 3                                       # gate_proj, up_proj, down_proj
moe = per_layer + 3 * kimi.n_routed_experts + 3 * kimi.n_shared_experts + 1     # experts, shared, router weight
tensors = 3 + kimi.first_k_dense_replace * dense + (kimi.num_hidden_layers - kimi.first_k_dense_replace) * moe
print(f"  trainable tensors: embed + norm + lm_head + {kimi.first_k_dense_replace} x {dense} + "
      f"{kimi.num_hidden_layers - kimi.first_k_dense_replace} x {moe} = {tensors:,d}")
print(f"  elements: {1_026_408_232_448 - 60 * 384:,d} (all parameters but the 60 x 384 frozen router biases)")
print("  sharded over devices: each device sums the squares of its shard, one all-reduce adds the partial sums")

# Figure: gradient norms over the run, and the bf16 logit error.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
ax1.plot(range(24), grad_norms, marker="o", ms=3, label="global norm before clipping")
ax1.plot(range(24), [min(g, 1.0) for g in grad_norms], marker="o", ms=3, label="after clipping (max_norm 1.0)")
ax1.axhline(1.0, color="gray", ls=":")
ax1.set_xlabel("optimizer step")
ax1.set_ylabel("gradient norm")
ax1.set_title("Tiny Kimi-K2, AdamW lr 3e-3: clipping caps the spikes")
ax1.legend(fontsize=8)
error = (logits16 - logits32).flatten()
ax2.scatter(logits32.flatten()[::31].numpy(), error[::31].numpy(), s=2, alpha=0.3)
ax2.set_xlabel("fp32 logit")
ax2.set_ylabel("bf16 logit - fp32 logit")
ax2.set_title("bf16 autocast: the logit error doubles at |logit| = 1, 2, 4")
fig.tight_layout()
fig.savefig(HERE / "clipping_bf16.png", dpi=110)
print("wrote clipping_bf16.png")
