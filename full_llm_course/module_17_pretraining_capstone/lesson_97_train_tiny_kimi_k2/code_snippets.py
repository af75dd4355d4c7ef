"""Lesson 97: the tiny preset, the corpus tokenizer, a 3-step run on a stand-in corpus, the reference curve."""

import json
import math
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2 import count_parameters
from kimik2.tokenizer import corpus as corpus_module
from kimik2.training import TrainSettings, read_log
from kimik2.training.run import REFERENCE_CURVE, check_run, model_config, train_on_corpus

torch.set_num_threads(1)
HERE = Path(__file__).parent

# 1. The tiny preset at the corpus vocabulary (4096 BPE tokens = 256 bytes + 3840 merges, + 256 specials)
config = model_config("tiny", 4096 + 256)
print("tiny preset:", {k: getattr(config, k) for k in ("vocab_size", "hidden_size", "num_hidden_layers",
      "n_routed_experts", "num_experts_per_tok", "n_shared_experts", "num_attention_heads", "kv_lora_rank",
      "max_position_embeddings", "tie_word_embeddings")})
counts = count_parameters(config)
embed = 2 * config.vocab_size * config.hidden_size
print(f"parameters: total {counts['total']:,} active {counts['active']:,}; embedding + lm_head {embed:,} "
      f"({embed / counts['total']:.0%} of the total)")

# 2. A 3-step run on a stand-in corpus (the real one is data/shakespeare; this only shows the run folder)
lines = ["ROMEO: But soft, what light through yonder window breaks?", "JULIET: O Romeo, Romeo, wherefore art thou?"]
with tempfile.TemporaryDirectory() as tmp:
    folder = corpus_module.corpus_dir(Path(tmp) / "data")
    folder.mkdir(parents=True)
    names = [f"work_{i:02d}_gut.txt" for i in range(corpus_module.NUM_WORKS)]
    for i, name in enumerate(names):
        (folder / name).write_text("\n".join(lines[(i + k) % 2] for k in range(40)) + "\n")
    (folder / "SOURCE.txt").write_text("stand-in\nfiles:\n" + "\n".join(names) + "\n")
    settings = TrainSettings(steps=3, batch_size=2, seq_len=32, warmup_steps=1, eval_every=3, eval_batches=1)
    model = train_on_corpus(settings, Path(tmp) / "run", data_dir=Path(tmp) / "data", vocab_size=300)
    print("stand-in vocab:", model.config.vocab_size, "= 300 BPE tokens (256 bytes + 44 merges) + 256 specials")
    print("run folder:", sorted(p.name for p in (Path(tmp) / "run").iterdir()))
    for r in read_log(Path(tmp) / "run"):
        print(f"  step {r['step']} loss {r['loss']:.4f}", {k: round(r[k], 4) for k in ("initial_val_loss", "val_loss") if k in r})
    print(f"  ln(556) = {math.log(556):.4f}")

# 3. The reference run, read from reference_curve.json (3 seeds of `make demo`; not retrained here)
curve = json.loads(REFERENCE_CURVE.read_text())
print("reference command:", curve["command"])
print(f"initial val loss {curve['initial_val_loss_mean']} vs ln(4352) = {math.log(4352):.4f}")
print("val loss:", dict(zip(curve["val_steps"], curve["val_loss_mean"])))
print("train loss at 239:", curve["loss_mean"][-1], "+-", curve["loss_band"][-1])

# 4. check-run on a made-up log 0.1 above the mean everywhere, and one 0.4 above at step 120
fake = [dict(step=s, loss=m + 0.1) for s, m in zip(curve["steps"], curve["loss_mean"])]
print("check_run, 0.1 above the mean:", check_run(fake)[0])
fake[6]["loss"] = curve["loss_mean"][6] + 0.4
print("check_run, 0.4 above at step 120:", check_run(fake)[0])

steps, mean, band = curve["steps"], torch.tensor(curve["loss_mean"]), torch.tensor(curve["loss_band"])
fig, ax = plt.subplots(figsize=(7, 4))
ax.fill_between(steps, mean - band, mean + band, alpha=0.3, label="check-run accepts (mean ± band)")
ax.plot(steps, mean, "o-", label="reference train loss (mean of 3 seeds)")
ax.plot(curve["val_steps"], curve["val_loss_mean"], "s--", label="reference val loss")
ax.axhline(math.log(4352), c="gray", ls=":", label="ln(4352) = uniform guess")
ax.set(title="What `kimi-course train --out runs/mine` should give", xlabel="step", ylabel="loss (nats)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "reference_band.png", dpi=110)
print("wrote reference_band.png")
