"""Two encoders over the same BPE ranks: a readable one and tiktoken's (course module 13).

``PythonBPE`` spells out what tiktoken does in Rust, so the two give the same ids:

1. Clean the text: paired UTF-16 surrogates are joined into the character they encode and
   lone surrogates become U+FFFD (the replacement character), exactly as tiktoken does when a
   string cannot be encoded to UTF-8. Decoding such ids gives the cleaned text back.
2. Cut the text into pieces with the pre-tokenization regex.
3. A piece whose bytes are already a token is that token. Otherwise start from its single
   bytes and repeatedly merge the adjacent pair whose concatenation has the lowest rank
   (the leftmost pair on a tie) until no adjacent pair is a token.

``fast_encoding`` builds a ``tiktoken.Encoding`` from the ranks in memory; it never calls
``tiktoken.get_encoding``, which would download a vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable

import regex
import tiktoken

from .pretokenize import KIMI_PAT_STR, compile_pattern


def replace_lone_surrogates(text: str) -> str:
    """Text that UTF-8 can encode: surrogate pairs joined, lone surrogates -> U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def check_ranks(mergeable_ranks: dict[bytes, int]) -> None:
    """Raise ValueError unless the ranks are a usable byte-level BPE vocabulary."""
    missing = [byte for byte in range(256) if bytes([byte]) not in mergeable_ranks]
    if missing:
        raise ValueError(f"mergeable_ranks lacks {len(missing)} of the 256 single bytes (e.g. {bytes(missing[:1])!r}); "
                         "a byte-level vocabulary needs every byte so that any text can be encoded")
    if sorted(mergeable_ranks.values()) != list(range(len(mergeable_ranks))):
        raise ValueError("mergeable_ranks must use each rank 0 .. len(mergeable_ranks)-1 exactly once")


def merge_by_rank(piece: bytes, mergeable_ranks: dict[bytes, int]) -> list[int]:
    """One pre-tokenized piece -> its token ids, merging the lowest-ranked adjacent pair first."""
    # BEGIN SOLUTION lesson_70
    if piece in mergeable_ranks:
        return [mergeable_ranks[piece]]
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        pair_ranks = [mergeable_ranks.get(parts[i] + parts[i + 1]) for i in range(len(parts) - 1)]
        known = [(rank, i) for i, rank in enumerate(pair_ranks) if rank is not None]
        if not known:
            break
        _, i = min(known)                                            # lowest rank, then leftmost
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return [mergeable_ranks[part] for part in parts]
    # END SOLUTION


class PythonBPE:
    """A byte-level BPE encoder in plain Python: slow, but every step is visible."""

    def __init__(self, mergeable_ranks: dict[bytes, int], pat_str: str = KIMI_PAT_STR) -> None:
        check_ranks(mergeable_ranks)
        self.mergeable_ranks = mergeable_ranks
        self.pattern: regex.Pattern = compile_pattern(pat_str)
        self.token_bytes = {rank: token for token, rank in mergeable_ranks.items()}

    def encode_ordinary(self, text: str) -> list[int]:
        """Text -> ids; special-token strings in the text are ordinary text here."""
        ids: list[int] = []
        for piece in self.pattern.findall(replace_lone_surrogates(text)):
            ids.extend(merge_by_rank(piece.encode("utf-8"), self.mergeable_ranks))
        return ids

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Ids -> the bytes they stand for (may end inside a multi-byte UTF-8 character)."""
        return b"".join(self.token_bytes[i] for i in ids)

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; bytes that are not valid UTF-8 become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")


def fast_encoding(mergeable_ranks: dict[bytes, int], special_tokens: dict[str, int] | None = None,
                  pat_str: str = KIMI_PAT_STR, name: str = "kimik2_bpe") -> tiktoken.Encoding:
    """The same ranks as a ``tiktoken.Encoding`` (Rust BPE), built locally without downloads."""
    check_ranks(mergeable_ranks)
    # BEGIN SOLUTION lesson_70
    return tiktoken.Encoding(name, pat_str=pat_str, mergeable_ranks=mergeable_ranks,
                             special_tokens=dict(special_tokens or {}))
    # END SOLUTION
