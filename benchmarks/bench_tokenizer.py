"""Train the course BPE on the Shakespeare corpus, then encode with pure Python vs tiktoken.

Trains on the training split (90%), times ``train_bpe``, then encodes the validation split
with ``PythonBPE`` (readable, plain Python) and with the ``tiktoken.Encoding`` built from the
same ranks (Rust), checks that both give the same ids and prints the speed ratio (median of
several runs, single thread). Needs the corpus: ``make data`` first.
Usage: ``python benchmarks/bench_tokenizer.py [--vocab-size 4096] [--runs 3] [--save tiktoken.model]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import tiktoken

from kimik2.tokenizer import PythonBPE, fast_encoding, save_ranks, train_bpe
from kimik2.tokenizer.corpus import CorpusError, load_corpus, train_validation_split


def median_seconds(function, text: str, runs: int) -> tuple[float, list[int]]:
    """Median wall time of ``function(text)`` over ``runs`` calls, and its output."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        ids = function(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times), ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default="data", help="folder holding shakespeare/ (default: data)")
    parser.add_argument("--vocab-size", type=int, default=4096, help="mergeable tokens incl. the 256 bytes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--save", help="also write the trained ranks to this tiktoken.model path")
    args = parser.parse_args()
    try:
        train_text, validation_text = train_validation_split(load_corpus(args.dest))
    except CorpusError as error:
        sys.exit(f"error: {error}")

    start = time.perf_counter()
    ranks = train_bpe(train_text, args.vocab_size)
    train_seconds = time.perf_counter() - start
    if args.save:
        save_ranks(ranks, args.save)

    python_seconds, python_ids = median_seconds(PythonBPE(ranks).encode_ordinary, validation_text, args.runs)
    fast_seconds, fast_ids = median_seconds(fast_encoding(ranks).encode_ordinary, validation_text, args.runs)
    if python_ids != fast_ids:
        sys.exit("error: the two encoders disagree on the validation text")

    megabytes = len(validation_text.encode("utf-8")) / 1e6
    print(f"corpus: train {len(train_text) / 1e6:.2f} M chars, validation {len(validation_text) / 1e6:.2f} M chars; "
          f"vocab {args.vocab_size} (+256 special); tiktoken {tiktoken.__version__}; "
          f"Python {sys.version.split()[0]}; median of {args.runs} runs")
    print(f"train_bpe: {train_seconds:.1f} s; validation: {len(fast_ids):,} tokens, "
          f"{megabytes * 1e6 / len(fast_ids):.2f} bytes/token")
    print("| encoder | seconds | MB/s | tokens/s |")
    print("|---|---|---|---|")
    for name, seconds in (("PythonBPE (pure Python)", python_seconds), ("tiktoken (Rust)", fast_seconds)):
        print(f"| {name} | {seconds:.3f} | {megabytes / seconds:.2f} | {len(fast_ids) / seconds:,.0f} |")
    print(f"speed ratio tiktoken / pure Python: {python_seconds / fast_seconds:.1f}x (identical ids)")


if __name__ == "__main__":
    main()
