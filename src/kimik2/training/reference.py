"""The reference curve `kimi-course check-run` compares a run with: the default settings (what
`make demo` trains) run with several seeds, the mean training loss at every 20th step with a band
around it, the mean validation losses, and the figure in the README (course lesson 97).

``python -m kimik2.training.reference`` retrains the seeds and rewrites reference_curve.json and
docs/reference_curve.png (about 2 minutes a seed on 2 cores); ``--check`` retrains and only reports
how far the new curve lies from the published one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .run import REFERENCE_CURVE, train_on_corpus
from .trainer import TrainSettings, read_log

BAND_MARGIN = 0.15        # added to the largest distance of a seed from the mean
CURVE_EVERY = 20          # steps between the points of the published curve
FIGURE = Path(__file__).resolve().parents[3] / "docs" / "reference_curve.png"


def curve_steps(steps: int) -> list[int]:
    """0, 20, 40, ... and the last step."""
    return sorted(set(range(0, steps, CURVE_EVERY)) | {steps - 1})


def summarize(logs: list[list[dict[str, Any]]], settings: TrainSettings, seeds: list[int]) -> dict[str, Any]:
    """The reference file's content from the logs of one run per seed."""
    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    records = [{record["step"]: record for record in log} for log in logs]       # per seed: step -> record
    steps = curve_steps(settings.steps)
    losses = [[seed[step]["loss"] for seed in records] for step in steps]
    val_steps = [record["step"] for record in logs[0] if "val_loss" in record]
    val_losses = [[seed[step]["val_loss"] for seed in records] for step in val_steps]
    return dict(
        command=(f"--steps {settings.steps} --lr {settings.lr:g} --batch-size {settings.batch_size} --seq-len "
                 f"{settings.seq_len} --optimizer {settings.optimizer} (the make demo run)"),
        settings={name: value for name, value in asdict(settings).items() if name != "seed"},
        note=(f"training loss of {len(seeds)} runs (seeds {', '.join(map(str, seeds))}) of the tiny preset on "
              f"Shakespeare with the 4096-merge tokenizer, torch {torch.__version__.split('+')[0]} CPU; band = the "
              f"largest distance of a seed from the mean at that step + {BAND_MARGIN}"),
        steps=steps,
        loss_mean=[round(mean(values), 4) for values in losses],
        loss_band=[round(max(abs(v - mean(values)) for v in values) + BAND_MARGIN, 4) for values in losses],
        val_steps=val_steps,
        val_loss_mean=[round(mean(values), 4) for values in val_losses],
        initial_val_loss_mean=round(mean([log[0]["initial_val_loss"] for log in logs]), 4),
    )


def plot(logs: list[list[dict[str, Any]]], curve: dict[str, Any], seeds: list[int], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.6, 4.2))
    for seed, log in zip(seeds, logs):
        axis.plot([r["step"] for r in log], [r["loss"] for r in log], linewidth=0.7, label=f"training loss, seed {seed}")
    mean, band = torch.tensor(curve["loss_mean"]), torch.tensor(curve["loss_band"])
    axis.fill_between(curve["steps"], mean - band, mean + band, color="gray", alpha=0.3, label="check-run band")
    axis.plot(curve["val_steps"], curve["val_loss_mean"], "k-o", markersize=4, label="validation loss (mean)")
    settings = curve["settings"]
    axis.set(xlabel=f"step ({settings['batch_size']} x {settings['seq_len']} tokens)", ylabel="loss (nats per token)",
             title=f"Tiny Kimi-K2 on Shakespeare, MuonClip, lr {settings['lr']:g}: the reference curve")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", default="data", help="folder holding shakespeare/ (default: data)")
    parser.add_argument("--check", action="store_true", help="retrain and compare; write nothing")
    args = parser.parse_args(argv)
    logs = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            print(f"training seed {seed} ...", flush=True)
            train_on_corpus(TrainSettings(seed=seed), Path(folder) / f"seed_{seed}", data_dir=args.data)
            logs.append(read_log(Path(folder) / f"seed_{seed}"))
    curve = summarize(logs, TrainSettings(), args.seeds)
    if args.check:
        published = json.loads(REFERENCE_CURVE.read_text())
        gaps = [abs(a - b) for key in ("loss_mean", "val_loss_mean")
                for a, b in zip(curve[key], published[key], strict=True)]
        print(f"largest difference from the published curve: {max(gaps):.4f} nats "
              f"(mean losses at {len(curve['steps'])} steps and {len(curve['val_steps'])} validations)")
        sys.exit(0 if curve["settings"] == published["settings"] else "the settings differ from the published ones")
    REFERENCE_CURVE.write_text(json.dumps(curve, indent=1) + "\n")
    plot(logs, curve, args.seeds, FIGURE)
    print(f"wrote {REFERENCE_CURVE} and {FIGURE}")


if __name__ == "__main__":
    main()
