"""Next-token prediction in its smallest form: a bigram model (course lesson 01).

A bigram model predicts token t+1 from token t alone: a table of counts, each row turned
into a probability distribution. It is the baseline every language model has to beat, and
it shows the three steps Kimi-K2 shares with it: logits/probabilities over the vocabulary,
a loss (cross-entropy), and sampling one token at a time.
"""

from __future__ import annotations

import torch


def bigram_counts(token_ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(n,) token ids -> (vocab, vocab) int64 table: [a, b] = how often b follows a."""
    # BEGIN SOLUTION lesson_01
    pairs = token_ids[:-1] * vocab_size + token_ids[1:]                       # one index per (a, b)
    return torch.bincount(pairs, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)
    # END SOLUTION


def bigram_probabilities(counts: torch.Tensor, smoothing: float = 1.0) -> torch.Tensor:
    """Row-normalised (counts + smoothing): P(next = b | current = a), float32, rows sum to 1."""
    # BEGIN SOLUTION lesson_01
    smoothed = counts.float() + smoothing
    return smoothed / smoothed.sum(dim=-1, keepdim=True)
    # END SOLUTION


def sample_tokens(probabilities: torch.Tensor, start_id: int, num_tokens: int,
                  generator: torch.Generator | None = None) -> list[int]:
    """Draw num_tokens ids one at a time, each from the row of the previous id."""
    # BEGIN SOLUTION lesson_01
    tokens = [start_id]
    for _ in range(num_tokens):
        next_id = torch.multinomial(probabilities[tokens[-1]], num_samples=1, generator=generator)
        tokens.append(int(next_id))
    return tokens[1:]
    # END SOLUTION
