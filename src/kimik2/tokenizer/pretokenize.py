"""Pre-tokenization: cut text into the pieces BPE works inside (course module 13).

BPE never merges across the boundaries this regex draws, so a token can never span a word
and the space after it, a letter and a digit, or a Chinese character and a Latin one. Kimi's
pattern (``pat_str`` of its ``tokenization_kimi.py``) has eight alternatives, tried in order:

1. ``[\\p{Han}]+`` - a run of Chinese characters (Han script), as one piece.
2. and 3. - a word: an optional leading non-letter (usually one space), then cased letters
   (upper-then-lower like "Hello", or all-upper like "HTTP"), then an optional English
   contraction ('s 't 're 've 'm 'll 'd, any case). Han is taken out of both letter classes.
4. ``\\p{N}{1,3}`` - digits in groups of at most three ("12345" -> "123", "45").
5. ``" ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"`` - punctuation/symbols with an optional leading space,
   swallowing the newlines right after them.
6. ``\\s*[\\r\\n]+`` - whitespace that ends in newlines.
7. ``\\s+(?!\\S)`` - whitespace not followed by a non-space: of "   x" it takes "  " and leaves
   " x" to the word rule, so words keep their leading space.
8. ``\\s+`` - any remaining whitespace.

The classes use set intersection (``[A&&[^B]]``), which the ``regex`` module understands only
in its version-1 syntax, hence ``regex.V1``. (Compiled without it, the pattern silently drops
letters.) Every character of the text lands in exactly one piece.
"""

from __future__ import annotations

import regex

LETTER_UPPER = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]"      # upper/title/modifier/other letters, marks
LETTER_LOWER = r"[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]"             # lower/modifier/other letters, marks
CONTRACTION = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"

KIMI_PAT_ALTERNATIVES = [            # the eight alternatives, in the order the regex tries them
    r"[\p{Han}]+",
    rf"[^\r\n\p{{L}}\p{{N}}]?{LETTER_UPPER}*{LETTER_LOWER}+{CONTRACTION}",
    rf"[^\r\n\p{{L}}\p{{N}}]?{LETTER_UPPER}+{LETTER_LOWER}*{CONTRACTION}",
    r"\p{N}{1,3}",
    r" ?[^\s\p{L}\p{N}]+[\r\n]*",
    r"\s*[\r\n]+",
    r"\s+(?!\S)",
    r"\s+",
]
KIMI_PAT_STR = "|".join(KIMI_PAT_ALTERNATIVES)


def compile_pattern(pat_str: str = KIMI_PAT_STR) -> regex.Pattern:
    """The pre-tokenization regex, compiled with the set syntax tiktoken's regex engine uses."""
    # BEGIN SOLUTION lesson_69
    return regex.compile(pat_str, regex.V1)   # V0 reads "[...&&[^...]]" literally and drops letters
    # END SOLUTION


def split_words(text: str, pat_str: str = KIMI_PAT_STR) -> list[str]:
    """Text -> its pre-tokenization pieces; "".join(pieces) == text for Kimi's pattern."""
    # BEGIN SOLUTION lesson_69
    return compile_pattern(pat_str).findall(text)
    # END SOLUTION
