"""A training run on the course corpus, end to end: the tiny preset, the corpus tokenizer, the
run folder (tokenizer file, log, checkpoints), sampling from a run, and checking a run's losses
against the published reference curve (course module 17; `kimi-course train / sample / check-run`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import KimiK2Config
from ..generation import generate
from ..model import KimiK2ForCausalLM
from ..tokenizer import KimiTokenizer
from .checkpoint import load_checkpoint
from .tokens import DEFAULT_VOCAB, corpus_token_streams, corpus_tokenizer, tokenizer_path
from .trainer import TrainSettings, TrainingError, train

PRESETS: dict[str, dict[str, Any]] = {
    # KimiK2Config.tiny (4 layers, hidden 64, 16 experts, 4 active + 1 shared) at the corpus vocabulary
    "tiny": dict(max_position_embeddings=512),
}
TOKENIZER_FILE = "tokenizer.tiktoken"
REFERENCE_CURVE = Path(__file__).with_name("reference_curve.json")


def model_config(preset: str, vocab_size: int) -> KimiK2Config:
    # BEGIN SOLUTION lesson_97
    if preset not in PRESETS:
        raise TrainingError(f"preset {preset!r}: choose one of {sorted(PRESETS)}")
    return KimiK2Config.tiny(vocab_size=vocab_size, **PRESETS[preset])
    # END SOLUTION


def train_on_corpus(settings: TrainSettings, run_dir: str | Path, preset: str = "tiny", data_dir: str | Path = "data",
                    vocab_size: int = DEFAULT_VOCAB, resume: bool = False,
                    on_step: Callable[[dict[str, Any]], None] | None = None) -> KimiK2ForCausalLM:
    """Train on Shakespeare; the run folder gets the tokenizer, log.jsonl and step_* checkpoints."""
    # BEGIN SOLUTION lesson_97
    run_dir = Path(run_dir)
    tokenizer = corpus_tokenizer(data_dir, vocab_size)
    train_tokens, validation_tokens = corpus_token_streams(tokenizer, data_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / TOKENIZER_FILE).exists():
        shutil.copyfile(tokenizer_path(data_dir, vocab_size), run_dir / TOKENIZER_FILE)
    return train(settings, model_config(preset, tokenizer.vocab_size), train_tokens, validation_tokens, run_dir,
                 resume=resume, on_step=on_step)
    # END SOLUTION


def train_with_progress(settings: TrainSettings, run_dir: str | Path, console, **options) -> KimiK2ForCausalLM:
    """:func:`train_on_corpus` behind a rich progress bar on ``console``: steps done, time elapsed
    and left, the latest loss and validation loss. ``options``: preset, data_dir, vocab_size, resume."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), TextColumn("{task.fields[status]}"), console=console) as bar:
        task = bar.add_task("train", total=settings.steps, status="training the tokenizer, encoding the corpus")

        def on_step(record: dict[str, Any]) -> None:
            status = f"loss {record['loss']:.3f}"
            if "val_loss" in record:
                status += f"  val {record['val_loss']:.3f}"
            bar.update(task, completed=record["step"] + 1, status=status)
        return train_on_corpus(settings, run_dir, on_step=on_step, **options)


def load_run(run_dir: str | Path) -> tuple[KimiK2ForCausalLM, KimiTokenizer]:
    """The latest checkpoint's model (eval mode) and the run's tokenizer."""
    run_dir = Path(run_dir)
    if not (run_dir / TOKENIZER_FILE).exists():
        raise TrainingError(f"{run_dir} has no {TOKENIZER_FILE}: pass the --out folder of `kimi-course train`")
    model, _ = load_checkpoint(run_dir)
    return model.eval(), KimiTokenizer.from_file(run_dir / TOKENIZER_FILE)


def sample(model: KimiK2ForCausalLM, tokenizer: KimiTokenizer, prompt: str, max_new_tokens: int = 100,
           temperature: float = 0.8, top_k: int | None = 50, top_p: float | None = None, seed: int | None = 0,
           stream: Callable[[str], None] | None = None) -> str:
    """Continue ``prompt``; ``stream`` receives the text as it is decoded (never half a character)."""
    # BEGIN SOLUTION lesson_98
    prompt_ids = [tokenizer.bos_id] + tokenizer.encode(prompt)
    decoder = tokenizer.streaming_decoder()
    pieces: list[str] = []

    def on_tokens(tokens: torch.Tensor) -> None:
        text = decoder.push(int(tokens[0]))
        pieces.append(text)
        if stream is not None and text:
            stream(text)
    generate(model, torch.tensor([prompt_ids]), max_new_tokens=max_new_tokens, temperature=temperature,
             top_k=top_k, top_p=top_p, stop_ids=[tokenizer.eos_id], seed=seed, stream=on_tokens)
    tail = decoder.flush()
    if stream is not None and tail:
        stream(tail)
    return "".join(pieces) + tail
    # END SOLUTION


def check_run(records: list[dict[str, Any]], settings: dict[str, Any] | None = None,
              reference_file: Path | None = None) -> tuple[bool, list[tuple[int, float, float, float, bool]]]:
    """Compare a run's logged losses with the reference curve at its checkpoints.

    Returns (on_track, rows of (step, your loss, reference mean, allowed band, ok)). The band is
    wide enough to hold every seed of the reference runs plus a margin (see reference_curve.json).
    """
    reference = json.loads((reference_file or REFERENCE_CURVE).read_text())
    if settings is not None:
        different = sorted(k for k in reference["settings"] if settings.get(k) != reference["settings"][k])
        if different:
            raise TrainingError(f"this run's settings differ from the reference run's in {', '.join(different)}; "
                                f"the reference is `kimi-course train {reference['command']}`")
    losses = {record["step"]: record["loss"] for record in records}
    rows = []
    for step, mean, band in zip(reference["steps"], reference["loss_mean"], reference["loss_band"]):
        if step in losses:
            rows.append((step, losses[step], mean, band, abs(losses[step] - mean) <= band))
    if not rows:
        raise TrainingError("the log has none of the reference steps yet: train longer, or pass the right log.jsonl")
    return all(row[-1] for row in rows), rows


def reference_settings() -> TrainSettings:
    """The settings of the reference run (what `make demo` trains)."""
    return TrainSettings(**json.loads(REFERENCE_CURVE.read_text())["settings"]) if REFERENCE_CURVE.exists() \
        else TrainSettings()

