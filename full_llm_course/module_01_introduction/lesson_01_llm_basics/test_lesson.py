"""Graded tests for lesson 01: the bigram model in basics.py (bigram_counts, bigram_probabilities, sample_tokens)."""

import torch
from kimi_course.testing import assert_close


def _ids(n: int, vocab: int, seed: int) -> torch.Tensor:
    return torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(seed))


def test_bigram_counts_match_reference(impl, reference):
    for n, vocab, seed in ((2, 3, 0), (50, 5, 1), (1000, 11, 2), (4000, 65, 3)):
        ids = _ids(n, vocab, seed)
        assert_close(impl.basics.bigram_counts(ids, vocab), reference.basics.bigram_counts(ids, vocab), atol=0,
                     what=f"bigram_counts(ids of length {n}, vocab_size={vocab})",
                     hint="row = current token, column = next token; n ids give n - 1 pairs; return int64 "
                          "(vocab, vocab): teaching.md §Counting pairs")


def test_bigram_counts_direction_and_total(impl):
    ids = torch.tensor([0, 1, 1, 2])                  # pairs (0,1), (1,1), (1,2)
    counts = impl.basics.bigram_counts(ids, 4)
    expected = torch.zeros(4, 4, dtype=torch.int64)
    expected[0, 1] = expected[1, 1] = expected[1, 2] = 1
    assert_close(counts, expected, atol=0, what="bigram_counts([0, 1, 1, 2], 4)",
                 hint="counts[a, b] = how often b FOLLOWS a (not the transpose); the table is 4 x 4 even though "
                      "id 3 never occurs (minlength): teaching.md §Counting pairs")


def test_bigram_probabilities_match_reference(impl, reference):
    counts = reference.basics.bigram_counts(_ids(3000, 17, 4), 17)
    counts[5] = 0                                      # a token that never occurs as "current"
    for smoothing in (1.0, 0.5, 0.01):
        assert_close(impl.basics.bigram_probabilities(counts, smoothing=smoothing),
                     reference.basics.bigram_probabilities(counts, smoothing=smoothing), atol=1e-6,
                     what=f"bigram_probabilities(counts, smoothing={smoothing})",
                     hint="add the smoothing to every count, then divide each ROW by its sum; float32: "
                          "teaching.md §From counts to probabilities")


def test_bigram_probabilities_default_smoothing_is_one(impl, reference):
    counts = torch.tensor([[0, 3], [1, 1]])
    assert_close(impl.basics.bigram_probabilities(counts), reference.basics.bigram_probabilities(counts),
                 atol=1e-6, what="bigram_probabilities([[0, 3], [1, 1]]) with the default smoothing",
                 hint="the default is add-one smoothing: row 0 becomes [1, 4] / 5: "
                      "teaching.md §From counts to probabilities")


def test_sample_tokens_reproduce_reference(impl, reference):
    probabilities = reference.basics.bigram_probabilities(reference.basics.bigram_counts(_ids(500, 9, 5), 9), 0.3)
    got = impl.basics.sample_tokens(probabilities, start_id=4, num_tokens=40,
                                    generator=torch.Generator().manual_seed(6))
    want = reference.basics.sample_tokens(probabilities, start_id=4, num_tokens=40,
                                          generator=torch.Generator().manual_seed(6))
    assert isinstance(got, list) and all(isinstance(t, int) for t in got), (
        f"sample_tokens must return a list of Python ints, got {type(got).__name__} "
        f"of {type(got[0]).__name__ if len(got) else '?'}: use int(...) (teaching.md §Sampling)")
    assert len(got) == 40, f"asked for 40 new tokens, got {len(got)}: the start id is not part of the output " \
                           "(teaching.md §Sampling)"
    assert got == want, (f"with the same generator seed the sequence differs from the answer key at position "
                         f"{next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)}: draw each token with "
                         "torch.multinomial(probabilities[previous], 1, generator=generator), exactly once per "
                         "step, starting from the row of start_id (teaching.md §Sampling)")


def test_sample_tokens_follow_the_rows(impl):
    probabilities = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.7, 0.3, 0.0]])
    tokens = impl.basics.sample_tokens(probabilities, start_id=0, num_tokens=3000,
                                       generator=torch.Generator().manual_seed(0))
    previous = [0] + tokens[:-1]
    assert tokens[0] == 1, f"after start_id 0 the only possible token is 1, got {tokens[0]} (teaching.md §Sampling)"
    assert all(b == 2 for a, b in zip(previous, tokens) if a == 1), \
        "after token 1 the row says 2 with probability 1: condition on the PREVIOUS token (teaching.md §Sampling)"
    after_two = [b for a, b in zip(previous, tokens) if a == 2]
    share = after_two.count(0) / len(after_two)
    assert abs(share - 0.7) < 0.05, f"after token 2, id 0 should follow 70% of the time, got {share:.1%} " \
                                    "(teaching.md §Sampling)"
