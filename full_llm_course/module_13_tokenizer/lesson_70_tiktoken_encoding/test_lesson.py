"""Graded tests for lesson 70: merge_by_rank and fast_encoding in tokenizer/encoders.py."""

import importlib
import random

import pytest
import tiktoken

TEXT = """\
KEEPER. I've kept this door for forty years, and I'll keep it forty more;
they'd have me sleep, but sleeping's not for keepers. WHO'S THERE?
VOICE. A friend, that's all - a friend who's lost his way at 11:45 tonight.
def count_keys(ring):
    return sum(1 for key in ring if key.opens("door"))   # 1, 22, 333, 4444
城门已经关了。守门人说：你好，朋友。 Ça va? Très bien. 😀👍🏽
"""
SNIPPETS = ["Hello", " world", "don't", "WE'LL", "12345", "naïve", "你好", "城门", "😀", "👍🏽", "\n\n", "   ", "\t",
            "keepers", " forty", "<|im_end|>", "aaaaaaa", "\ud800", "\ud83d\ude00", "door\"))", "\r\n"]
BYTES = {bytes([b]): b for b in range(256)}


def encoders(module):
    return importlib.import_module(module.__name__ + ".tokenizer.encoders")


@pytest.fixture(scope="module")
def ranks(reference):
    tokenizer = importlib.import_module(reference.__name__ + ".tokenizer")
    return tokenizer.train_bpe(TEXT * 8, 420)


@pytest.mark.parametrize("piece, extra, expected", [
    (b"abcab", {b"ab": 256, b"bc": 257, b"abc": 258}, [258, 256]),
    (b"bcab", {b"ab": 256, b"bc": 257, b"abc": 258}, [257, 256]),
    (b"abc", {b"bc": 256, b"ab": 257}, [97, 256]),                 # lower rank wins, not the leftmost pair
    (b"aaa", {b"aa": 256}, [256, 97]),                             # equal ranks: leftmost first
    (b"aaaa", {b"aa": 256}, [256, 256]),
    (b"aaaa", {b"aa": 256, b"aaaa": 257}, [257]),                 # the whole piece is a token
    (b"xyz", {b"xyz": 256}, [256]),                                # a token no merge chain reaches
    (b"xyzw", {b"xyz": 256}, [120, 121, 122, 119]),
    (b"q", {}, [113]),
    ("é".encode(), {}, [195, 169]),                                 # bytes, not characters
], ids=["abcab", "bcab", "lowest rank", "tie leftmost", "aaaa", "whole piece", "unreachable token",
        "unreachable inside", "one byte", "two-byte char"])
def test_merge_by_rank_hand_computed(impl, piece, extra, expected):
    got = encoders(impl).merge_by_rank(piece, BYTES | extra)
    assert got == expected, (f"merge_by_rank({piece!r}) with extra ranks {extra} = {got}, expected {expected}: "
                             "whole-piece lookup first, then merge the lowest-ranked adjacent pair (leftmost on a "
                             "tie) until none is a token (teaching.md §Lowest rank first, §The code)")


def test_merge_by_rank_equals_tiktoken_piece_by_piece(impl, reference, ranks):
    pieces = sorted({piece.encode() for text in (TEXT, " ".join(SNIPPETS[:16]))
                     for piece in encoders(reference).compile_pattern().findall(text)})
    plain = tiktoken.Encoding("pieces", pat_str=r"[\s\S]+", mergeable_ranks=ranks, special_tokens={})
    for piece in pieces:
        got = encoders(impl).merge_by_rank(piece, ranks)
        want = plain.encode_ordinary(piece.decode())
        assert got == want, (f"merge_by_rank({piece!r}) = {got}, tiktoken gives {want} "
                             "(teaching.md §Lowest rank first)")


def test_python_bpe_and_tiktoken_give_identical_ids(impl, ranks):
    module = encoders(impl)
    direct = tiktoken.Encoding("direct", pat_str=module.KIMI_PAT_STR, mergeable_ranks=ranks, special_tokens={})
    python_bpe = module.PythonBPE(ranks)
    rng = random.Random(0)
    for _ in range(200):
        text = "".join(rng.choice(SNIPPETS) for _ in range(rng.randint(0, 10)))
        want = direct.encode_ordinary(text)
        got = python_bpe.encode_ordinary(text)
        assert got == want, (f"PythonBPE(ranks).encode_ordinary({text!r}) = {got}, tiktoken gives {want}: "
                             "merge_by_rank must reproduce tiktoken (teaching.md §The code)")
        assert python_bpe.decode(got) == direct.decode(want)


def test_fast_encoding_is_a_local_tiktoken_encoding(impl, ranks):
    module = encoders(impl)
    fast = module.fast_encoding(ranks, name="course_bpe")
    assert isinstance(fast, tiktoken.Encoding), (f"fast_encoding returned {type(fast).__name__}: build "
                                                 "tiktoken.Encoding(name, pat_str=..., mergeable_ranks=..., "
                                                 "special_tokens=...) (teaching.md §fast_encoding)")
    assert fast.name == "course_bpe", f"fast_encoding(..., name='course_bpe') gave an encoding named {fast.name!r}"
    assert fast.n_vocab == len(ranks), f"n_vocab {fast.n_vocab} != {len(ranks)} ranks (no special tokens given)"
    direct = tiktoken.Encoding("direct", pat_str=module.KIMI_PAT_STR, mergeable_ranks=ranks, special_tokens={})
    assert fast.encode_ordinary(TEXT * 3) == direct.encode_ordinary(TEXT * 3), (
        "fast_encoding(ranks) must use Kimi's pat_str by default (teaching.md §fast_encoding)")


def test_fast_encoding_passes_special_tokens_and_pattern(impl, ranks):
    module = encoders(impl)
    specials = {"[BOS]": 420, "<|im_end|>": 422}
    fast = module.fast_encoding(ranks, specials)
    ids = fast.encode("hi<|im_end|>", allowed_special={"<|im_end|>"})
    assert ids[-1] == 422 and fast.decode(ids) == "hi<|im_end|>", (
        f"special tokens were not passed to tiktoken: encode gave {ids} (teaching.md §fast_encoding)")
    assert fast.n_vocab == 423, f"n_vocab {fast.n_vocab}, expected 423 (largest id 422 + 1)"
    gpt2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    with_gpt2 = module.fast_encoding(ranks, pat_str=gpt2)
    direct = tiktoken.Encoding("direct", pat_str=gpt2, mergeable_ranks=ranks, special_tokens={})
    assert with_gpt2.encode_ordinary("12345 你好世界abc") == direct.encode_ordinary("12345 你好世界abc"), (
        "fast_encoding(..., pat_str=...) must use the pattern it is given")
