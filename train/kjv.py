"""The training corpus: the King James Version of the Bible (1611, public domain),
as shipped by Debian's `bible-kjv-text` package and printed by its `bible` program
(package `bible-kjv`). `make train` installs both with apt-get.

train.py calls `load_chapters()`; the result is one string per chapter (verse
numbers and headings removed, verses joined by single spaces), in canonical order,
so the same package version always gives the same corpus.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

BIBLE_PROGRAM = "bible"
DEBIAN_PACKAGES = ("bible-kjv", "bible-kjv-text")
WHOLE_BOOK = "Gen1:1-Rev22:21"  # verse range covering every book, Genesis to Revelation

_HEADING = re.compile(r"^[1-3]?\s?[A-Z][A-Za-z ]+ \d+$")  # "Genesis 1", "1 Kings 12"
_VERSE = re.compile(r"^\s+(\d+) (.*)$")                    # "  12 And God said ..."


class CorpusError(RuntimeError):
    """The corpus program is missing or printed something unexpected."""


def dump_text() -> str:
    """The raw text as the `bible` program prints it, 80 columns per line."""
    exe = shutil.which(BIBLE_PROGRAM)
    if exe is None:
        raise CorpusError(
            f"program {BIBLE_PROGRAM!r} not found: install the Debian packages "
            f"{' '.join(DEBIAN_PACKAGES)} (`make train` does it)")
    out = subprocess.run([exe, WHOLE_BOOK], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, check=False, env={"COLUMNS": "80"})
    if out.returncode != 0 or not out.stdout:
        raise CorpusError(f"{exe} {WHOLE_BOOK} exited {out.returncode}: {out.stderr.strip()}")
    return out.stdout


def parse_chapters(raw: str) -> list[str]:
    """Split the printed text into chapters of plain prose. A verse starts on an
    indented numbered line; unindented lines continue the previous verse."""
    chapters: list[list[str]] = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        if _HEADING.match(line):
            chapters.append([])
            continue
        m = _VERSE.match(line)
        if m:
            if not chapters:
                raise CorpusError(f"verse before any chapter heading: {line!r}")
            chapters[-1].append(m.group(2).strip())
        elif chapters and chapters[-1]:
            chapters[-1][-1] += " " + line.strip()
        else:
            raise CorpusError(f"unexpected line: {line!r}")
    return [" ".join(verses) for verses in chapters if verses]


def load_chapters() -> list[str]:
    return parse_chapters(dump_text())


def digest(chapters: list[str]) -> str:
    """sha256 of the cleaned corpus, recorded in the model so a run can be matched."""
    return hashlib.sha256("\n".join(chapters).encode()).hexdigest()


_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")


def words(chapters: list[str]) -> set[str]:
    """Every word of the corpus, lower-cased: the dictionary `real_word_rate` checks against."""
    return {w.lower() for text in chapters for w in _WORD.findall(text)}


def real_word_rate(text: str, vocabulary: set[str]) -> float:
    """Share of the words in `text` that occur in `vocabulary` (lower-cased); 0 for no words.
    A model that spells invented words ("maidensers", "thrun") scores low."""
    found = [w.lower() for w in _WORD.findall(text)]
    return sum(w in vocabulary for w in found) / len(found) if found else 0.0


def corpus_word_rate(texts: list[str], vocabulary: set[str]) -> float:
    """real_word_rate over generated continuations, each without its last word (a
    token limit may cut it short)."""
    return real_word_rate(" ".join(t.rsplit(None, 1)[0] for t in texts if t.split()), vocabulary)
