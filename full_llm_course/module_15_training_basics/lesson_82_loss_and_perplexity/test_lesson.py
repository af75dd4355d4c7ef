"""Graded tests for lesson 82: kimik2.training.trainer.evaluate (the mean validation loss on a fixed set)."""

import importlib
import math

import pytest
import torch
import torch.nn.functional as F
from kimi_course.testing import assert_close


pytestmark = pytest.mark.usefixtures("one_thread")    # many tiny matmuls: thread hand-offs cost more than they save


def _trainer(package):
    return importlib.import_module(package.__name__ + ".training.trainer")


def _model(package, **overrides):
    torch.manual_seed(0)
    return package.KimiK2ForCausalLM(package.KimiK2Config.tiny(**(dict(vocab_size=128, num_hidden_layers=2)
                                                                   | overrides)))


def _windows(count=10, seq_len=16, vocab=128, seed=1):
    return torch.randint(0, vocab, (count, seq_len), generator=torch.Generator().manual_seed(seed))


def _by_hand(model, windows):
    """Token-mean cross-entropy of the model in eval mode, position t against token t + 1."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(windows).logits
    model.train(was_training)
    vocab = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, vocab), windows[:, 1:].reshape(-1)).item()


def test_evaluate_is_the_mean_loss_over_the_first_windows(impl, reference):
    model = _model(impl).eval()
    windows = _windows()
    got = _trainer(impl).evaluate(model, windows, batch_size=4, batches=2)
    assert isinstance(got, float), f"evaluate returned {type(got).__name__}; return a Python float (use .item())"
    want = _by_hand(model, windows[:8])
    assert_close(torch.tensor(got, dtype=torch.float64), torch.tensor(want, dtype=torch.float64), atol=1e-5,
                 what="evaluate(model, 10 windows, batch_size=4, batches=2)",
                 hint="mean of model(chunk, labels=chunk).loss over the first batches x batch_size windows, split "
                      "into chunks of batch_size (teaching.md §The code)")
    ref = _trainer(reference).evaluate(model, windows, batch_size=4, batches=2)
    assert_close(torch.tensor(got, dtype=torch.float64), torch.tensor(ref, dtype=torch.float64), atol=1e-6,
                 what="evaluate vs the answer key")
    assert abs(got - math.log(128)) < 0.1, (
        f"an untrained model should score about ln 128 = {math.log(128):.3f}, got {got:.3f} (lesson 65)")


def test_evaluate_reads_only_the_fixed_first_windows(impl):
    model = _model(impl).eval()
    windows = _windows(count=12)
    first = _trainer(impl).evaluate(model, windows, batch_size=3, batches=2)       # windows 0..5
    changed_tail = windows.clone()
    changed_tail[6:] = _windows(count=6, seed=9)
    assert _trainer(impl).evaluate(model, changed_tail, batch_size=3, batches=2) == first, (
        "changing windows 6.. changed the result of evaluate(batch_size=3, batches=2): read only "
        "windows[:batches * batch_size] (teaching.md §Why a fixed validation set)")
    assert _trainer(impl).evaluate(model, windows, batch_size=3, batches=2) == first, (
        "two evaluations of the same weights on the same windows must give the same number")
    changed_head = windows.clone()
    changed_head[0] = _windows(count=1, seed=7)[0]
    assert _trainer(impl).evaluate(model, changed_head, batch_size=3, batches=2) != first, \
        "window 0 is part of the fixed set, so changing it must change the result"


def test_evaluate_runs_in_eval_mode_and_restores_the_mode(impl, reference):
    model = _model(impl, attention_dropout=0.5)        # dropout makes a training-mode forward random
    windows = _windows()
    want = _by_hand(model, windows[:8])
    model.train()
    got = _trainer(impl).evaluate(model, windows, batch_size=4, batches=2)
    assert model.training, "evaluate left the model in eval mode; restore the mode it found (model.train(was_training))"
    assert abs(got - want) < 1e-5, (
        f"with attention_dropout=0.5 a model in training mode gave {got:.6f}, eval mode gives {want:.6f}: switch "
        "to model.eval() inside evaluate (teaching.md §The code)")
    model.eval()
    _trainer(impl).evaluate(model, windows, batch_size=4, batches=2)
    assert not model.training, "evaluate switched an eval-mode model to training mode"
    assert all(p.grad is None for p in model.parameters()), "evaluate must not leave gradients behind"
