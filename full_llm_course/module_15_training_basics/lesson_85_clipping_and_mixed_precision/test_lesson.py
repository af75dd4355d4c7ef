"""Graded tests for lesson 85: kimik2.training.trainer.training_step (clipping, bf16 autocast, the non-finite guard)."""

import importlib
import math

import pytest
import torch
from kimi_course.testing import assert_close


pytestmark = pytest.mark.usefixtures("one_thread")    # many tiny matmuls: thread hand-offs cost more than they save


def _trainer(package):
    return importlib.import_module(package.__name__ + ".training.trainer")


def _model(package, **overrides):
    torch.manual_seed(0)
    return package.KimiK2ForCausalLM(package.KimiK2Config.tiny(**(dict(vocab_size=128, num_hidden_layers=2)
                                                                   | overrides)))


def _batch(seed=1):
    return torch.randint(0, 128, (2, 16), generator=torch.Generator().manual_seed(seed))


def _settings(package, **overrides):
    return _trainer(package).TrainSettings(**(dict(optimizer="adamw", lr=1e-2, grad_clip=1.0) | overrides))


def _sgd(model):
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)


@pytest.mark.parametrize("grad_clip", [0.05, 100.0])
def test_one_step_clips_the_global_norm_then_steps(impl, grad_clip):
    """SGD with lr 0.5 makes the update visible: w_new = w - 0.5 * g * min(1, clip / (|g| + 1e-6))."""
    model, check = _model(impl), _model(impl)
    batch = _batch()
    check(batch, labels=batch).loss.backward()                         # the gradients, computed independently
    grads = {name: p.grad.clone() for name, p in check.named_parameters() if p.grad is not None}
    norm = math.sqrt(sum(g.double().pow(2).sum().item() for g in grads.values()))
    factor = min(1.0, grad_clip / (norm + 1e-6))
    output, grad_norm = _trainer(impl).training_step(model, batch, _sgd(model), _settings(impl, grad_clip=grad_clip))
    assert output is not None and grad_norm is not None, "training_step returned None for a finite loss"
    assert_close(torch.as_tensor(grad_norm).double(), torch.tensor(norm, dtype=torch.float64), atol=1e-5,
                 what="the returned gradient norm",
                 hint="return clip_grad_norm_'s result: the global norm BEFORE clipping (teaching.md §Global-norm "
                      "clipping)")
    for name, p in model.named_parameters():
        if name in grads:
            expected = dict(check.named_parameters())[name].detach() - 0.5 * factor * grads[name]
            assert_close(p.detach(), expected, atol=1e-6,
                         what=f"{name} after one SGD step with grad_clip={grad_clip} (global norm {norm:.4f})",
                         hint="backward, then clip_grad_norm_(model.parameters(), settings.grad_clip) over ALL "
                              "parameters at once, then optimizer.step() (teaching.md §The code)")
    assert all(p.grad is None for p in model.parameters()), \
        "gradients left in p.grad after the step: call optimizer.zero_grad(set_to_none=True)"


def test_three_steps_match_the_answer_key(impl, reference):
    mine, ref = _model(impl), _model(reference)
    mine_opt = _trainer(impl).build_optimizer(mine, _settings(impl))
    ref_opt = _trainer(reference).build_optimizer(ref, _settings(reference))
    for step in range(3):
        batch = _batch(seed=10 + step)
        got, got_norm = _trainer(impl).training_step(mine, batch, mine_opt, _settings(impl, grad_clip=0.5))
        want, want_norm = _trainer(reference).training_step(ref, batch, ref_opt, _settings(reference, grad_clip=0.5))
        assert_close(got.loss.detach(), want.loss.detach(), atol=1e-6, what=f"loss at step {step}",
                     hint="forward with labels=batch, one backward, clip, step, zero_grad (teaching.md §The code)")
        assert_close(torch.as_tensor(got_norm), want_norm, atol=1e-5, what=f"gradient norm at step {step}")
    for (name, p), q in zip(mine.named_parameters(), ref.parameters()):
        assert_close(p.detach(), q.detach(), atol=1e-5, what=f"{name} after 3 AdamW steps vs the answer key",
                     hint="gradients must not accumulate across steps: zero_grad(set_to_none=True) after step()")


def test_the_balance_loss_is_added_only_when_asked(impl, reference):
    batch = _batch(seed=3)
    results = {}
    for alpha in (0.0, 0.5):
        mine, ref = _model(impl, aux_loss_alpha=0.5), _model(reference, aux_loss_alpha=0.5)
        got, _ = _trainer(impl).training_step(mine, batch, _sgd(mine), _settings(impl, aux_loss_alpha=alpha))
        _trainer(reference).training_step(ref, batch, _sgd(ref), _settings(reference, aux_loss_alpha=alpha))
        for (name, p), q in zip(mine.named_parameters(), ref.parameters()):
            assert_close(p.detach(), q.detach(), atol=1e-6, what=f"{name} after a step with aux_loss_alpha={alpha}",
                         hint="add output.aux_loss to the loss you backpropagate when settings.aux_loss_alpha > 0 "
                              "(teaching.md §The code)")
        assert got.aux_loss is not None, "the model in training mode with aux_loss_alpha > 0 must report aux_loss"
        results[alpha] = mine.model.layers[1].mlp.gate.weight.detach().clone()
    assert not torch.equal(results[0.0], results[0.5]), \
        "the router weights moved the same with and without the balance loss: it was not added"


def test_bf16_autocast_runs_the_forward_in_bfloat16(impl, reference):
    batch = _batch(seed=4)
    mine, ref, fp32 = _model(impl), _model(reference), _model(reference)
    got, _ = _trainer(impl).training_step(mine, batch, _sgd(mine), _settings(impl, bf16=True))
    want, _ = _trainer(reference).training_step(ref, batch, _sgd(ref), _settings(reference, bf16=True))
    plain, _ = _trainer(reference).training_step(fp32, batch, _sgd(fp32), _settings(reference, bf16=False))
    assert got.logits.dtype == torch.float32, f"logits {got.logits.dtype}: the model returns float32 logits"
    assert_close(got.loss.detach(), want.loss.detach(), atol=1e-6, what="bf16 loss vs the answer key's",
                 hint="wrap only the forward in torch.autocast('cpu', dtype=torch.bfloat16, enabled=settings.bf16) "
                      "(teaching.md §bf16 autocast on a CPU)")
    assert got.loss.item() != plain.loss.item(), (
        "with settings.bf16=True the loss equals the float32 loss exactly: autocast is not on")
    assert all(p.dtype == torch.float32 for p in mine.parameters()), \
        "bf16 training must keep float32 weights (autocast casts per op; never convert the model)"
    for (name, p), q in zip(mine.named_parameters(), ref.parameters()):
        assert_close(p.detach(), q.detach(), atol=1e-6, what=f"{name} after a bf16 step vs the answer key")


def test_a_non_finite_loss_touches_nothing(impl):
    model = _model(impl)
    optimizer = _trainer(impl).build_optimizer(model, _settings(impl))
    with torch.no_grad():
        model.model.norm.weight[0] = float("inf")            # the loss becomes NaN
    before = {name: t.clone() for name, t in model.state_dict().items()}
    result = _trainer(impl).training_step(model, _batch(), optimizer, _settings(impl))
    assert tuple(result) == (None, None), (
        f"training_step returned {type(result[0]).__name__}, {type(result[1]).__name__} for a NaN loss; return "
        "(None, None) before backward (teaching.md §The non-finite guard)")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor.nan_to_num(), before[name].nan_to_num()), f"{name} changed after a NaN loss"
    assert all(p.grad is None for p in model.parameters()), "backward ran on a NaN loss: check the loss first"
    assert len(optimizer.state) == 0, "the optimizer stepped on a NaN loss"
