"""KimiTokenizer: Kimi-K2's tiktoken tokenizer, for its own vocabulary or a course-trained one (course module 13).

What it adds on top of a ``tiktoken.Encoding``:

- **Special tokens** at the ids Kimi gives them (``special_tokens.py``).
- **Special-token safety.** By default a special token's *text* in the input (a user typing
  "<|im_end|>") is encoded as plain text, never as the special id; only the names passed in
  ``allowed_special`` become special ids. (Kimi's own ``encode`` allows all of them by
  default; we choose the safe default.)
- **Long inputs split safely.** tiktoken can panic on inputs much longer than 400,000
  characters and gets very slow on huge runs without whitespace (tiktoken issue #195). So,
  as Kimi's tokenization_kimi.py does, text is encoded in chunks of at most 400,000
  characters, and a run of more than 25,000 consecutive whitespace or non-whitespace
  characters is cut every 25,000 characters (constants verified in the tokenization_kimi.py
  copy cited in reference/architecture.md; Llama 3's tokenizer uses the same two values). A
  cut can change the tokens right at it, exactly as in Kimi. We cut only ordinary text:
  allowed special tokens are split off first, so a chunk border never breaks one in half.
- **Streaming decode** that never prints half a UTF-8 character (``StreamingDecoder``).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Literal

import tiktoken

from .encoders import fast_encoding, replace_lone_surrogates
from .pretokenize import KIMI_PAT_STR
from .special_tokens import kimi_special_tokens
from .tiktoken_file import load_ranks

MAX_ENCODE_CHARS = 400_000
MAX_RUN_CHARS = 25_000
RUNS = re.compile(r"\s+|\S+")      # stdlib re: \s here is exactly str.isspace(), as in Kimi's splitter


def split_long_text(text: str, max_chars: int = MAX_ENCODE_CHARS, max_run: int = MAX_RUN_CHARS) -> Iterator[str]:
    """Pieces of ``text`` (joined, they give it back): chunks of <= max_chars, runs cut every max_run chars.

    A run is a stretch of only whitespace or only non-whitespace characters (``str.isspace``).
    """
    for start in range(0, len(text), max_chars):
        chunk = text[start:start + max_chars]
        cuts = [run.start() + k for run in RUNS.finditer(chunk)
                for k in range(max_run, run.end() - run.start(), max_run)]          # every max_run chars into a run
        for begin, end in zip([0] + cuts, cuts + [len(chunk)]):
            yield chunk[begin:end]


class KimiTokenizer:
    """Byte-level BPE with Kimi's regex, special tokens and encode/decode rules.

    ``KimiTokenizer.from_file("tiktoken.model")`` loads Kimi's vocabulary (163,840 ids) or one
    trained in the course (e.g. 4,096 + 256 ids).
    """

    def __init__(self, mergeable_ranks: dict[bytes, int], name: str = "kimik2") -> None:
        self.num_base_tokens = len(mergeable_ranks)
        self.special_tokens = kimi_special_tokens(self.num_base_tokens)      # {name: id}
        self.special_names = {i: name for name, i in self.special_tokens.items()}
        self.encoding: tiktoken.Encoding = fast_encoding(mergeable_ranks, self.special_tokens, KIMI_PAT_STR, name)
        self.bos_id = self.special_tokens["[BOS]"]
        self.eos_id = self.special_tokens["[EOS]"]

    @classmethod
    def from_file(cls, path: str | Path) -> "KimiTokenizer":
        return cls(load_ranks(path), name=Path(path).name)

    @property
    def vocab_size(self) -> int:
        """Base tokens + 256 special ids (Kimi-K2: 163,840 = config.json's vocab_size)."""
        return self.num_base_tokens + len(self.special_tokens)

    def token_id(self, special_name: str) -> int:
        """The id of a special token by name, e.g. "<|im_end|>"."""
        if special_name not in self.special_tokens:
            raise KeyError(f"{special_name!r} is not a special token of this tokenizer; "
                           f"named ones: {', '.join(n for n in self.special_tokens if 'reserved' not in n)}")
        return self.special_tokens[special_name]

    def encode(self, text: str, allowed_special: Collection[str] | Literal["all"] = frozenset()) -> list[int]:
        """Text -> ids. Special-token text becomes a special id only if its name is in ``allowed_special``."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}")
        if isinstance(allowed_special, str) and allowed_special != "all":
            raise ValueError(f"allowed_special={allowed_special!r}: pass 'all' or a set of names like {{'<|im_end|>'}}")
        allowed = set(self.special_tokens) if allowed_special == "all" else set(allowed_special)
        unknown = allowed - self.special_tokens.keys()
        if unknown:
            raise ValueError(f"allowed_special has names that are not special tokens: {sorted(unknown)}")
        # BEGIN SOLUTION lesson_71
        text = replace_lone_surrogates(text)
        ids: list[int] = []
        for piece in self._split_specials(text, allowed):
            if piece in allowed:
                ids.append(self.special_tokens[piece])
            else:
                for part in split_long_text(piece):
                    ids.extend(self.encoding.encode_ordinary(part))
        return ids
        # END SOLUTION

    @staticmethod
    def _split_specials(text: str, allowed: set[str]) -> list[str]:
        """Text cut around the allowed special-token strings (kept as their own pieces)."""
        if not allowed:
            return [text]
        longest_first = sorted(allowed, key=len, reverse=True)
        return [piece for piece in re.split(f"({'|'.join(map(re.escape, longest_first))})", text) if piece]

    def _check_ids(self, ids: Iterable[int]) -> list[int]:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token id {bad[0]} is outside this vocabulary (ids 0 .. {self.vocab_size - 1})")
        return ids

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Ids -> raw bytes (special ids as their names)."""
        return self.encoding.decode_bytes(self._check_ids(ids))

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; invalid UTF-8 (e.g. a cut multi-byte character) becomes U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def streaming_decoder(self) -> "StreamingDecoder":
        return StreamingDecoder(self)


class StreamingDecoder:
    """Decode ids one at a time as a model generates them, holding back incomplete UTF-8.

    A Chinese character or an emoji is 3-4 bytes and often spans two or more tokens; printing
    each token's bytes as soon as it arrives would show U+FFFD garbage. ``push`` returns only
    the text that is complete so far; ``flush`` returns whatever is left (a truncated
    character becomes U+FFFD).
    """

    def __init__(self, tokenizer: KimiTokenizer) -> None:
        self.tokenizer = tokenizer
        self.utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_ids: int | Iterable[int]) -> str:
        ids = [token_ids] if isinstance(token_ids, int) else token_ids
        return self.utf8.decode(self.tokenizer.decode_bytes(ids))

    def flush(self) -> str:
        return self.utf8.decode(b"", final=True)
