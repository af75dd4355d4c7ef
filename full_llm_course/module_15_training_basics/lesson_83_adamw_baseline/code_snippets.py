"""Lesson 83: AdamW with betas (0.9, 0.95) and decoupled weight decay 0.1 (kimik2.training.trainer.build_optimizer).

Run: python code_snippets.py   (about 8 seconds; needs the corpus: `make data`; writes adamw.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM, count_parameters  # noqa: E402
from kimik2.training import BatchIterator, evaluate, pack_windows  # noqa: E402
from kimik2.training.tokens import corpus_token_streams, corpus_tokenizer  # noqa: E402
from kimik2.training.trainer import TrainSettings, build_optimizer, training_step  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).parent
DATA = Path(__file__).resolve().parents[3] / "data"

# 1. What build_optimizer hands to AdamW.
print("1. build_optimizer(model, TrainSettings(optimizer='adamw')) on the tiny model at vocab 4352")
tokenizer = corpus_tokenizer(DATA)
config = KimiK2Config.tiny(vocab_size=tokenizer.vocab_size, max_position_embeddings=512)
torch.manual_seed(0)
model = KimiK2ForCausalLM(config)
optimizer = build_optimizer(model, TrainSettings(optimizer="adamw", lr=3e-3))
group = optimizer.param_groups[0]
frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
print(f"  {type(optimizer).__name__}: {len(optimizer.param_groups)} group, {len(group['params'])} tensors, "
      f"{sum(p.numel() for p in group['params']):,d} elements")
print(f"  lr {group['lr']}, betas {group['betas']}, eps {group['eps']}, weight_decay {group['weight_decay']}")
print(f"  left out (requires_grad=False): {len(frozen)} tensors, e.g. {frozen[0]}")

# 2. One AdamW step written out, against torch.optim.AdamW.
print("\n2. two AdamW steps by hand vs torch.optim.AdamW (lr 1e-2, betas (0.9, 0.95), wd 0.1)")
g = torch.Generator().manual_seed(1)
w0 = torch.randn(4, 3, generator=g)
grads = [torch.randn(4, 3, generator=g) for _ in range(2)]
lr, (b1, b2), eps, wd = 1e-2, (0.9, 0.95), 1e-8, 0.1
w, m, v = w0.clone(), torch.zeros_like(w0), torch.zeros_like(w0)
for t, grad in enumerate(grads, start=1):
    w = w * (1 - lr * wd)                                   # decoupled decay, on the weights
    m = b1 * m + (1 - b1) * grad                            # first moment
    v = b2 * v + (1 - b2) * grad ** 2                       # second moment
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)     # bias correction
    w = w - lr * m_hat / (v_hat.sqrt() + eps)
    if t == 1:
        print(f"  step 1: every element moves by lr: max | |m_hat / sqrt(v_hat)| - 1 | = "
              f"{((m_hat / v_hat.sqrt()).abs() - 1).abs().max().item():.1e}")
p = torch.nn.Parameter(w0.clone())
torch_adamw = torch.optim.AdamW([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
for grad in grads:
    p.grad = grad.clone()
    torch_adamw.step()
print(f"  max |by hand - torch| after 2 steps: {(w - p.detach()).abs().max().item():.1e}")

# 3. Decoupled decay vs L2 inside Adam: how fast does an unused weight shrink?
print("\n3. 300 steps of zero-mean gradient noise, lr 1e-2, lambda 0.1: final |w| (started at 1)")
steps, noise_scales = 300, (1e-3, 1.0, 1e3)
paths = {}
for kind in ("Adam + L2 (lambda w in the gradient)", "AdamW (decoupled)"):
    for scale in noise_scales:
        w = torch.nn.Parameter(torch.ones(1))
        if kind.startswith("AdamW"):
            opt = torch.optim.AdamW([w], lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
        else:
            opt = torch.optim.Adam([w], lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)   # L2: adds lambda w to g
        noise = torch.Generator().manual_seed(2)
        path = []
        for _ in range(steps):
            w.grad = scale * torch.randn(1, generator=noise)
            opt.step()
            path.append(w.item())
        paths[(kind, scale)] = path
        print(f"  {kind:38s} gradient noise {scale:g}: |w| = {abs(path[-1]):.4f}")
print(f"  pure decay (1 - lr lambda)^300 = {(1 - 1e-2 * 0.1) ** steps:.4f}")

# 4. What the state costs.
print("\n4. optimizer state: AdamW keeps exp_avg and exp_avg_sq, one float32 each per parameter")
batch = pack_windows(torch.randint(0, 4352, (8 * 64,), generator=torch.Generator().manual_seed(3)), 64)
settings = TrainSettings(optimizer="adamw", lr=3e-3, batch_size=8, seq_len=64)
training_step(model, batch, optimizer, settings)
state_bytes = sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values()
                  if torch.is_tensor(t) and t.dim() > 0)
weights = sum(p.numel() for p in model.parameters() if p.requires_grad)
print(f"  tiny model: {weights:,d} trainable weights, {state_bytes:,d} bytes of state = {state_bytes / weights:.0f} B each")
total = count_parameters(KimiK2Config())["total"]
print(f"  Kimi-K2: {total:,d} parameters x 8 B = {total * 8 / 1e12:.1f} TB of AdamW moments (one momentum "
      f"buffer, as Muon keeps: {total * 4 / 1e12:.1f} TB)")
embed = 163840 * 7168
print(f"  Kimi-K2's embed_tokens (163840, 7168): {embed:,d} weights; exp_avg + exp_avg_sq = "
      f"{2 * embed * 4 / 1e9:.2f} GB")
print(f"  decay per step at Kimi-K2's lr 2e-4 and lambda 0.1: lr x lambda = {2e-4 * 0.1:.0e}; "
      f"time constant 1 / (lr lambda) = {1 / (2e-4 * 0.1):,.0f} steps")

# 5. A short AdamW run on Shakespeare: three learning rates, constant, 12 steps of 8 x 64 tokens.
print("\n5. short AdamW runs on the corpus (tiny model, batch 8 x 64, clip 1.0, constant lr)")
train_tokens, validation_tokens = corpus_token_streams(tokenizer, DATA)
train_windows, validation_windows = pack_windows(train_tokens, 64), pack_windows(validation_tokens, 64)
curves = {}
for lr in (1e-3, 3e-3, 1e-2):
    torch.manual_seed(0)
    model = KimiK2ForCausalLM(config)
    settings = TrainSettings(optimizer="adamw", lr=lr, batch_size=8, seq_len=64)
    optimizer = build_optimizer(model, settings)
    batches = BatchIterator(train_windows, batch_size=8, seed=0)
    before = evaluate(model, validation_windows, 16, 2)
    losses = [training_step(model, batches.next_batch(), optimizer, settings)[0].loss.item() for _ in range(12)]
    after = evaluate(model, validation_windows, 16, 2)
    curves[lr] = losses
    print(f"  lr {lr:.0e}: train loss " + " ".join(f"{x:.2f}" for x in losses[:-1:2]) + f" ... {losses[-1]:.2f}; "
          f"validation {before:.3f} -> {after:.3f}")

# Figure: decay paths, and the short runs.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
colors = {1e-3: "tab:blue", 1.0: "tab:orange", 1e3: "tab:green"}
for (kind, scale), path in paths.items():
    decoupled = kind.startswith("AdamW")
    ax1.plot(range(1, steps + 1), [abs(x) for x in path], "-" if decoupled else "--", color=colors[scale],
             lw=3 if decoupled else 1.5, alpha=0.45 if decoupled else 1.0,
             label=f"{kind.split(' (')[0]}, noise {scale:g}")
ax1.plot(range(1, steps + 1), [(1 - 1e-3) ** (s + 1) for s in range(steps)], ":", color="black",
         label="(1 - lr lambda)^t")
ax1.set_yscale("log")
ax1.set_xlabel("step")
ax1.set_ylabel("|w|  (gradient = zero-mean noise)")
ax1.set_title("Weight decay: L2 inside Adam vs decoupled (lr 1e-2, lambda 0.1)")
ax1.legend(fontsize=7)
for lr, losses in curves.items():
    ax2.plot(range(len(losses)), losses, marker="o", ms=3, label=f"lr {lr:.0e}")
ax2.axhline(math.log(tokenizer.vocab_size), color="gray", ls=":", label="ln V")
ax2.set_xlabel("optimizer step (8 x 64 tokens each)")
ax2.set_ylabel("training loss [nats]")
ax2.set_title("Tiny Kimi-K2, AdamW betas (0.9, 0.95), wd 0.1")
ax2.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "adamw.png", dpi=110)
print("wrote adamw.png")
