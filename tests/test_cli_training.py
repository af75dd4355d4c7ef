"""`kimi-course train / sample / check-run` end to end on a small stand-in corpus (no network)."""

import json

import pytest
from typer.testing import CliRunner

from kimi_course.cli import app
from kimik2 import KimiK2ForCausalLM
from kimik2.tokenizer import corpus as corpus_module
from kimik2.training import run as run_module

runner = CliRunner()
LINES = ["ROMEO: But soft, what light through yonder window breaks?", "JULIET: O Romeo, Romeo, wherefore art thou?",
         "HAMLET: To be, or not to be, that is the question.", "MACBETH: Tomorrow, and tomorrow, and tomorrow."]


@pytest.fixture
def data(tmp_path):
    """A corpus folder that load_corpus accepts: 42 small works and SOURCE.txt listing them."""
    folder = corpus_module.corpus_dir(tmp_path / "data")
    folder.mkdir(parents=True)
    names = [f"work_{i:02d}_gut.txt" for i in range(corpus_module.NUM_WORKS)]
    for i, name in enumerate(names):
        (folder / name).write_text("\n".join(LINES[(i + k) % 4] for k in range(40)) + "\n")
    (folder / "SOURCE.txt").write_text("stand-in\nfiles:\n" + "\n".join(names) + "\n")
    return tmp_path / "data"


def train_args(data, out, *extra):
    return ["train", "--out", str(out), "--data", str(data), "--vocab-size", "300", "--steps", "4",
            "--batch-size", "2", "--seq-len", "32", "--save-every", "2", *extra]


def test_train_resume_sample_and_errors(data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    result = runner.invoke(app, train_args(data, out))
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in log] == [0, 1, 2, 3] and "initial_val_loss" in log[0]
    again = runner.invoke(app, train_args(data, out))
    assert again.exit_code == 2 and "already holds a run" in again.output
    resumed = runner.invoke(app, train_args(data, out, "--resume"))
    assert resumed.exit_code == 0, resumed.output                       # nothing left to do, still fine
    sampled = runner.invoke(app, ["sample", str(out), "--prompt", "ROMEO:", "--max-tokens", "8"])
    assert sampled.exit_code == 0 and sampled.output.startswith("ROMEO:"), sampled.output
    bad = runner.invoke(app, train_args(data, tmp_path / "other", "--optimizer", "sgd"))
    assert bad.exit_code == 2 and "choose one of ('adamw', 'muon', 'muonclip')" in bad.output
    missing = runner.invoke(app, ["sample", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "tokenizer.tiktoken" in missing.output
    no_data = runner.invoke(app, train_args(tmp_path / "empty", tmp_path / "third"))
    assert no_data.exit_code == 2 and "make data" in no_data.output
    # check-run reads the run's settings from trainer.pt alone: loading the model would be wasted work
    monkeypatch.setattr(KimiK2ForCausalLM, "from_pretrained", lambda *args, **kwargs: pytest.fail("model loaded"))
    checked = runner.invoke(app, ["check-run", str(out)])
    assert checked.exit_code == 2 and "differ from the reference run's in" in checked.output, checked.output


def test_check_run_says_on_track_or_not(tmp_path, monkeypatch):
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps(dict(command="--steps 3", settings={}, steps=[0, 2], loss_mean=[8.0, 6.0],
                                         loss_band=[0.2, 0.2])))
    monkeypatch.setattr(run_module, "REFERENCE_CURVE", reference)
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_text("".join(json.dumps(dict(step=s, loss=l)) + "\n" for s, l in [(0, 8.1), (1, 7.0), (2, 5.9)]))
    bad.write_text("".join(json.dumps(dict(step=s, loss=l)) + "\n" for s, l in [(0, 8.1), (1, 7.0), (2, 7.5)]))
    result = runner.invoke(app, ["check-run", str(good)])
    assert result.exit_code == 0 and "on track" in result.output, result.output
    result = runner.invoke(app, ["check-run", str(bad)])
    assert result.exit_code == 1 and "off track" in result.output, result.output
    result = runner.invoke(app, ["check-run", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2 and "does not exist" in result.output
