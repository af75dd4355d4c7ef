"""The training loop: exact resumption, checkpoints that survive a crash mid-save, the NaN guard,
the schedule's shape, and a trained checkpoint that transformers reproduces."""

import json
import math

import pytest
import torch
from transformers import DeepseekV3ForCausalLM

from helpers import assert_close
from kimik2 import CheckpointError, KimiK2Config
from kimik2.training import (BatchIterator, TrainingError, TrainSettings, latest_checkpoint, load_checkpoint,
                             pack_windows, read_log, train, wsd_learning_rate)
from kimik2.training import checkpoint as checkpoint_module

TOKENS = torch.randint(0, 128, (6000,), generator=torch.Generator().manual_seed(0))
TRAIN, VALIDATION = TOKENS[:5000], TOKENS[5000:]


def tiny():
    return KimiK2Config.tiny(vocab_size=128, num_hidden_layers=2)


def settings(**overrides) -> TrainSettings:
    values = dict(steps=6, batch_size=4, seq_len=16, warmup_steps=2, eval_every=3, eval_batches=2, lr=3e-3)
    return TrainSettings(**(values | overrides))


def losses(run_dir):
    return [record["loss"] for record in read_log(run_dir)]


@pytest.mark.parametrize("optimizer", ["adamw", "muonclip"])
def test_a_run_killed_and_resumed_reproduces_the_uninterrupted_run_bit_for_bit(tmp_path, optimizer):
    train(settings(save_every=2, optimizer=optimizer), tiny(), TRAIN, VALIDATION, tmp_path / "straight")
    run = tmp_path / "killed"

    def kill_after_step_2(record):
        if record["step"] == 2:
            raise KeyboardInterrupt  # step 2 is logged, but the last checkpoint holds 2 steps (0 and 1)
    with pytest.raises(KeyboardInterrupt):
        train(settings(save_every=2, optimizer=optimizer), tiny(), TRAIN, VALIDATION, run,
              on_step=kill_after_step_2)
    assert latest_checkpoint(run).name == "step_0000002" and len(read_log(run)) == 3
    train(settings(save_every=2, optimizer=optimizer), tiny(), TRAIN, VALIDATION, run, resume=True)
    assert [record["step"] for record in read_log(run)] == list(range(6))
    assert losses(run) == losses(tmp_path / "straight")
    assert [r.get("val_loss") for r in read_log(run)] == [r.get("val_loss") for r in read_log(tmp_path / "straight")]


def test_a_crash_while_saving_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    train(settings(steps=2), tiny(), TRAIN, VALIDATION, tmp_path)
    before = latest_checkpoint(tmp_path)
    model, state = load_checkpoint(tmp_path)
    real_save = torch.save

    def dies_half_way(obj, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("killed")
    monkeypatch.setattr(checkpoint_module.torch, "save", dies_half_way)
    with pytest.raises(OSError):
        checkpoint_module.save_checkpoint(tmp_path, 3, model, state)
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    assert latest_checkpoint(tmp_path) == before
    reloaded, reloaded_state = load_checkpoint(tmp_path)
    assert reloaded_state["step"] == 2
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, reloaded.state_dict()[name]), name


def test_missing_and_damaged_checkpoints_get_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(settings(), tiny(), TRAIN, VALIDATION, tmp_path, resume=True)
    train(settings(steps=2), tiny(), TRAIN, VALIDATION, tmp_path)
    (latest_checkpoint(tmp_path) / "trainer.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(tmp_path)
    (latest_checkpoint(tmp_path) / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        latest_checkpoint(tmp_path)


def test_an_existing_run_is_never_overwritten_and_resume_checks_the_settings(tmp_path):
    train(settings(steps=2), tiny(), TRAIN, VALIDATION, tmp_path)
    log = (tmp_path / "log.jsonl").read_text()
    with pytest.raises(TrainingError, match="already holds a run"):
        train(settings(steps=2), tiny(), TRAIN, VALIDATION, tmp_path)
    with pytest.raises(TrainingError, match=r"different settings \(lr\)"):
        train(settings(steps=2, lr=1e-2), tiny(), TRAIN, VALIDATION, tmp_path, resume=True)
    assert (tmp_path / "log.jsonl").read_text() == log


def test_the_nan_guard_stops_with_the_last_good_checkpoint(tmp_path):
    def poison(record):
        if record["step"] == 1:
            with torch.no_grad():
                model_holder["model"].model.embed_tokens.weight.fill_(float("nan"))
    model_holder = {}
    import kimik2.training.trainer as trainer_module
    original = trainer_module.KimiK2ForCausalLM

    class Remembered(original):
        def __init__(self, config):
            super().__init__(config)
            model_holder["model"] = self
    trainer_module.KimiK2ForCausalLM = Remembered
    try:
        with pytest.raises(TrainingError, match=r"at step 2; the last good checkpoint is .*step_0000002"):
            train(settings(save_every=2), tiny(), TRAIN, VALIDATION, tmp_path, on_step=poison)
    finally:
        trainer_module.KimiK2ForCausalLM = original
    assert math.isfinite(load_checkpoint(tmp_path)[0].model.embed_tokens.weight.sum().item())


def test_wsd_schedule_warms_up_holds_then_decays_by_cosine():
    lrs = [wsd_learning_rate(step, 100, 1.0, warmup_steps=10, decay_fraction=0.3, final_ratio=0.1)
           for step in range(100)]
    assert lrs[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert lrs[10:70] == [1.0] * 60
    decay = lrs[70:]
    assert all(a > b for a, b in zip(decay, decay[1:])) and decay[-1] == pytest.approx(0.1)
    middle = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 15 / 30))
    assert decay[14] == pytest.approx(middle)


def test_batches_visit_every_window_once_per_epoch_and_resume_at_their_position():
    windows = pack_windows(torch.arange(100), 10)                  # 10 windows
    batches = BatchIterator(windows, batch_size=3, seed=5)
    first_epoch = torch.cat([batches.next_batch() for _ in range(3)])
    assert sorted(first_epoch[:, 0].tolist()) == sorted(set(first_epoch[:, 0].tolist()))
    state = batches.state_dict()
    expected = [batches.next_batch() for _ in range(4)]
    again = BatchIterator(windows, batch_size=3, seed=5)
    again.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(expected, [again.next_batch() for _ in range(4)]))
    with pytest.raises(ValueError, match="do not fill one window"):
        pack_windows(torch.arange(5), 10)


def test_the_trained_checkpoint_runs_in_transformers_with_the_same_logits(tmp_path):
    model = train(settings(steps=4, save_every=4), tiny(), TRAIN, VALIDATION, tmp_path).eval()
    theirs = DeepseekV3ForCausalLM.from_pretrained(latest_checkpoint(tmp_path)).eval()
    batch = VALIDATION[:64].view(2, 32)
    with torch.no_grad():
        assert_close(model(batch).logits, theirs(batch).logits, atol=1e-5, what="trained model, ours vs transformers")
    assert json.loads((latest_checkpoint(tmp_path) / "config.json").read_text())["model_type"] == "deepseek_v3"


def test_reference_curve_summary_by_hand():
    """Two seeds of a 3-step run: the curve points are steps 0 and 2 (every 20th and the last); the band
    is the larger distance from the mean plus the margin; validation means per logged step."""
    from kimik2.training.reference import BAND_MARGIN, summarize
    logs = [[dict(step=0, loss=8.0, initial_val_loss=8.5), dict(step=1, loss=7.0), dict(step=2, loss=6.0, val_loss=6.5)],
            [dict(step=0, loss=9.0, initial_val_loss=8.3), dict(step=1, loss=7.5), dict(step=2, loss=5.0, val_loss=6.1)]]
    curve = summarize(logs, TrainSettings(steps=3), seeds=[4, 5])
    assert curve["steps"] == [0, 2] and curve["loss_mean"] == [8.5, 5.5]
    assert curve["loss_band"] == [0.5 + BAND_MARGIN, 0.5 + BAND_MARGIN]
    assert curve["val_steps"] == [2] and curve["val_loss_mean"] == [6.3] and curve["initial_val_loss_mean"] == 8.4
    assert "seed" not in curve["settings"] and curve["settings"]["steps"] == 3 and "seeds 4, 5" in curve["note"]
