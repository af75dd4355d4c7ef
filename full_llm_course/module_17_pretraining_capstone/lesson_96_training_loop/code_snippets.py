"""Lesson 96: the training loop body. A few tiny steps (not the 240-step reference run) and the reference curve."""

import json
import math
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import kimik2
from kimik2.training import TrainSettings, read_log, train, wsd_learning_rate

torch.set_num_threads(1)
HERE = Path(__file__).parent

# 1. The WSD multiplier the loop applies to every group's peak_lr (reference settings: 240 steps, warmup 20)
print("WSD scale at steps 0, 19, 20, 154, 155, 239:",
      [round(wsd_learning_rate(s, 240, 1.0, 20, 5.5 / 15.5), 4) for s in (0, 19, 20, 154, 155, 239)])

# 2. Six tiny steps: vocab 128, 2 layers, batch 4 x 16 tokens, MuonClip (so max_logit is recorded)
tokens = torch.randint(0, 128, (4000,), generator=torch.Generator().manual_seed(0))
settings = dict(steps=6, batch_size=4, seq_len=16, warmup_steps=2, eval_every=3, eval_batches=2, lr=3e-3, save_every=2)
config = lambda: kimik2.KimiK2Config.tiny(vocab_size=128, num_hidden_layers=2)  # noqa: E731
with tempfile.TemporaryDirectory() as tmp:
    run = Path(tmp) / "run"
    train(TrainSettings(**settings), config(), tokens[:3200], tokens[3200:], run)
    print(f"ln(128) = {math.log(128):.4f}")
    for r in read_log(run):
        extra = {k: round(r[k], 4) for k in ("initial_val_loss", "val_loss") if k in r}
        print(f"step {r['step']}: loss {r['loss']:.4f} lr {r['lr']:.2e} grad_norm {r['grad_norm']:.3f} "
              f"max_violation {r['max_violation']:.3f} max_logit {r['max_logit']:.3f} {extra}")
    print("checkpoints kept:", sorted(p.name for p in run.glob("step_*")))

    # 3. Resume: stop after step 2 is logged; the newest checkpoint holds 2 steps (0, 1), so the line for step 2 is dropped
    killed = Path(tmp) / "killed"

    def stop(record):
        if record["step"] == 2:
            raise KeyboardInterrupt
    try:
        train(TrainSettings(**settings), config(), tokens[:3200], tokens[3200:], killed, on_step=stop)
    except KeyboardInterrupt:
        pass
    print("logged before the stop:", [r["step"] for r in read_log(killed)],
          "| newest checkpoint:", sorted(p.name for p in killed.glob("step_*"))[-1])
    train(TrainSettings(**settings), config(), tokens[:3200], tokens[3200:], killed, resume=True)
    print("after resume:", [r["step"] for r in read_log(killed)],
          "| losses equal the straight run:", [r["loss"] for r in read_log(killed)] == [r["loss"] for r in read_log(run)])

# 4. The reference run (3 seeds of `make demo`), read from the JSON, not retrained here
curve = json.loads((HERE / "../../../src/kimik2/training/reference_curve.json").read_text())
print("reference initial val loss", curve["initial_val_loss_mean"], "| ln(4352) =", round(math.log(4352), 4))
print("reference val loss at steps", curve["val_steps"], "->", curve["val_loss_mean"])

fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
steps = range(240)
a.plot(steps, [1e-2 * wsd_learning_rate(s, 240, 1.0, 20, 5.5 / 15.5) for s in steps])
a.set(title="WSD learning rate (peak 1e-2, 240 steps)", xlabel="step", ylabel="lr")
mean, band = torch.tensor(curve["loss_mean"]), torch.tensor(curve["loss_band"])
b.fill_between(curve["steps"], mean - band, mean + band, alpha=0.3, label="train loss band (3 seeds)")
b.plot(curve["steps"], mean, label="train loss (mean)")
b.plot(curve["val_steps"], curve["val_loss_mean"], "o-", label="val loss (mean)")
b.axhline(math.log(4352), ls="--", c="gray", label="ln(4352)")
b.set(title="Reference run: tiny Kimi-K2 on Shakespeare", xlabel="step", ylabel="loss (nats)")
b.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "training_loop.png", dpi=110)
print("wrote training_loop.png")
