"""Graded tests for lesson 97: kimik2.training.run.model_config and train_on_corpus, on a stand-in corpus."""

import importlib

import pytest
import torch
from kimi_course.testing import assert_close

LINES = ["ROMEO: But soft, what light through yonder window breaks?", "JULIET: O Romeo, Romeo, wherefore art thou?",
         "HAMLET: To be, or not to be, that is the question.", "MACBETH: Tomorrow, and tomorrow, and tomorrow."]


def _sub(package, name):
    return importlib.import_module(package.__name__ + name)


@pytest.fixture
def data(tmp_path, reference):
    """A folder that load_corpus accepts (no download): NUM_WORKS small works and SOURCE.txt."""
    corpus = _sub(reference, ".tokenizer.corpus")
    folder = corpus.corpus_dir(tmp_path / "data")
    folder.mkdir(parents=True)
    names = [f"work_{i:02d}_gut.txt" for i in range(corpus.NUM_WORKS)]
    for i, name in enumerate(names):
        (folder / name).write_text("\n".join(LINES[(i + k) % 4] for k in range(40)) + "\n")
    (folder / "SOURCE.txt").write_text("stand-in\nfiles:\n" + "\n".join(names) + "\n")
    return tmp_path / "data"


def test_model_config_tiny_preset(impl, reference):
    mine = _sub(impl, ".training.run").model_config("tiny", 4352)
    want = _sub(reference, ".training.run").model_config("tiny", 4352)
    assert mine.to_dict() == want.to_dict(), "model_config('tiny', 4352) differs from the reference (teaching.md §Preset)"
    assert (mine.vocab_size, mine.max_position_embeddings, mine.hidden_size, mine.num_hidden_layers) == \
        (4352, 512, 64, 4), "tiny preset: KimiK2Config.tiny at the corpus vocabulary with 512 positions"
    with pytest.raises(_sub(impl, ".training.trainer").TrainingError):
        _sub(impl, ".training.run").model_config("huge", 4352)


def test_train_on_corpus_run_folder(impl, reference, data, tmp_path, one_thread):
    trainer = _sub(impl, ".training.trainer")
    settings = dict(steps=3, batch_size=2, seq_len=32, warmup_steps=1, eval_every=3, eval_batches=1, lr=3e-3,
                    optimizer="adamw")
    mine = _sub(impl, ".training.run").train_on_corpus(trainer.TrainSettings(**settings), tmp_path / "mine",
                                                       data_dir=data, vocab_size=300)
    ref_trainer = _sub(reference, ".training.trainer")
    want = _sub(reference, ".training.run").train_on_corpus(ref_trainer.TrainSettings(**settings), tmp_path / "ref",
                                                            data_dir=data, vocab_size=300)
    run = tmp_path / "mine"
    assert mine.config.vocab_size == 300 + 256, "vocab = BPE tokens (bytes + merges) + 256 specials (teaching.md §Tokenizer)"
    tokenizer_file = _sub(reference, ".training.tokens").tokenizer_path(data, 300)
    assert (run / "tokenizer.tiktoken").read_bytes() == tokenizer_file.read_bytes(), \
        "the run folder must hold a copy of the corpus tokenizer as tokenizer.tiktoken (teaching.md §Run folder)"
    assert [r["step"] for r in trainer.read_log(run)] == [0, 1, 2]
    assert (run / "step_0000003").is_dir(), "a final checkpoint step_0000003"
    mine_log, ref_log = trainer.read_log(run), ref_trainer.read_log(tmp_path / "ref")
    assert_close(torch.tensor([r["loss"] for r in mine_log]), torch.tensor([r["loss"] for r in ref_log]), atol=1e-5,
                 what="training losses of 3 steps on the stand-in corpus",
                 hint="model_config(preset, tokenizer.vocab_size) and the corpus token streams (teaching.md §The code)")
    for name, tensor in want.state_dict().items():
        assert_close(mine.state_dict()[name], tensor, atol=1e-5, what=f"trained weights {name}")
