"""The course corpus as token streams: a BPE tokenizer trained once on the training part of
Shakespeare and cached next to the corpus, then both parts encoded (course module 15)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..tokenizer import KimiTokenizer, load_ranks, save_ranks, train_bpe
from ..tokenizer.corpus import load_corpus, train_validation_split

DEFAULT_VOCAB = 4096           # mergeable tokens; the tokenizer adds 256 special ids


def tokenizer_path(data_dir: str | Path, vocab_size: int) -> Path:
    return Path(data_dir) / f"shakespeare-bpe-{vocab_size}.tiktoken"


def corpus_tokenizer(data_dir: str | Path = "data", vocab_size: int = DEFAULT_VOCAB) -> KimiTokenizer:
    """The tokenizer of ``vocab_size`` merges learned from the corpus's training part (trained on
    first use, a few seconds, then read from data/)."""
    path = tokenizer_path(data_dir, vocab_size)
    if not path.exists():
        train_text, _ = train_validation_split(load_corpus(data_dir))
        save_ranks(train_bpe(train_text, vocab_size), path)
    return KimiTokenizer(load_ranks(path), name=path.name)


def corpus_token_streams(tokenizer: KimiTokenizer, data_dir: str | Path = "data") -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) 1-D int64 token streams; each work is one text, joined by blank lines."""
    train_text, validation_text = train_validation_split(load_corpus(data_dir))
    return (torch.tensor(tokenizer.encode(train_text), dtype=torch.long),
            torch.tensor(tokenizer.encode(validation_text), dtype=torch.long))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train (once) the course tokenizer on the corpus in DATA/shakespeare/.")
    parser.add_argument("--data", default="data", help="folder holding shakespeare/ (default: data)")
    parser.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB, help="mergeable tokens (default: 4096)")
    args = parser.parse_args(argv)
    tokenizer = corpus_tokenizer(args.data, args.vocab_size)
    print(f"{tokenizer_path(args.data, args.vocab_size)}: {tokenizer.vocab_size} ids")


if __name__ == "__main__":
    main()
