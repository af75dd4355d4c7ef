"""Graded tests for lesson 78: kimik2.generation.filter_logits and sample_next_token."""

import importlib

import pytest
import torch


def generation(package):
    """The package's generation module (kimik2/__init__.py does not import it)."""
    return importlib.import_module(f"{package.__name__}.generation")


def _logits(rows, vocab, seed):
    return 2 * torch.randn(rows, vocab, generator=torch.Generator().manual_seed(seed))


def _keep_top_k(logits, k):
    """By hand: row by row, the k largest logits stay."""
    keep = torch.zeros_like(logits, dtype=torch.bool)
    for row in range(logits.shape[0]):
        order = sorted(range(logits.shape[1]), key=lambda i: -float(logits[row, i]))
        for i in order[:k]:
            keep[row, i] = True
    return keep


def _keep_top_p(logits, p):
    """By hand: walk the tokens from most to least likely; a token stays while the mass of the tokens
    before it is still below p (so the best token always stays)."""
    keep = torch.zeros_like(logits, dtype=torch.bool)
    probs = logits.double().softmax(-1)
    for row in range(logits.shape[0]):
        mass = 0.0
        for i in sorted(range(logits.shape[1]), key=lambda i: -float(probs[row, i])):
            if mass >= p:
                break
            keep[row, i] = True
            mass += float(probs[row, i])
    return keep


def _check_filtered(got, logits, keep, what, hint):
    assert isinstance(got, torch.Tensor) and got.shape == logits.shape, (
        f"{what}: returned {getattr(got, 'shape', type(got).__name__)}; expected a tensor of shape "
        f"{tuple(logits.shape)}")
    kept = torch.isfinite(got)
    if not torch.equal(kept, keep):
        row = int((kept != keep).any(-1).nonzero()[0])
        raise AssertionError(f"{what}: row {row} keeps tokens {kept[row].nonzero().flatten().tolist()}, expected "
                             f"{keep[row].nonzero().flatten().tolist()}\nhint: {hint}")
    assert bool((got[~keep] == float("-inf")).all()), f"{what}: filtered tokens must be -inf (softmax gives them 0)"
    assert torch.equal(got[keep], logits[keep]), f"{what}: the kept logits must be left unchanged"


@pytest.mark.parametrize("k", [1, 5, 49, 50, 80])
def test_top_k_keeps_the_k_largest_logits(impl, reference, k):
    logits = _logits(4, 50, seed=k)
    before = logits.clone()
    got = generation(impl).filter_logits(logits, top_k=k)
    assert torch.equal(logits, before), "filter_logits changed its input in place: return a new tensor (masked_fill)"
    _check_filtered(got, logits, _keep_top_k(logits, min(k, 50)), f"filter_logits(top_k={k}) on (4, 50) logits",
                    "keep the logits >= the k-th largest of each row; k >= vocabulary keeps all "
                    "(teaching.md §Top-k)")


@pytest.mark.parametrize("p", [1e-6, 0.3, 0.75, 0.9, 0.999, 1.0])
def test_top_p_keeps_the_smallest_set_that_reaches_p(impl, reference, p):
    logits = _logits(4, 30, seed=int(p * 1000))
    got = generation(impl).filter_logits(logits, top_p=p)
    _check_filtered(got, logits, _keep_top_p(logits, p), f"filter_logits(top_p={p}) on (4, 30) logits",
                    "sort by probability; drop a token once the mass of the tokens before it reaches p; the best "
                    "token always stays (teaching.md §Top-p)")


def test_top_p_on_a_distribution_you_can_check_by_eye(impl, reference):
    logits = torch.log(torch.tensor([[0.05, 0.5, 0.15, 0.3]]))            # sorted: 0.5, 0.3, 0.15, 0.05
    cases = ((0.01, [1]), (0.49, [1]), (0.51, [1, 3]), (0.79, [1, 3]), (0.81, [1, 2, 3]), (0.96, [0, 1, 2, 3]))
    for p, expected in cases:
        kept = torch.isfinite(generation(impl).filter_logits(logits, top_p=p))[0].nonzero().flatten().tolist()
        assert kept == expected, (
            f"probabilities [0.05, 0.5, 0.15, 0.3], top_p={p}: kept tokens {kept}, expected {expected} "
            "(the smallest set whose mass reaches p; teaching.md §Top-p)")


def test_top_k_then_top_p(impl, reference):
    """Top-p works on what top-k left, renormalised: the nucleus of the top-k distribution."""
    logits = _logits(5, 40, seed=7)
    got = generation(impl).filter_logits(logits, top_k=6, top_p=0.7)
    keep_k = _keep_top_k(logits, 6)
    keep = keep_k & _keep_top_p(logits.masked_fill(~keep_k, float("-inf")), 0.7)
    _check_filtered(got, logits, keep, "filter_logits(top_k=6, top_p=0.7)",
                    "apply top-k first, then top-p to the remaining logits (teaching.md §Both, in order)")
    want = generation(reference).filter_logits(logits, top_k=6, top_p=0.7)
    assert torch.equal(torch.isfinite(got), torch.isfinite(want)), "kept tokens differ from the answer key"


def test_greedy_and_the_settings_it_rejects(impl, reference):
    gen = generation(impl)
    logits = _logits(6, 100, seed=3)
    got = gen.sample_next_token(logits, temperature=0.0)
    assert isinstance(got, torch.Tensor) and got.shape == (6,) and got.dtype == torch.long, (
        f"sample_next_token returned {getattr(got, 'shape', type(got).__name__)} "
        f"{getattr(got, 'dtype', '')}; expected a (b,) = (6,) int64 tensor of token ids")
    assert got.tolist() == logits.argmax(-1).tolist(), (
        f"temperature 0 must be greedy: got {got.tolist()}, argmax is {logits.argmax(-1).tolist()} "
        "(teaching.md §Greedy and temperature)")
    for kwargs, message in ((dict(temperature=-1.0), "temperature=-1.0"), (dict(temperature=1.0, top_k=0), "top_k=0"),
                            (dict(temperature=1.0, top_p=0.0), "top_p=0.0"), (dict(temperature=1.0, top_p=1.2),
                                                                              "top_p=1.2")):
        with pytest.raises(ValueError, match=message):
            gen.sample_next_token(logits, **kwargs)


SETTINGS = [(1.0, None, None), (0.7, 3, None), (1.0, None, 0.8), (1.3, 4, 0.9), (2.0, None, None)]


@pytest.mark.parametrize("temperature, top_k, top_p", SETTINGS)
def test_samples_follow_the_filtered_distribution(impl, reference, temperature, top_k, top_p):
    """40,000 draws; every token's frequency within 5 standard errors of the distribution computed by hand."""
    logits = torch.tensor([[2.0, -1.0, 1.5, 0.0, 1.0, 0.5]])
    probs = (logits[0].double() / temperature).softmax(-1)
    keep = _keep_top_k(logits, top_k or 6)[0]
    kept = torch.where(keep, probs, 0.0)
    kept = kept / kept.sum()
    if top_p is not None:
        keep = keep & _keep_top_p(torch.log(kept)[None], top_p)[0]
        kept = torch.where(keep, kept, 0.0)
        kept = kept / kept.sum()
    g = torch.Generator().manual_seed(11)
    draws = torch.cat([generation(impl).sample_next_token(logits.expand(2000, -1), temperature, top_k, top_p, g)
                       for _ in range(20)])
    observed = torch.bincount(draws, minlength=6).double() / draws.numel()
    sigma = (kept * (1 - kept) / draws.numel()).sqrt()
    worst = int(((observed - kept).abs() - 5 * sigma).argmax())
    assert bool(((observed - kept).abs() <= 5 * sigma + 1e-12).all()), (
        f"temperature={temperature}, top_k={top_k}, top_p={top_p}: token {worst} drawn with frequency "
        f"{observed[worst]:.4f}, expected {kept[worst]:.4f} (+- {5 * sigma[worst]:.4f}); frequencies "
        f"{[round(x, 3) for x in observed.tolist()]} vs {[round(x, 3) for x in kept.tolist()]}\nhint: divide the "
        "logits by the temperature, filter, softmax, then draw (teaching.md §The code)")


@pytest.mark.parametrize("temperature, top_k, top_p", SETTINGS)
def test_same_generator_same_tokens_as_the_answer_key(impl, reference, temperature, top_k, top_p):
    logits = _logits(64, 200, seed=5)
    got = generation(impl).sample_next_token(logits, temperature, top_k, top_p, torch.Generator().manual_seed(9))
    want = generation(reference).sample_next_token(logits, temperature, top_k, top_p, torch.Generator().manual_seed(9))
    agree = (got == want).float().mean().item()
    assert agree == 1.0, (
        f"temperature={temperature}, top_k={top_k}, top_p={top_p}: with the same seeded generator your tokens agree "
        f"with the answer key in {agree:.0%} of 64 rows\nhint: draw with torch.multinomial(probs, num_samples=1, "
        "generator=generator) on softmax(filtered logits / temperature) in float32 (teaching.md §The code)")
