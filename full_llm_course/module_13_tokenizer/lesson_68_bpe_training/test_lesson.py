"""Graded tests for lesson 68: merge_pair and train_bpe in tokenizer/bpe.py (no corpus needed)."""

import importlib
import random
from collections import Counter

import pytest

TEXT = """\
KEEPER. I've kept this door for forty years, and I'll keep it forty more;
they'd have me sleep, but sleeping's not for keepers. WHO'S THERE?
VOICE. A friend, that's all - a friend who's lost his way at 11:45 tonight.
KEEPER. Then come you in, and mind the step: it's older than the king.
def count_keys(ring):
    return sum(1 for key in ring if key.opens("door"))   # 1, 22, 333, 4444
城门已经关了。守门人说：你好，朋友。 Ça va? Très bien. 😀👍🏽
"""


def bpe(module):
    """The tokenizer.bpe module of a package (kimik2 does not import its tokenizer at the top)."""
    return importlib.import_module(module.__name__ + ".tokenizer.bpe")


def syllable_text(n_words: int, seed: int) -> str:
    """Made-up English-like text with many distinct words (fixed seed)."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "ren", "the", "ing", "st", "ou", "ar", "mi", "ne", "qu", "ed", "ly", "s"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(n_words)]
    return " ".join(words[:n_words // 3] * 2 + words)


def letter_text(n_words: int, seed: int) -> str:
    """Random words drawn with English letter frequencies: almost every word distinct (fixed seed)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    weights = [8, 1.5, 2.8, 4.3, 12.7, 2.2, 2, 6.1, 7, 0.2, 0.8, 4, 2.4, 6.7, 7.5, 1.9, 0.1, 6, 6.3, 9.1, 2.8, 1,
               2.4, 0.2, 2, 0.1]
    return " ".join("".join(rng.choices(letters, weights, k=rng.randint(2, 9))) for _ in range(n_words))


def full_recount_bpe(counts: Counter, vocab_size: int) -> dict[bytes, int]:
    """The literal algorithm: recount every pair before every merge; ties -> smallest (a, b)."""
    words = [(list(word), n) for word, n in counts.items()]
    vocab = [bytes([b]) for b in range(256)]
    while len(vocab) < vocab_size:
        pairs = Counter()
        for word, n in words:
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merged = vocab[best[0]] + vocab[best[1]]
        if merged not in vocab:
            vocab.append(merged)
        new_id = vocab.index(merged)
        rewritten = []
        for word, n in words:
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            rewritten.append((out, n))
        words = rewritten
    return {token: rank for rank, token in enumerate(vocab)}


def first_difference(got: dict, want: dict) -> str:
    by_rank = {rank: token for token, rank in got.items()}
    for token, rank in sorted(want.items(), key=lambda kv: kv[1]):
        if by_rank.get(rank) != token:
            return f"rank {rank}: got {by_rank.get(rank)!r}, expected {token!r}"
    return f"sizes {len(got)} vs {len(want)}"


@pytest.mark.parametrize("word, pair, new_id, expected", [
    ([104, 117, 103, 104, 117, 103], (104, 117), 256, [256, 103, 256, 103]),      # "hughug", "hu" twice
    ([97, 97, 97], (97, 97), 256, [256, 97]),                                      # overlap: left to right
    ([97, 97, 97, 97, 97], (97, 97), 300, [300, 300, 97]),
    ([1, 2, 1, 2, 2, 1], (2, 1), 9, [1, 9, 2, 9]),
    ([5], (5, 5), 7, [5]),
    ([], (1, 2), 3, []),
    ([256, 101, 257], (101, 257), 258, [256, 258]),                                # pairs of merged ids too
])
def test_merge_pair_hand_computed(impl, word, pair, new_id, expected):
    original = list(word)
    got = bpe(impl).merge_pair(word, pair, new_id)
    assert got == expected, (f"merge_pair({original}, {pair}, {new_id}) = {got}, expected {expected}: scan left to "
                             "right and jump two after a match (teaching.md §Step 2: merge_pair)")
    assert word == original, "merge_pair modified its input list; return a new list (teaching.md §Step 2)"


def test_merge_pair_matches_reference_on_random_words(impl, reference):
    rng = random.Random(0)
    for _ in range(300):
        word = [rng.choice([1, 2, 3]) for _ in range(rng.randint(0, 12))]
        pair = (rng.choice([1, 2, 3]), rng.choice([1, 2, 3]))
        got, want = bpe(impl).merge_pair(word, pair, 99), bpe(reference).merge_pair(word, pair, 99)
        assert got == want, f"merge_pair({word}, {pair}, 99) = {got}, expected {want} (teaching.md §Step 2)"


@pytest.mark.parametrize("text, vocab_size, expected_merges", [
    ("abcd", 259, [b"ab", b"cd", b"abcd"]),            # all pairs tie: smallest (a, b) ids first
    ("cd\nab", 258, [b"ab", b"cd"]),                    # the order of the text does not matter
    ("low " * 5 + "lower " * 2 + "newest " * 6 + "widest " * 3, 264,
     [b"es", b"est", b"lo", b"low", b" n", b" low", b"ew", b" new"]),
], ids=["abcd", "text order", "Sennrich toy corpus"])
def test_train_bpe_hand_computed(impl, text, vocab_size, expected_merges):
    ranks = bpe(impl).train_bpe(text, vocab_size)
    assert [ranks.get(bytes([b])) for b in range(256)] == list(range(256)), (
        "the 256 single bytes must keep ranks 0..255 (teaching.md §Step 3)")
    merges = [token for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]) if rank >= 256]
    assert merges == expected_merges, (f"train_bpe({text[:30]!r}..., {vocab_size}) learned {merges}, expected "
                                       f"{expected_merges}: most frequent pair first, ties to the smallest (a, b) "
                                       "(teaching.md §The loop: tie-breaking)")


@pytest.mark.parametrize("text, vocab_size", [
    (TEXT, 330),
    ("aaaa aaa aa a " * 5 + "abab abba baab " * 3 + "aaaaaaa" * 2, 268),       # repeated symbols, ties
    (syllable_text(400, seed=1), 360),
], ids=["mixed scripts", "repeated symbols", "syllables"])
def test_train_bpe_equals_full_recount(impl, reference, text, vocab_size):
    got = bpe(impl).train_bpe(text, vocab_size)
    want = full_recount_bpe(bpe(reference).word_counts(text), vocab_size)
    assert got == want, (f"train_bpe differs from the full-recount trainer at {first_difference(got, want)}: the "
                         "incremental update must keep every pair count exact (recount the rewritten words; skip "
                         "stale heap entries) - teaching.md §The loop")


def test_train_bpe_matches_reference_and_is_deterministic(impl, reference):
    text = syllable_text(1500, seed=2) + TEXT * 3
    got = bpe(impl).train_bpe(text, 700)
    want = bpe(reference).train_bpe(text, 700)
    assert got == want, f"train_bpe(text, 700) differs from the answer key at {first_difference(got, want)}"
    assert bpe(impl).train_bpe(text, 700) == got, "two runs on the same text gave different vocabularies"
    assert sorted(got.values()) == list(range(700)), "ranks must be 0..vocab_size-1, each once"


def test_special_tokens_are_never_merged(impl):
    chat = "<|im_user|>user<|im_middle|>hi there<|im_end|><|im_assistant|>assistant<|im_middle|>hello<|im_end|>"
    ranks = bpe(impl).train_bpe(chat * 40, 270)
    leaked = [token for token in ranks if len(token) > 1 and (b"<" in token or b"|" in token or b">" in token)]
    assert not leaked, (f"tokens {leaked[:5]} were learned from special-token text: build the word counts with "
                        "word_counts(text, pat_str, special_tokens) (teaching.md §Special tokens stay out)")
    plain = bpe(impl).train_bpe(chat * 40, 270, special_tokens=())
    assert b"<|" in plain, "with special_tokens=() the marker text is ordinary text and '<|' must be learned"


def test_train_bpe_runs_out_of_pairs_with_a_clear_error(impl):
    with pytest.raises(ValueError, match="vocab_size"):
        bpe(impl).train_bpe("ab ab", 300)


def count_merge_pair_calls(package, text: str, vocab_size: int, monkeypatch) -> tuple[dict, int]:
    """Run package's train_bpe with its merge_pair wrapped in a counter."""
    module = bpe(package)
    calls = []
    original = module.merge_pair
    monkeypatch.setattr(module, "merge_pair", lambda *args: calls.append(1) or original(*args))
    ranks = module.train_bpe(text, vocab_size)
    monkeypatch.setattr(module, "merge_pair", original)
    return ranks, len(calls)


def test_train_bpe_updates_incrementally(impl, reference, monkeypatch):
    """~1,900 distinct words, 244 merges: after each merge only the words holding the pair are re-merged.

    Counted, not timed: a full recount calls merge_pair for every word at every merge (~460,000
    calls here); the incremental trainer of the answer key calls it a few thousand times."""
    text = letter_text(2000, seed=3)
    want, reference_calls = count_merge_pair_calls(reference, text, 500, monkeypatch)
    got, calls = count_merge_pair_calls(impl, text, 500, monkeypatch)
    assert got == want, f"train_bpe(text, 500) differs from the answer key at {first_difference(got, want)}"
    assert calls > 0, "train_bpe never called merge_pair: apply each merge to a word with merge_pair"
    assert calls <= 2 * reference_calls, (
        f"train_bpe called merge_pair {calls:,} times, the answer key {reference_calls:,}: after a merge update "
        "only the words that contained the pair, using a pair -> words index and a heap (teaching.md §What the "
        "incremental update saves)")