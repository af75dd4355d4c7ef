"""Lesson 69: Kimi's pre-tokenization regex, alternative by alternative.

Run: python code_snippets.py   (about 2 s; writes pieces.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import regex  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from kimik2.tokenizer.pretokenize import (KIMI_PAT_ALTERNATIVES, KIMI_PAT_STR, compile_pattern,  # noqa: E402
                                          split_words)

HERE = Path(__file__).parent

NAMES = ["Han run", "word, lower-ending", "word, upper", "1-3 digits", "punctuation", "newlines", "spaces before a word",
         "other spaces"]
TAGGED = regex.compile("|".join(f"({alt})" for alt in KIMI_PAT_ALTERNATIVES), regex.V1)   # group i+1 = alternative i+1


def tagged(text):
    """[(piece, number of the alternative that matched it)]."""
    return [(m.group(), m.lastindex) for m in TAGGED.finditer(text)]


def show(text):
    print(f"{text!r}")
    print("   " + "  ".join(f"{piece!r}:{alt}" for piece, alt in tagged(text)))


# 1. Each alternative at work.
for sample in ["Hello world's 12345 你好世界abc",
               "WE'LL see HTTPServer iPhone",
               "x   y\tz",
               "end.\n\nNext line\n  indented",
               "Ǆemal e\u0301 naïve Привет",
               "日本語テキスト"]:
    show(sample)

# 2. The V1 trap: compiled without regex.V1 the set syntax [A&&[^B]] is read literally.
v0 = regex.compile(KIMI_PAT_STR)                 # regex.DEFAULT_VERSION is VERSION0
for sample in ["Hello world", "don't stop 42 times"]:
    print(f"V0: {v0.findall(sample)!r:40}  V1: {compile_pattern().findall(sample)!r}")
upper = r"[\p{Lu}&&[^\p{Han}]]"
for version, flags in (("V0", 0), ("V1", regex.V1)):
    cls = regex.compile(upper, flags)
    print(f"{version} {upper}: " + ", ".join(f"{s!r} {bool(cls.fullmatch(s))}" for s in ["A", "中", "A]", "&]", "中]"]))

# 3. Examples: English, Chinese, code, numbers.
examples = {
    "English": "To be, or not to be: that's the question.\n",
    "Chinese": "城门已经关了。守门人说：你好，朋友！",
    "code": "def f(x):\n    return x**2  # square\n",
    "numbers": "In 1599, 12,450 keys cost $3.14159 (≈ 1e-6%).",
}
for name, text in examples.items():
    pieces = split_words(text)
    print(f"{name:8} {len(text):>3} chars -> {len(pieces):>2} pieces: {pieces}")
    assert "".join(pieces) == text

# 4. Kimi vs GPT-2 and o200k (the pattern of OpenAI's o200k_base, from tiktoken_ext/openai_public.py).
GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
O200K = "|".join([
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"\s*[\r\n]+",
    r"\s+(?!\S)",
    r"\s+",
])
for text in ["你好世界abc", "日本語テキスト", "数据2025年", "12345", "They'LL", "//\n//x"]:
    print(f"{text!r:14} kimi {split_words(text)!r:34} o200k {split_words(text, O200K)!r:30} "
          f"gpt2 {split_words(text, GPT2)!r}")

# 5. Quirks of the contraction rule.
print("quirks:", {text: split_words(text) for text in ["O'Neil", "don\u2019t", "x'sy", "rock'n'roll"]})
try:
    __import__("re").compile(KIMI_PAT_STR)
except Exception as error:                              # the standard library has no \p{...}
    print("stdlib re:", type(error).__name__, error)

# Figure: pieces of three lines, coloured by the alternative that matched them.
colors = plt.get_cmap("tab10").colors
lines = ["Hello world's 12345 HTTPServer", "end.\n\n  x   y = f(a, b)", "It's 1,000,000 WE'LL see"]
fig, ax = plt.subplots(figsize=(9.0, 3.2))
for row, text in enumerate(lines):
    x = 0.0
    for piece, alt in tagged(text):
        label = piece.replace(" ", "\u2423").replace("\n", "\u21b5")
        width = 0.19 * len(label) + 0.12
        ax.add_patch(Rectangle((x, -row - 0.35), width, 0.7, color=colors[alt - 1], alpha=0.35))
        ax.text(x + width / 2, -row, label, ha="center", va="center", family="DejaVu Sans Mono", fontsize=11)
        x += width + 0.06
for alt in sorted({alt for text in lines for _, alt in tagged(text)}):
    ax.add_patch(Rectangle((0, 0), 0, 0, color=colors[alt - 1], alpha=0.35, label=f"{alt}: {NAMES[alt - 1]}"))
ax.set_xlim(-0.1, 8.2)
ax.set_ylim(-len(lines) + 0.4, 0.6)
ax.axis("off")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, frameon=False, fontsize=9)
ax.set_title("Kimi's pre-tokenizer: each box is one piece (\u2423 space, \u21b5 newline); colour = alternative")
fig.tight_layout()
fig.savefig(HERE / "pieces.png", dpi=110)
print("wrote pieces.png")
