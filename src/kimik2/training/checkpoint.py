"""Checkpoints that resume exactly and survive a crash mid-save (course module 15).

A checkpoint is a folder ``step_NNNNNNN/`` holding the model in the Hugging Face layout
(config.json + model.safetensors, loadable by transformers) and ``trainer.pt``: optimizer state,
RNG state, step, data position and the run's settings. It is written under a temporary name and
renamed into place, then the ``latest`` file is replaced to point at it: a kill at any moment
leaves the previous checkpoint and ``latest`` intact.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..hf import CheckpointError
from ..model import KimiK2ForCausalLM

TRAINER_FILE = "trainer.pt"
LATEST_FILE = "latest"


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (write a temp file, flush to disk, rename over)."""
    # BEGIN SOLUTION lesson_86
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    # END SOLUTION


def save_checkpoint(run_dir: Path, step: int, model: KimiK2ForCausalLM, trainer_state: dict[str, Any],
                    keep_last: int = 2) -> Path:
    """Write checkpoint ``step`` into ``run_dir`` and point ``latest`` at it; keep the newest
    ``keep_last`` checkpoints. Returns the checkpoint folder."""
    # BEGIN SOLUTION lesson_86
    final = run_dir / f"step_{step:07d}"
    temporary = run_dir / f".step_{step:07d}.partial"
    shutil.rmtree(temporary, ignore_errors=True)             # left by an earlier crash
    model.save_pretrained(temporary)
    torch.save(trainer_state, temporary / TRAINER_FILE)
    if final.exists():
        shutil.rmtree(final)
    os.replace(temporary, final)
    replace_text(run_dir / LATEST_FILE, final.name + "\n")
    for old in sorted(run_dir.glob("step_*"))[:-keep_last]:
        shutil.rmtree(old)
    return final
    # END SOLUTION


def latest_checkpoint(run_dir: Path) -> Path:
    """The folder ``latest`` points at, checked to hold both files."""
    pointer = run_dir / LATEST_FILE
    if not pointer.exists():
        raise CheckpointError(f"no checkpoint in {run_dir} (no '{LATEST_FILE}' file): start a run without "
                              "--resume, or pass the folder a run wrote")
    folder = run_dir / pointer.read_text().strip()
    for name in ("config.json", "model.safetensors", TRAINER_FILE):
        if not (folder / name).exists():
            raise CheckpointError(f"{folder} has no {name}: the checkpoint is incomplete; delete it and point "
                                  f"{pointer} at an earlier step_* folder")
    return folder


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """The trainer state (settings, step, optimizer, random states) saved in checkpoint ``folder``."""
    path = folder / TRAINER_FILE
    try:
        return torch.load(path, weights_only=False)
    except Exception as error:  # a truncated or foreign file: say which one
        raise CheckpointError(f"{path} cannot be read ({type(error).__name__}: {error}); "
                              "the checkpoint is damaged: delete it and resume from an earlier one") from error


def load_checkpoint(run_dir: Path) -> tuple[KimiK2ForCausalLM, dict[str, Any]]:
    """The model and the trainer state of the latest checkpoint in ``run_dir``."""
    folder = latest_checkpoint(run_dir)
    trainer_state = read_trainer_state(folder)
    return KimiK2ForCausalLM.from_pretrained(folder), trainer_state
