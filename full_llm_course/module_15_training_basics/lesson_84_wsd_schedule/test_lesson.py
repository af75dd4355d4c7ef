"""Graded tests for lesson 84: kimik2.training.schedule.wsd_learning_rate (warmup-stable-decay)."""

import importlib
import math

import pytest


def _schedule(package):
    return importlib.import_module(package.__name__ + ".training.schedule")


def _written_out(step, total, peak, warmup, fraction, final):
    """The formula of teaching.md §The formula, independently of the answer key."""
    decay = round(total * fraction)
    start = total - decay
    if step < warmup:
        return peak * (step + 1) / warmup
    if step < start or decay == 0:
        return peak
    progress = (step - start + 1) / decay
    return peak * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress)))


CASES = [
    (300, 3e-3, 20, 5.5 / 15.5, 0.1),      # the trainer's defaults
    (100, 1.0, 10, 0.3, 0.1),
    (57, 2e-4, 0, 0.5, 0.0),               # no warm-up, decay to zero
    (40, 1.0, 5, 0.0, 0.1),                # no decay
    (25, 1.0, 3, 1.0, 0.2),                # cosine over the whole run
    (1, 1.0, 0, 5.5 / 15.5, 0.1),          # one step
]


@pytest.mark.parametrize("total, peak, warmup, fraction, final", CASES)
def test_wsd_matches_the_formula_and_the_answer_key(impl, reference, total, peak, warmup, fraction, final):
    for step in range(total):
        got = _schedule(impl).wsd_learning_rate(step, total, peak, warmup, decay_fraction=fraction,
                                                final_ratio=final)
        want = _written_out(step, total, peak, warmup, fraction, final)
        ref = _schedule(reference).wsd_learning_rate(step, total, peak, warmup, decay_fraction=fraction,
                                                     final_ratio=final)
        assert isinstance(got, float), f"wsd_learning_rate returned {type(got).__name__}; return a float"
        assert abs(got - want) <= 1e-12 * max(1.0, abs(want)) and abs(got - ref) <= 1e-12 * max(1.0, abs(ref)), (
            f"step {step} of {total} (peak {peak}, warmup {warmup}, decay_fraction {fraction:.4f}, final_ratio "
            f"{final}): got {got!r}, expected {want!r}. Warm-up (step + 1) / warmup; decay starts at total - "
            "round(total x decay_fraction); progress (step - start + 1) / decay_steps (teaching.md §The formula)")


def test_the_shape_of_kimi_k2_proportions(impl):
    total, warmup = 15500, 500
    lr = [_schedule(impl).wsd_learning_rate(s, total, 2e-4, warmup) for s in range(total)]
    assert lr[0] == pytest.approx(2e-4 / 500) and lr[499] == pytest.approx(2e-4), \
        "the warm-up must ramp linearly and reach the peak at step warmup - 1"
    assert set(lr[500:10000]) == {2e-4}, "the stable stage must hold exactly the peak until 10/15.5 of the run"
    decay = lr[10000:]
    assert decay[0] < 2e-4 and all(a > b for a, b in zip(decay, decay[1:])), \
        "the decay must start at step 10000 (5.5/15.5 of 15500 steps) and fall at every step"
    assert lr[-1] == pytest.approx(2e-5, rel=1e-12), (
        f"the last step runs at {lr[-1]:.3e}; with the defaults it must reach final_ratio x peak = 2e-5 exactly "
        "(progress = 1 at the last step)")
    assert lr[10000 + 2750 - 1] == pytest.approx(1.1e-4, rel=1e-9), "half-way through the decay: (1 + 0.1) / 2 x peak"
