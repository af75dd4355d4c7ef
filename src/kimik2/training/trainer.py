"""The training loop: WSD learning rate, gradient clipping, optional bf16 autocast, the
auxiliary-loss-free bias update after every step, the optional sequence-wise balance loss,
a JSON-lines log, periodic atomic checkpoints and exact resumption (course modules 15 and 17)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..balance import max_violation, reset_expert_load, update_correction_biases
from ..config import KimiK2Config
from ..model import CausalLMOutput, KimiK2ForCausalLM
from ..qk_clip import MuonClip
from .checkpoint import load_checkpoint, replace_text, save_checkpoint
from .data import BatchIterator, pack_windows
from .schedule import wsd_learning_rate

OPTIMIZERS = ("adamw", "muon", "muonclip")
LOG_FILE = "log.jsonl"


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, bad settings); the message says what to do."""


@dataclass
class TrainSettings:
    steps: int = 240                       # the defaults are the reference run (reference_curve.json)
    optimizer: str = "muonclip"
    lr: float = 1e-2
    weight_decay: float = 0.1
    warmup_steps: int = 20
    decay_fraction: float = 5.5 / 15.5      # Kimi-K2's proportions (schedule.py)
    batch_size: int = 16
    seq_len: int = 128
    grad_clip: float = 1.0
    bias_update_speed: float = 1e-3        # DeepSeek-V3's gamma
    aux_loss_alpha: float = 0.0            # sequence-wise balance loss weight; 0 leaves it out
    qk_clip_tau: float = 100.0
    bf16: bool = False
    seed: int = 0
    save_every: int = 0                    # 0: only at the end
    eval_every: int = 40
    eval_batches: int = 4

    def check(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"optimizer {self.optimizer!r}: choose one of {OPTIMIZERS}")
        for name in ("steps", "batch_size", "seq_len", "eval_every", "eval_batches"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{name} = {getattr(self, name)}: must be at least 1")
        if self.lr <= 0 or self.save_every < 0 or self.warmup_steps < 0:
            raise TrainingError("lr must be > 0, save_every and warmup_steps >= 0")


def build_optimizer(model: KimiK2ForCausalLM, settings: TrainSettings) -> torch.optim.Optimizer:
    """AdamW on every parameter, or MuonClip (Muon for hidden matrices + AdamW), with QK-Clip
    off ("muon": tau = inf) or on ("muonclip")."""
    # BEGIN SOLUTION lesson_83
    if settings.optimizer == "adamw":
        parameters = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.AdamW(parameters, lr=settings.lr, betas=(0.9, 0.95), weight_decay=settings.weight_decay)
    tau = settings.qk_clip_tau if settings.optimizer == "muonclip" else math.inf
    return MuonClip(model, lr=settings.lr, weight_decay=settings.weight_decay, qk_clip_tau=tau)
    # END SOLUTION


def training_step(model: KimiK2ForCausalLM, batch: torch.Tensor, optimizer: torch.optim.Optimizer,
                  settings: TrainSettings) -> tuple[CausalLMOutput | None, torch.Tensor | None]:
    """One optimizer step on ``batch`` (b, s): forward (bf16 autocast if asked), the LM loss plus
    the balance loss if it is on, backward, gradient clipping to ``grad_clip``, step. Returns the
    output and the gradient norm before clipping, or (None, None) - weights untouched - when the
    loss is not finite."""
    # BEGIN SOLUTION lesson_85
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=settings.bf16):
        output = model(batch, labels=batch)
    loss = output.loss
    if output.aux_loss is not None and settings.aux_loss_alpha > 0:
        loss = loss + output.aux_loss
    if not torch.isfinite(loss):
        return None, None
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return output, grad_norm
    # END SOLUTION


@torch.no_grad()
def evaluate(model: KimiK2ForCausalLM, windows: torch.Tensor, batch_size: int, batches: int) -> float:
    """Mean loss over the first ``batches`` x ``batch_size`` validation windows (a fixed set)."""
    # BEGIN SOLUTION lesson_82
    was_training = model.training
    model.eval()
    losses = [model(chunk, labels=chunk).loss.item()
              for chunk in windows[:batches * batch_size].split(batch_size)]
    model.train(was_training)
    return sum(losses) / len(losses)
    # END SOLUTION


def max_attention_logit(optimizer: torch.optim.Optimizer) -> float | None:
    """The largest logit any head produced this step (MuonClip records it; AdamW does not)."""
    logits = getattr(optimizer, "last_max_logits", {})
    return max(float(values.max()) for values in logits.values()) if logits else None


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / LOG_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def train(settings: TrainSettings, model_config: KimiK2Config, train_tokens: torch.Tensor,
          validation_tokens: torch.Tensor, run_dir: str | Path, resume: bool = False,
          on_step: Callable[[dict[str, Any]], None] | None = None) -> KimiK2ForCausalLM:
    """Train (or resume) a model on the token streams; one JSON object per step in run_dir/log.jsonl.

    Resuming restores weights, optimizer, RNG, step and data position, so the losses that follow
    equal those of an uninterrupted run bit for bit on CPU.
    """
    settings.check()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    train_windows = pack_windows(train_tokens, settings.seq_len)
    validation_windows = pack_windows(validation_tokens, settings.seq_len)
    batches = BatchIterator(train_windows, settings.batch_size, settings.seed)
    if resume:
        model, state = load_checkpoint(run_dir)
        if state["settings"] != asdict(settings):
            changed = sorted(k for k in state["settings"] if state["settings"][k] != asdict(settings)[k])
            raise TrainingError(f"--resume with different settings ({', '.join(changed)}): resume with the "
                                "settings the run started with, or start a new run in another folder")
        optimizer = build_optimizer(model, settings)
        optimizer.load_state_dict(state["optimizer"])
        batches.load_state_dict(state["data"])
        torch.set_rng_state(state["rng"])
        start = state["step"]
        kept = [record for record in read_log(run_dir) if record["step"] < start]  # drop steps after the save
        replace_text(run_dir / LOG_FILE, "".join(json.dumps(record) + "\n" for record in kept))
    else:
        if (run_dir / LOG_FILE).exists():
            raise TrainingError(f"{run_dir} already holds a run: pass --resume to continue it, or choose a new "
                                "--out folder (nothing was overwritten)")
        torch.manual_seed(settings.seed)
        model_config.aux_loss_alpha = settings.aux_loss_alpha
        model = KimiK2ForCausalLM(model_config)
        optimizer = build_optimizer(model, settings)
        start = 0
    initial_validation_loss = None if resume else evaluate(model, validation_windows, settings.batch_size,
                                                                 settings.eval_batches)
    for group in optimizer.param_groups:
        group.setdefault("peak_lr", group["lr"])
    model.train()

    def checkpoint(step: int) -> Path:
        state = dict(step=step, settings=asdict(settings), optimizer=optimizer.state_dict(),
                     data=batches.state_dict(), rng=torch.get_rng_state())
        return save_checkpoint(run_dir, step, model, state)

    last_saved = None
    with open(run_dir / LOG_FILE, "a") as log:
        for step in range(start, settings.steps):
            # BEGIN SOLUTION lesson_96
            began = time.perf_counter()
            scale = wsd_learning_rate(step, settings.steps, 1.0, settings.warmup_steps, settings.decay_fraction)
            for group in optimizer.param_groups:
                group["lr"] = group["peak_lr"] * scale
            batch = batches.next_batch()                                          # (b, s)
            reset_expert_load(model)
            output, grad_norm = training_step(model, batch, optimizer, settings)
            if output is None:
                where = f"the last good checkpoint is {last_saved}" if last_saved else "no checkpoint was saved yet"
                raise TrainingError(f"the loss is not finite at step {step}; {where}. Lower --lr (now "
                                    f"{settings.lr}) or turn on QK-Clip (--optimizer muonclip)")
            load = update_correction_biases(model, settings.bias_update_speed)
            record = dict(step=step, loss=output.loss.item(), lr=optimizer.param_groups[0]["lr"],
                          grad_norm=grad_norm.item(), max_violation=max_violation(load).mean().item(),
                          max_logit=max_attention_logit(optimizer),
                          tokens_per_s=batch.numel() / (time.perf_counter() - began))
            if output.aux_loss is not None:        # the model reports it when settings.aux_loss_alpha > 0
                record["aux_loss"] = output.aux_loss.item()
            if step == 0 and initial_validation_loss is not None:
                record["initial_val_loss"] = initial_validation_loss      # before any update
            if (step + 1) % settings.eval_every == 0 or step + 1 == settings.steps:
                record["val_loss"] = evaluate(model, validation_windows, settings.batch_size, settings.eval_batches)
            if settings.save_every and (step + 1) % settings.save_every == 0 or step + 1 == settings.steps:
                last_saved = checkpoint(step + 1)
            log.write(json.dumps(record) + "\n")
            log.flush()
            if on_step is not None:
                on_step(record)
            # END SOLUTION
    return model
