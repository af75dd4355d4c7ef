"""The lesson-01 bigram model against counting by hand."""

from collections import Counter

import torch

from kimik2.basics import bigram_counts, bigram_probabilities, sample_tokens


def test_bigram_counts_equal_a_counter_over_pairs():
    ids = torch.randint(0, 7, (500,))
    counts = bigram_counts(ids, 7)
    by_hand = Counter(zip(ids[:-1].tolist(), ids[1:].tolist()))
    assert counts.shape == (7, 7) and counts.sum() == 499
    assert all(counts[a, b] == by_hand[(a, b)] for a in range(7) for b in range(7))


def test_probabilities_are_smoothed_rows_that_sum_to_one():
    counts = torch.tensor([[0, 3], [1, 1]])
    probabilities = bigram_probabilities(counts, smoothing=1.0)
    assert torch.allclose(probabilities, torch.tensor([[1 / 5, 4 / 5], [1 / 2, 1 / 2]]))


def test_sampling_follows_the_rows():
    probabilities = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.7, 0.3, 0.0]])
    generator = torch.Generator().manual_seed(0)
    tokens = sample_tokens(probabilities, start_id=0, num_tokens=3000, generator=generator)
    after_two = [b for a, b in zip([0] + tokens, tokens) if a == 2]
    assert all(b == 2 for a, b in zip([0] + tokens, tokens) if a == 1)
    share_of_zero = after_two.count(0) / len(after_two)
    assert abs(share_of_zero - 0.7) < 0.05, share_of_zero
