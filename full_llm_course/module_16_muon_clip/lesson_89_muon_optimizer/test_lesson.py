"""Graded tests for lesson 89: kimik2.muon.muon_update_ and the Muon optimizer."""

import importlib
import math

import pytest
import torch
from kimi_course.testing import assert_close

KWARGS = dict(lr=0.02, weight_decay=0.1, momentum=0.95, ns_steps=5)


def _muon(module):
    return importlib.import_module(module.__name__ + ".muon")


def _run(module, shapes, steps, nesterov, seed=0):
    """Run muon_update_ for `steps` steps from fixed weights and gradients; return params and buffers."""
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g) for s in shapes]
    buffers = [torch.zeros(s) for s in shapes]
    for _ in range(steps):
        grads = [torch.randn(s, generator=g) for s in shapes]
        _muon(module).muon_update_(params, grads, buffers, nesterov=nesterov, **KWARGS)
    return params, buffers


@pytest.mark.parametrize("nesterov", [True, False])
def test_muon_update_matches_reference(impl, reference, nesterov):
    shapes = [(24, 24), (40, 16), (16, 40), (40, 16), (7168, 8)]          # last: Kimi-K2's hidden size, tall
    got_params, got_buffers = _run(impl, shapes, 3, nesterov)
    want_params, want_buffers = _run(reference, shapes, 3, nesterov)
    for shape, got, want in zip(shapes, got_buffers, want_buffers):
        assert_close(got, want, atol=1e-6, what=f"momentum buffer {shape} after 3 steps (nesterov={nesterov})",
                     hint="buffer.lerp_(grad, 1 - momentum): an EMA, not buffer * mu + grad (teaching.md §Momentum)")
    for shape, got, want in zip(shapes, got_params, want_params):
        assert_close(got, want, atol=1e-5, what=f"parameter {shape} after 3 steps (nesterov={nesterov})",
                     hint="W <- W (1 - lr wd) - lr rms_matching_scale(shape) newton_schulz(direction) "
                          "(teaching.md §The code)")


def test_first_step_by_hand(impl, reference):
    """Independent check of one Nesterov step from zero momentum, with the reference's newton_schulz."""
    g = torch.Generator().manual_seed(1)
    w, grad = torch.randn(12, 20, generator=g), torch.randn(12, 20, generator=g)
    param, buffer = w.clone(), torch.zeros(12, 20)
    _muon(impl).muon_update_([param], [grad.clone()], [buffer], nesterov=True, **KWARGS)
    mu, lr, wd = KWARGS["momentum"], KWARGS["lr"], KWARGS["weight_decay"]
    m = (1 - mu) * grad
    assert_close(buffer, m, atol=1e-7, what="momentum buffer after one step from zero",
                 hint="the EMA gives (1 - mu) G on the first step (teaching.md §Momentum)")
    direction = (1 - mu) * grad + mu * m
    expected = w * (1 - lr * wd) - lr * 0.2 * math.sqrt(20) * _muon(reference).newton_schulz(direction)
    assert_close(param, expected, atol=1e-5, what="parameter after one Nesterov step (12, 20)",
                 hint="Nesterov direction grad.lerp(buffer, mu); decay W by (1 - lr wd), not (1 - lr_adjusted wd) "
                      "(teaching.md §Decoupled weight decay)")


def test_gradients_are_not_modified(impl):
    g = torch.Generator().manual_seed(2)
    params, grads = [torch.randn(8, 6, generator=g)], [torch.randn(8, 6, generator=g)]
    before = grads[0].clone()
    _muon(impl).muon_update_(params, grads, [torch.zeros(8, 6)], nesterov=True, **KWARGS)
    assert torch.equal(grads[0], before), ("muon_update_ changed the gradient in place: use grad.lerp(buffer, mu) "
                                           "(a new tensor), not grad.lerp_ (teaching.md §Pitfalls)")


def test_batched_equals_one_at_a_time(impl):
    shapes = [(32, 16)] * 5 + [(16, 32)]
    g = torch.Generator().manual_seed(3)
    start = [torch.randn(s, generator=g) for s in shapes]
    grads = [torch.randn(s, generator=g) for s in shapes]
    together = [p.clone() for p in start]
    _muon(impl).muon_update_(together, [x.clone() for x in grads], [torch.zeros(s) for s in shapes],
                             nesterov=True, **KWARGS)
    for i, (p, grad) in enumerate(zip(start, grads)):
        alone = p.clone()
        _muon(impl).muon_update_([alone], [grad.clone()], [torch.zeros(grad.shape)], nesterov=True, **KWARGS)
        assert_close(together[i], alone, atol=1e-5, what=f"parameter {i} {tuple(p.shape)}: in a batch vs alone",
                     hint="each matrix is orthogonalised on its own; stacking same-shape matrices must not mix "
                          "them (teaching.md §Batching)")


@pytest.mark.parametrize("nesterov", [True, False])
def test_muon_equals_torch_optim_muon(impl, nesterov):
    """Against PyTorch's own implementation, step by step."""
    shapes = [(48, 48), (96, 32), (32, 96), (5, 130), (96, 32)]
    g = torch.Generator().manual_seed(4)
    ours = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    ours_opt = _muon(impl).Muon(ours, lr=0.02, weight_decay=0.1, nesterov=nesterov)
    theirs_opt = torch.optim.Muon(theirs, lr=0.02, weight_decay=0.1, nesterov=nesterov, adjust_lr_fn="match_rms_adamw")
    for step in range(4):
        for p, q in zip(ours, theirs):
            p.grad = torch.randn(p.shape, generator=g)
            q.grad = p.grad.clone()
        ours_opt.step()
        theirs_opt.step()
        for shape, p, q in zip(shapes, ours, theirs):
            assert_close(p.detach(), q.detach(), atol=1e-5,
                         what=f"Muon vs torch.optim.Muon(adjust_lr_fn='match_rms_adamw'), step {step}, shape {shape}",
                         hint="same EMA momentum, Nesterov lerp, decay and 0.2 sqrt(max(A, B)) scale as torch "
                              "(teaching.md §Same numbers as torch.optim.Muon)")
