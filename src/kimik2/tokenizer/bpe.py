"""Training a byte-level BPE vocabulary from scratch (course module 13).

The recipe:

1. Remove the special-token strings from the text (they get ids of their own later and must
   never be learned from data), pre-tokenize the rest, and count each distinct piece: BPE only
   needs "which byte strings occur, how often". Shakespeare's 5 MB become ~70k distinct words.
2. Start from the 256 single bytes (rank = byte value) and write every word as byte ids.
3. Repeat until the vocabulary is full: find the most frequent adjacent pair of tokens
   (counting each word once per occurrence, times its frequency), give the concatenation the
   next rank, and replace the pair in every word that contains it (left to right, so "aaa"
   with pair (a, a) becomes [aa, a]).

A full recount of all pairs after each merge costs O(corpus) per merge. Instead we keep

- ``pair_counts[(a, b)]``: how often the pair occurs, weighted by word frequency,
- ``words_with_pair[(a, b)]``: the indices of the distinct words that contain it,

and after a merge we only revisit the words that contained the merged pair: subtract their
old pairs, rewrite them, add their new pairs. The best pair comes from a heap of
``(-count, a, b)`` entries; an entry whose count is out of date is skipped when popped.

Tie-breaking (deterministic): among pairs with the same count, the one with the smallest
``(a, b)`` token ids wins, i.e. the pair made of the older tokens. If a merged byte string is
already in the vocabulary (two different pairs can spell the same bytes), the words reuse
the existing id and no rank is spent.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict

import regex

from .pretokenize import KIMI_PAT_STR, compile_pattern
from .special_tokens import KIMI_SPECIAL_TOKEN_NAMES

Pair = tuple[int, int]


def word_counts(text: str, pat_str: str = KIMI_PAT_STR,
                special_tokens: tuple[str, ...] = KIMI_SPECIAL_TOKEN_NAMES) -> Counter[bytes]:
    """UTF-8 pre-tokenized pieces of ``text`` -> how often each occurs; special strings skipped."""
    pattern = compile_pattern(pat_str)
    counts: Counter[bytes] = Counter()
    segments = regex.split("|".join(map(regex.escape, special_tokens)), text) if special_tokens else [text]
    for segment in segments:
        counts.update(piece.encode("utf-8") for piece in pattern.findall(segment))
    return counts


def merge_pair(word: list[int], pair: Pair, new_id: int) -> list[int]:
    """``word`` with each non-overlapping occurrence of ``pair`` (left to right) replaced by ``new_id``."""
    # BEGIN SOLUTION lesson_68
    merged, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            merged.append(new_id)
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return merged
    # END SOLUTION


def pairs_of(word: list[int]) -> Counter[Pair]:
    """Adjacent pairs of one word, with multiplicity."""
    return Counter(zip(word, word[1:]))


def train_bpe(text: str, vocab_size: int, pat_str: str = KIMI_PAT_STR,
              special_tokens: tuple[str, ...] = KIMI_SPECIAL_TOKEN_NAMES) -> dict[bytes, int]:
    """Learn ``vocab_size`` mergeable tokens (256 bytes + merges) -> {token bytes: rank}.

    ``vocab_size`` counts mergeable tokens only; special tokens are added after them by the
    tokenizer that loads these ranks.
    """
    if vocab_size < 256:
        raise ValueError(f"vocab_size={vocab_size}: a byte-level vocabulary needs at least the 256 single bytes")
    # BEGIN SOLUTION lesson_68
    counts = word_counts(text, pat_str, special_tokens)
    words = [list(word) for word in counts]                         # each distinct word as byte ids
    frequency = list(counts.values())
    vocab = [bytes([byte]) for byte in range(256)]                  # id -> bytes; id == rank
    id_of = {token: i for i, token in enumerate(vocab)}

    pair_counts: Counter[Pair] = Counter()
    words_with_pair: defaultdict[Pair, set[int]] = defaultdict(set)
    for index, word in enumerate(words):
        for pair, n in pairs_of(word).items():
            pair_counts[pair] += n * frequency[index]
            words_with_pair[pair].add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    while len(vocab) < vocab_size:
        best = None
        while heap:
            negative_count, pair = heapq.heappop(heap)
            if pair_counts.get(pair, 0) == -negative_count > 0:     # else: stale entry
                best = pair
                break
        if best is None:
            raise ValueError(f"the text allows only {len(vocab)} tokens (no adjacent pairs are left); "
                             f"ask for vocab_size <= {len(vocab)} or train on more text")
        merged_bytes = vocab[best[0]] + vocab[best[1]]
        if merged_bytes not in id_of:
            id_of[merged_bytes] = len(vocab)
            vocab.append(merged_bytes)
        new_id = id_of[merged_bytes]

        changed: set[Pair] = set()
        for index in words_with_pair.pop(best):
            old_pairs = pairs_of(words[index])
            words[index] = merge_pair(words[index], best, new_id)
            new_pairs = pairs_of(words[index])
            for pair in old_pairs.keys() | new_pairs.keys():
                delta = new_pairs[pair] - old_pairs[pair]
                if delta:
                    pair_counts[pair] += delta * frequency[index]
                    changed.add(pair)
                if pair in new_pairs:
                    words_with_pair[pair].add(index)
                elif pair != best:
                    words_with_pair[pair].discard(index)
        del pair_counts[best]
        changed.discard(best)
        for pair in changed:
            if pair_counts[pair] > 0:
                heapq.heappush(heap, (-pair_counts[pair], pair))
            else:
                del pair_counts[pair]
                words_with_pair.pop(pair, None)
    return {token: rank for rank, token in enumerate(vocab)}
    # END SOLUTION
