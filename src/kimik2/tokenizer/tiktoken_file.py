"""The ``tiktoken.model`` file format: one ``<base64 token bytes> <rank>`` line per token (course module 13).

It is the format of Kimi-K2's vocabulary file (read there with tiktoken's ``load_tiktoken_bpe``).
Base64 keeps arbitrary bytes (half a UTF-8 character, a newline) on one printable line. Lines
are written in rank order.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path


def save_ranks(mergeable_ranks: dict[bytes, int], path: str | Path) -> None:
    """Write {token bytes: rank} as a tiktoken.model file. The file appears whole or not at all
    (written next to ``path``, then renamed), so a reader never sees half of it."""
    path = Path(path)
    lines = (f"{base64.b64encode(token).decode('ascii')} {rank}\n"
             for token, rank in sorted(mergeable_ranks.items(), key=lambda item: item[1]))
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_text("".join(lines), encoding="ascii")
    os.replace(partial, path)


def load_ranks(path: str | Path) -> dict[bytes, int]:
    """Read a tiktoken.model file -> {token bytes: rank}; a malformed line raises ValueError naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such tiktoken.model file (train one with "
                                "kimik2.tokenizer.train_bpe and save it with save_ranks)")
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a tiktoken.model file (non-ASCII byte at offset {error.start})") from None
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        token_text, _, rank_text = line.partition(" ")
        try:
            token, rank = base64.b64decode(token_text, validate=True), int(rank_text)
        except ValueError:                                          # binascii.Error is a ValueError too
            raise ValueError(f"{path}:{number}: expected '<base64 token> <integer rank>', got {line[:80]!r}") from None
        if token in ranks:
            raise ValueError(f"{path}:{number}: token {token!r} appears twice (first with rank {ranks[token]})")
        ranks[token] = rank
    return ranks
