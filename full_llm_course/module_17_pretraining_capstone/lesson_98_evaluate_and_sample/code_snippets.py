"""Lesson 98: sampling from a run. A stand-in corpus and 20 tiny steps (NOT the 240-step reference run)."""

import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2.tokenizer import corpus as corpus_module
from kimik2.training import TrainSettings
from kimik2.training.run import load_run, sample, train_on_corpus

torch.set_num_threads(1)
HERE = Path(__file__).parent
LINES = ["ROMEO: But soft, what light through yonder window breaks?", "JULIET: O Romeo, Romeo, wherefore art thou?",
         "HAMLET: To be, or not to be, that is the question.", "MACBETH: Tomorrow, and tomorrow, and tomorrow."]

with tempfile.TemporaryDirectory() as tmp:
    folder = corpus_module.corpus_dir(Path(tmp) / "data")
    folder.mkdir(parents=True)
    names = [f"work_{i:02d}_gut.txt" for i in range(corpus_module.NUM_WORKS)]
    for i, name in enumerate(names):
        (folder / name).write_text("\n".join(LINES[(i + k) % 4] for k in range(40)) + "\n")
    (folder / "SOURCE.txt").write_text("stand-in\nfiles:\n" + "\n".join(names) + "\n")
    run = Path(tmp) / "run"
    settings = TrainSettings(steps=20, batch_size=4, seq_len=32, warmup_steps=3, eval_every=20, eval_batches=1)
    train_on_corpus(settings, run, data_dir=Path(tmp) / "data", vocab_size=300)
    model, tokenizer = load_run(run)
    model.set_mla_mode("absorbed")          # the latent cache: one (kv_lora_rank + rope) row per token and layer

prompt_ids = [tokenizer.bos_id] + tokenizer.encode("ROMEO:")
print("prompt ids (BOS first):", prompt_ids, "| bos", tokenizer.bos_id, "eos", tokenizer.eos_id,
      "| vocab", tokenizer.vocab_size)
print("greedy:        ", repr(sample(model, tokenizer, "ROMEO:", max_new_tokens=16, temperature=0.0, top_k=None)))
for t, k in [(0.8, 50), (1.5, None)]:
    print(f"T={t}, top_k={k}:".ljust(15), repr(sample(model, tokenizer, "ROMEO:", max_new_tokens=16, temperature=t,
                                                     top_k=k, seed=0)))

# the streaming decoder holds back a character until all its bytes have arrived
ids = tokenizer.encode("café ☃")
decoder = tokenizer.streaming_decoder()
print("ids for 'café ☃':", ids)
print("pushed one by one ->", [decoder.push(i) for i in ids] + [decoder.flush()])
print("decoded one id at a time ->", [tokenizer.decode([i]) for i in ids])

# temperature and top-k on the next-token distribution after "ROMEO:"
with torch.no_grad():
    logits = model(torch.tensor([prompt_ids])).logits[0, -1]
fig, ax = plt.subplots(figsize=(8, 3.8))
order = logits.argsort(descending=True)[:12]
labels = [repr(tokenizer.decode([int(i)]))[1:-1].replace(" ", "␣") for i in order]
for j, t in enumerate([0.5, 1.0, 1.5]):
    p = torch.softmax(logits / t, -1)[order]
    ax.bar(torch.arange(12) + (j - 1) * 0.27, p, width=0.27, label=f"T = {t}")
    print(f"T={t}: top token {labels[0]!r} p = {p[0]:.3f}, top-5 mass {p[:5].sum():.3f}")
ax.set_xticks(range(12), labels, rotation=45, fontsize=8)
ax.set(title="Next token after BOS + 'ROMEO:' (tiny model, 20 steps on a stand-in corpus)",
       xlabel="12 most likely tokens (top_k=5 keeps the first 5)", ylabel="probability")
ax.axvline(4.5, c="gray", ls="--")
ax.legend()
fig.tight_layout()
fig.savefig(HERE / "temperature.png", dpi=110)
print("wrote temperature.png")
