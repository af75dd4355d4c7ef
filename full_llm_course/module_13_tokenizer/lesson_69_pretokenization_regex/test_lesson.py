"""Graded tests for lesson 69: compile_pattern and split_words in tokenizer/pretokenize.py."""

import importlib
import random

import pytest
import regex

GPT2_PAT_STR = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
SNIPPETS = ["Hello", " world", "don't", "WE'LL", " they'd", "12345", "3.14", "naïve", "Ǆ", "ǅ", "e\u0301", "你好",
            "世界", "テキスト", "Привет", "مرحبا", "😀", "👍🏽", "def f(x):\n    return x**2\n", "\t", "   ", "\n\n",
            "\r\n", " \n ", "\u00a0", "\u2028", "\x1c", "<|im_end|>", "[BOS]", "’", "-", "//"]


def pretokenize(module):
    return importlib.import_module(module.__name__ + ".tokenizer.pretokenize")


@pytest.mark.parametrize("text, pieces", [
    ("Hello world's 12345 你好世界abc", ["Hello", " world's", " ", "123", "45", " ", "你好世界", "abc"]),
    ("WE'LL see HTTPServer iPhone", ["WE'LL", " see", " HTTPServer", " i", "Phone"]),
    ("x   y", ["x", "  ", " y"]),
    ("end.\n\nNext", ["end", ".\n\n", "Next"]),
    ("a \n\n b", ["a", " \n\n", " b"]),
    ("日本語テキスト", ["日本語", "テキスト"]),
    ("Ǆemal e\u0301", ["Ǆemal", " e\u0301"]),
    ("def f(x):\n    return", ["def", " f", "(x", "):\n", "   ", " return"]),
    ("In 1599, 3.14159", ["In", " ", "159", "9", ",", " ", "3", ".", "141", "59"]),
    ("城门已经关了。守门人说：你好", ["城门已经关了", "。", "守门人说", "：", "你好"]),
], ids=["mixed", "case", "spaces", "punctuation+newlines", "newline run", "kana", "title case+mark", "code",
        "numbers", "chinese"])
def test_split_words_follows_kimis_rules(impl, text, pieces):
    got = pretokenize(impl).split_words(text)
    assert got == pieces, (f"split_words({text!r}) = {got}, expected {pieces}. Did you compile with regex.V1? "
                           "(teaching.md §The pattern, §The regex.V1 trap)")


def test_compile_pattern_uses_version_1_set_syntax(impl):
    pattern = pretokenize(impl).compile_pattern()
    assert isinstance(pattern, regex.Pattern), (f"compile_pattern returned {type(pattern).__name__}; use the "
                                                "third-party `regex` module (teaching.md §The code)")
    assert pattern.flags & regex.V1, ("compile_pattern must pass regex.V1: in version 0 '[A&&[^B]]' is not an "
                                      "intersection (teaching.md §The regex.V1 trap)")
    assert pattern.findall("Hello world") == ["Hello", " world"], (
        f"compile_pattern().findall('Hello world') = {pattern.findall('Hello world')}: letters were dropped, the "
        "V0 symptom (teaching.md §The regex.V1 trap)")


def test_compile_pattern_compiles_the_given_pattern(impl):
    module = pretokenize(impl)
    assert module.compile_pattern(GPT2_PAT_STR).findall("They'LL pay 12345") == \
        ["They", "'", "LL", " pay", " 12345"], "compile_pattern(pat_str) must compile pat_str, not Kimi's pattern"
    assert module.compile_pattern(r"[\p{L}&&[^a]]+").findall("banana") == ["b", "n", "n"], (
        "'[\\p{L}&&[^a]]' must mean 'letters except a' (regex.V1) - teaching.md §The regex.V1 trap")


def test_split_words_uses_the_given_pattern(impl, reference):
    text = "They'LL pay 12345 for 你好世界abc\n\n  ok"
    got = pretokenize(impl).split_words(text, GPT2_PAT_STR)
    want = pretokenize(reference).split_words(text, GPT2_PAT_STR)
    assert got == want, f"split_words(text, GPT-2 pattern) = {got}, expected {want}"


def test_split_words_matches_reference_and_keeps_every_character(impl, reference):
    rng = random.Random(0)
    for _ in range(300):
        text = "".join(rng.choice(SNIPPETS) for _ in range(rng.randint(0, 8)))
        got = pretokenize(impl).split_words(text)
        want = pretokenize(reference).split_words(text)
        assert got == want, f"split_words({text!r}) = {got}, expected {want} (teaching.md §The pattern)"
        assert "".join(got) == text, f"the pieces of {text!r} do not join back to the text"
