"""Lesson 86: checkpoints that resume bit for bit and survive a kill mid-save (kimik2.training.checkpoint).

Run: python code_snippets.py   (about 8 seconds; needs the corpus: `make data`; writes resume.png)
"""
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import kimik2.training.checkpoint as checkpoint  # noqa: E402
from kimik2 import KimiK2Config, KimiK2ForCausalLM  # noqa: E402
from kimik2.training import (BatchIterator, TrainSettings, latest_checkpoint, load_checkpoint,  # noqa: E402
                             pack_windows, read_log, train)
from kimik2.training.tokens import corpus_token_streams, corpus_tokenizer  # noqa: E402
from kimik2.training.trainer import build_optimizer, training_step  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).parent
DATA = Path(__file__).resolve().parents[3] / "data"

tokenizer = corpus_tokenizer(DATA)
train_tokens, validation_tokens = corpus_token_streams(tokenizer, DATA)
train_tokens, validation_tokens = train_tokens[:40_000], validation_tokens[:4_000]      # a small slice: fast
config = KimiK2Config.tiny(vocab_size=tokenizer.vocab_size, max_position_embeddings=512)
settings = TrainSettings(steps=6, optimizer="adamw", lr=3e-3, warmup_steps=2, batch_size=4, seq_len=64,
                         save_every=2, eval_every=3, eval_batches=1)


def listing(folder):
    rows = []
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".jsonl":                         # its size varies with the logged tokens/s
            rows.append(f"    {str(path.relative_to(folder)):40s} {len(path.read_text().splitlines()):>10d} lines")
        elif path.is_file():
            rows.append(f"    {str(path.relative_to(folder)):40s} {path.stat().st_size:>10,d} B")
    return "\n".join(rows)


with tempfile.TemporaryDirectory() as scratch:
    scratch = Path(scratch)

    # 1. A straight run and a run killed after step 3, then resumed.
    print("1. train(): 6 steps, a checkpoint every 2; the second run is killed while logging step 2")
    train(settings, config, train_tokens, validation_tokens, scratch / "straight")

    def kill_after_step_2(record):
        if record["step"] == 2:
            raise KeyboardInterrupt                        # as if the process died here

    try:
        train(settings, config, train_tokens, validation_tokens, scratch / "killed", on_step=kill_after_step_2)
    except KeyboardInterrupt:
        pass
    killed = scratch / "killed"
    print(f"  after the kill: log has steps {[r['step'] for r in read_log(killed)]}; latest -> "
          f"{(killed / 'latest').read_text().strip()}")
    train(settings, config, train_tokens, validation_tokens, killed, resume=True)
    straight_losses = [r["loss"] for r in read_log(scratch / "straight")]
    resumed_losses = [r["loss"] for r in read_log(killed)]
    print(f"  straight: {[f'{x:.6f}' for x in straight_losses]}")
    print(f"  resumed : {[f'{x:.6f}' for x in resumed_losses]}")
    print(f"  bit for bit equal: {straight_losses == resumed_losses}; validation losses equal: "
          f"{[r.get('val_loss') for r in read_log(killed)] == [r.get('val_loss') for r in read_log(scratch / 'straight')]}")
    print("  the run folder:")
    print(listing(killed))

    # 2. What trainer.pt holds.
    print("\n2. trainer.pt of the latest checkpoint")
    model, state = load_checkpoint(killed)
    for key, value in state.items():
        if key == "optimizer":
            moments = sum(t.numel() for s in value["state"].values() for t in s.values() if t.dim() > 0)
            print(f"  optimizer : {len(value['state'])} tensors' state, {moments:,d} moment values, "
                  f"param_groups lr {value['param_groups'][0]['lr']:.2e} (peak_lr {value['param_groups'][0]['peak_lr']})")
        elif key == "rng":
            print(f"  rng       : {value.dtype} tensor of {value.numel():,d} bytes (torch.get_rng_state())")
        elif key == "settings":
            print(f"  settings  : {len(value)} fields, e.g. steps={value['steps']}, seq_len={value['seq_len']}, "
                  f"seed={value['seed']}")
        else:
            print(f"  {key:10s}: {value}")

    # 3. A kill while the checkpoint is being written.
    print("\n3. killed inside save_checkpoint (torch.save writes half a file, then the process dies)")
    real_save = torch.save

    def dies_half_way(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise OSError("killed")

    torch.save = dies_half_way
    try:
        checkpoint.save_checkpoint(killed, 7, model, state)
    except OSError:
        pass
    finally:
        torch.save = real_save
    print(listing(killed))
    print(f"  latest_checkpoint -> {latest_checkpoint(killed).name}; it loads: step {load_checkpoint(killed)[1]['step']}")

    # 4. A kill after the rename, before `latest` is replaced.
    print("\n4. killed between os.replace(folder) and replace_text(latest)")
    real_replace_text = checkpoint.replace_text

    def dies(*args, **kwargs):
        raise OSError("killed")

    checkpoint.replace_text = dies
    try:
        checkpoint.save_checkpoint(killed, 8, model, dict(state, step=8))
    except OSError:
        pass
    finally:
        checkpoint.replace_text = real_replace_text
    print(f"  folders: {sorted(p.name for p in killed.iterdir() if p.is_dir())}; latest -> "
          f"{latest_checkpoint(killed).name}")
    checkpoint.save_checkpoint(killed, 8, model, dict(state, step=8))
    print(f"  the next save of step 8: folders {sorted(p.name for p in killed.iterdir() if p.is_dir())}; latest -> "
          f"{latest_checkpoint(killed).name} (keep_last=2 pruned step 4; the step-7 .partial stays until a save of step 7)")


# 5. What each piece of state is for: resume a manual loop with one piece missing.
print("\n5. an 8-step loop killed after 4 steps (0-3), resumed with everything / without one piece")
windows = pack_windows(train_tokens, 64)
loop = TrainSettings(optimizer="adamw", lr=3e-3, batch_size=4, seq_len=64)


def run(steps, model=None, optimizer=None, batches=None):
    if model is None:
        torch.manual_seed(0)
        model = KimiK2ForCausalLM(config)
        optimizer = build_optimizer(model, loop)
        batches = BatchIterator(windows, 4, seed=0)
    losses = [training_step(model, batches.next_batch(), optimizer, loop)[0].loss.item() for _ in range(steps)]
    return losses, model, optimizer, batches


straight, *_ = run(8)
first, model, optimizer, batches = run(4)
saved = dict(model=model.state_dict(), optimizer=optimizer.state_dict(), data=batches.state_dict())
curves = {"straight": straight}
for label, skip in (("resumed (weights, optimizer, data)", None), ("resumed without optimizer state", "optimizer"),
                    ("resumed without data position", "data")):
    torch.manual_seed(123)                                  # a different init, overwritten by the loaded weights
    model = KimiK2ForCausalLM(config)
    model.load_state_dict(saved["model"])
    optimizer = build_optimizer(model, loop)
    if skip != "optimizer":
        optimizer.load_state_dict(saved["optimizer"])
    batches = BatchIterator(windows, 4, seed=0)
    if skip != "data":
        batches.load_state_dict(saved["data"])
    rest, *_ = run(4, model, optimizer, batches)
    curves[label] = first + rest
    same = first + rest == straight
    print(f"  {label:36s}: steps 4-7 " + " ".join(f"{x:.4f}" for x in rest) + f"  bit-equal: {same}")
print("  straight run                        : steps 4-7 " + " ".join(f"{x:.4f}" for x in straight[4:]))

# 6. Sizes at Kimi-K2's scale.
print("\n6. what a checkpoint weighs at Kimi-K2's size (1,026,408,232,448 parameters)")
total = 1_026_408_232_448
for label, bytes_per in (("weights in bf16", 2), ("float32 master weights", 4), ("AdamW moments (2 x fp32)", 8),
                         ("one fp32 momentum (Muon)", 4)):
    print(f"  {label:26s}: {total * bytes_per / 1e12:5.1f} TB")

# Figure: the loss of the straight run and of the resumed variants.
fig, ax = plt.subplots(figsize=(7.5, 4.2))
styles = {"straight": dict(lw=6, alpha=0.3, color="black"),
          "resumed (weights, optimizer, data)": dict(marker="o", ms=4, color="tab:green"),
          "resumed without optimizer state": dict(marker="s", ms=4, color="tab:red", ls="--"),
          "resumed without data position": dict(marker="^", ms=4, color="tab:orange", ls=":")}
for label, losses in curves.items():
    ax.plot(range(8), losses, label=label, **styles[label])
ax.axvline(3.5, color="gray", ls=":")
ax.text(3.6, max(straight) - 0.05, "killed after step 3,\nresumed", fontsize=8)
ax.set_xlabel("optimizer step")
ax.set_ylabel("training loss [nats]")
ax.set_title("Resuming needs the optimizer state and the data position")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "resume.png", dpi=110)
print("wrote resume.png")
