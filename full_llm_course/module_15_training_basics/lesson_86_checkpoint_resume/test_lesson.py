"""Graded tests for lesson 86: kimik2.training.checkpoint.replace_text and save_checkpoint (atomic checkpoints),
and exact resumption through them."""

import importlib

import pytest
import torch
from kimi_course.testing import assert_close


pytestmark = pytest.mark.usefixtures("one_thread")    # many tiny matmuls: thread hand-offs cost more than they save


def _checkpoint(package):
    return importlib.import_module(package.__name__ + ".training.checkpoint")


def _training(package):
    return importlib.import_module(package.__name__ + ".training")


def _model(package, seed=0):
    torch.manual_seed(seed)
    return package.KimiK2ForCausalLM(package.KimiK2Config.tiny(vocab_size=128, num_hidden_layers=2))


def _state(step):
    return {"step": step, "data": {"epoch": 0, "index": 4 * step, "seed": 0}, "rng": torch.get_rng_state(),
            "optimizer": {"state": {}, "param_groups": []}, "settings": {"steps": 10}}


def test_replace_text_writes_and_overwrites(impl, tmp_path):
    path = tmp_path / "latest"
    _checkpoint(impl).replace_text(path, "step_0000002\n")
    assert path.read_text() == "step_0000002\n", "replace_text must leave exactly the text in the file"
    _checkpoint(impl).replace_text(path, "step_0000004\n")
    assert path.read_text() == "step_0000004\n", "a second replace_text must replace the content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"], (
        f"files left beside the target: {sorted(p.name for p in tmp_path.iterdir())}: the temporary file must be "
        "renamed over the target with os.replace (teaching.md §Writing a file atomically)")


def test_replace_text_never_damages_the_old_file(impl, tmp_path):
    path = tmp_path / "latest"
    path.write_text("step_0000002\n")
    with pytest.raises(Exception) as raised:
        _checkpoint(impl).replace_text(path, "step_00000\udc80")     # cannot be encoded: the write fails midway
    assert not isinstance(raised.value, NotImplementedError), "replace_text is not implemented"
    assert path.read_text() == "step_0000002\n", (
        f"a write that failed left {path.read_text()!r} in the target: write to a temporary file and rename it "
        "over the target only when the write succeeded (teaching.md §Writing a file atomically)")


def test_save_checkpoint_writes_a_complete_folder_and_the_pointer(impl, reference, tmp_path):
    model = _model(impl)
    folder = _checkpoint(impl).save_checkpoint(tmp_path, 3, model, _state(3))
    assert folder == tmp_path / "step_0000003", f"returned {folder}; expected the folder run_dir / 'step_0000003'"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["config.json", "model.safetensors", "trainer.pt"], (
        f"{folder.name} holds {names}: save_pretrained (config.json, model.safetensors) plus torch.save of the "
        "trainer state as trainer.pt")
    assert (tmp_path / "latest").read_text().strip() == "step_0000003", "latest must name the new folder"
    assert not list(tmp_path.glob(".*")), f"work files left behind: {[p.name for p in tmp_path.glob('.*')]}"
    loaded, state = _checkpoint(reference).load_checkpoint(tmp_path)       # the answer key reads what you wrote
    assert state["step"] == 3 and state["data"] == _state(3)["data"], "trainer.pt does not hold the trainer state given"
    for name, tensor in model.state_dict().items():
        assert_close(loaded.state_dict()[name], tensor, atol=0, what=f"{name} reloaded from the checkpoint")


def test_save_checkpoint_keeps_the_newest_and_can_save_a_step_again(impl, tmp_path):
    model = _model(impl)
    for step in (2, 4, 6):
        _checkpoint(impl).save_checkpoint(tmp_path, step, model, _state(step))
    folders = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert folders == ["step_0000004", "step_0000006"], f"after saving steps 2, 4, 6 with keep_last=2: {folders}"
    with torch.no_grad():
        model.lm_head.weight.add_(1.0)
    _checkpoint(impl).save_checkpoint(tmp_path, 6, model, _state(6))                   # the same step again
    latest = _checkpoint(impl).latest_checkpoint(tmp_path)
    assert latest.name == "step_0000006", f"latest -> {latest.name}"
    reloaded, _ = _checkpoint(impl).load_checkpoint(tmp_path)
    assert torch.equal(reloaded.lm_head.weight, model.lm_head.weight), \
        "saving step 6 a second time must replace the folder's content (remove the old folder, then os.replace)"


def test_a_kill_inside_the_save_leaves_the_previous_checkpoint(impl, tmp_path, monkeypatch):
    model = _model(impl)
    _checkpoint(impl).save_checkpoint(tmp_path, 2, model, _state(2))
    original = {name: t.clone() for name, t in model.state_dict().items()}

    def dies_half_way(obj, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("killed")

    with torch.no_grad():
        model.lm_head.weight.add_(1.0)
    monkeypatch.setattr(_checkpoint(impl).torch, "save", dies_half_way)
    with pytest.raises(OSError):
        _checkpoint(impl).save_checkpoint(tmp_path, 4, model, _state(4))
    monkeypatch.undo()
    latest = _checkpoint(impl).latest_checkpoint(tmp_path)
    assert latest.name == "step_0000002", (
        f"after a kill while writing step 4, latest -> {latest.name}: write into a temporary folder, rename it into "
        "place, and only then replace `latest` (teaching.md §Writing a checkpoint atomically)")
    assert not (tmp_path / "step_0000004").exists(), \
        "a half-written step_0000004 is visible under its final name: write it as .step_0000004.partial first"
    reloaded, state = _checkpoint(impl).load_checkpoint(tmp_path)
    assert state["step"] == 2
    for name, tensor in original.items():
        assert torch.equal(reloaded.state_dict()[name], tensor), f"{name} of the previous checkpoint changed"
    _checkpoint(impl).save_checkpoint(tmp_path, 4, model, _state(4))                   # the retry succeeds
    assert _checkpoint(impl).latest_checkpoint(tmp_path).name == "step_0000004"
    assert not (tmp_path / ".step_0000004.partial").exists(), "the retry must clear the dead save's work folder"


def test_the_pointer_moves_last(impl, tmp_path, monkeypatch):
    model = _model(impl)
    _checkpoint(impl).save_checkpoint(tmp_path, 2, model, _state(2))

    def dies(*args, **kwargs):
        raise OSError("killed")

    monkeypatch.setattr(_checkpoint(impl), "replace_text", dies)
    with pytest.raises(OSError):
        _checkpoint(impl).save_checkpoint(tmp_path, 4, model, _state(4))
    monkeypatch.undo()
    assert (tmp_path / "latest").read_text().strip() == "step_0000002", \
        "save_checkpoint must switch `latest` with replace_text, as its last write before pruning"
    assert sorted(p.name for p in (tmp_path / "step_0000004").iterdir()) == \
        ["config.json", "model.safetensors", "trainer.pt"], \
        "the folder must be complete and in place before `latest` is replaced"
    assert (tmp_path / "step_0000002").exists(), "prune old checkpoints only after `latest` names the new one"


def test_a_killed_run_resumes_bit_for_bit(impl, tmp_path):
    training = _training(impl)
    tokens = torch.randint(0, 128, (3000,), generator=torch.Generator().manual_seed(0))
    settings = dict(steps=5, optimizer="adamw", batch_size=2, seq_len=16, warmup_steps=1, save_every=2,
                    eval_every=5, eval_batches=1)

    def config():
        return impl.KimiK2Config.tiny(vocab_size=128, num_hidden_layers=2)

    def stop(record):
        if record["step"] == 2:
            raise KeyboardInterrupt

    training.train(training.TrainSettings(**settings), config(), tokens[:2500], tokens[2500:], tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        training.train(training.TrainSettings(**settings), config(), tokens[:2500], tokens[2500:], tmp_path / "killed",
                       on_step=stop)
    training.train(training.TrainSettings(**settings), config(), tokens[:2500], tokens[2500:], tmp_path / "killed",
                   resume=True)
    straight = [r["loss"] for r in training.read_log(tmp_path / "straight")]
    resumed = [r["loss"] for r in training.read_log(tmp_path / "killed")]
    assert resumed == straight, (
        f"losses after kill + resume {resumed} differ from the uninterrupted run {straight}: the checkpoint must "
        "hold the weights and the whole trainer state (teaching.md §What step k + 1 depends on)")
