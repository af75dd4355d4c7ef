"""Graded tests for lesson 96: the loop body of kimik2.training.trainer.train."""

import importlib
import math

import pytest
import torch
from kimi_course.testing import assert_close

TOKENS = torch.randint(0, 128, (4000,), generator=torch.Generator().manual_seed(0))
TRAIN, VALIDATION = TOKENS[:3200], TOKENS[3200:]


def _trainer(package):
    return importlib.import_module(package.__name__ + ".training.trainer")


def _settings(package, **overrides):
    values = dict(steps=5, batch_size=4, seq_len=16, warmup_steps=2, eval_every=2, eval_batches=2, lr=3e-3,
                  optimizer="adamw", save_every=2)
    return _trainer(package).TrainSettings(**(values | overrides))


def _run(package, run_dir, **kwargs):
    config = package.KimiK2Config.tiny(vocab_size=128, num_hidden_layers=2)
    trainer = _trainer(package)
    records = []
    model = trainer.train(_settings(package), config, TRAIN, VALIDATION, run_dir, on_step=records.append, **kwargs)
    return model, trainer.read_log(run_dir), records


def test_log_and_weights_match_reference(impl, reference, tmp_path):
    mine, mine_log, _ = _run(impl, tmp_path / "mine")
    ref, ref_log, _ = _run(reference, tmp_path / "ref")
    assert [r["step"] for r in mine_log] == list(range(5)), "one log line per step, steps 0..4 (teaching.md §The code)"
    for a, b in zip(mine_log, ref_log):
        for key in ("loss", "lr", "grad_norm", "max_violation", "val_loss", "initial_val_loss"):
            assert (key in a) == (key in b), f"step {a['step']}: key {key!r} present in one log but not the other"
            if key in b:
                assert_close(torch.tensor(a[key]), torch.tensor(b[key]), atol=1e-5,
                             what=f"log record step {a['step']} field {key}",
                             hint="order per step: lr, batch, reset load, training_step, bias update, record "
                                  "(teaching.md §The code)")
    for name, tensor in ref.state_dict().items():
        assert_close(mine.state_dict()[name], tensor, atol=1e-5, what=f"weights after 5 steps: {name}",
                     hint="did the bias update (update_correction_biases) run after every step? (teaching.md §Bias)")


def test_records_recomputed_independently(impl, tmp_path):
    trainer = _trainer(impl)
    schedule = importlib.import_module(impl.__name__ + ".training.schedule")
    _, log, seen = _run(impl, tmp_path)
    assert seen == log, "on_step must receive each record exactly as written to log.jsonl (teaching.md §Callback)"
    for r in log:
        want = 3e-3 * schedule.wsd_learning_rate(r["step"], 5, 1.0, 2, 5.5 / 15.5)
        assert math.isclose(r["lr"], want, rel_tol=1e-9), f"step {r['step']}: lr {r['lr']} != WSD {want}"
        assert r["max_logit"] is None, "AdamW records no max logit: max_logit must be None"
        assert r["max_violation"] >= 0 and r["tokens_per_s"] > 0 and r["grad_norm"] > 0
        has_val = (r["step"] + 1) % 2 == 0 or r["step"] == 4
        assert ("val_loss" in r) == has_val, f"step {r['step']}: val_loss every eval_every steps and at the end"
    assert "initial_val_loss" in log[0] and all("initial_val_loss" not in r for r in log[1:])
    assert abs(log[0]["initial_val_loss"] - math.log(128)) < 0.5, "initial val loss should be near ln(vocab)"
    saved = sorted(p.name for p in tmp_path.glob("step_*"))
    assert saved == ["step_0000004", "step_0000005"], \
        f"checkpoints every save_every steps and at the end, named by steps done (the last two kept); got {saved} " \
        "(teaching.md §Checkpoints)"


def test_resume_truncates_and_reproduces(impl, tmp_path):
    trainer = _trainer(impl)
    config = lambda: impl.KimiK2Config.tiny(vocab_size=128, num_hidden_layers=2)  # noqa: E731
    _, straight, _ = _run(impl, tmp_path / "straight")

    def stop_after_step_2(record):
        if record["step"] == 2:
            raise KeyboardInterrupt
    run = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        trainer.train(_settings(impl), config(), TRAIN, VALIDATION, run, on_step=stop_after_step_2)
    assert len(trainer.read_log(run)) == 3, "step 2 is logged before on_step runs"
    trainer.train(_settings(impl), config(), TRAIN, VALIDATION, run, resume=True)
    resumed = trainer.read_log(run)
    assert [r["step"] for r in resumed] == list(range(5)), "resume drops log lines past the checkpoint"
    assert [r["loss"] for r in resumed] == [r["loss"] for r in straight], \
        "a resumed run must equal the uninterrupted one bit for bit (teaching.md §Resume)"
