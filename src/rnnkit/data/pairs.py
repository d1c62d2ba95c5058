"""Paired sequences: reading source<TAB>target TSV files and labelled texts, and the generated toy tasks.

Used by sequence-to-sequence runs (``rnnkit train seq2seq``: pairs of source and target texts) and by
conditional language models (``rnnkit train conditional-lm``: pairs of label and text). Their texts are
cut into tokens and mapped to ids by ``vocab.TokenVocab`` and padded by ``padded.pad_sequences``.

The generated tasks, each reproducible from a seed:

    addition   "535+61" -> "596"               (operands with 1..digits digits, as keras' addition_rnn)
    reverse    "kbzqe" -> "ezqbk"              (lower-case letters, 1..digits*3 of them)
    dates      "Tuesday, March 5, 1991" -> "1991-03-05"   (many written formats -> ISO 8601)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from rnnkit.data.datasets import BuiltinDataset, builtin_names, register_builtin
from rnnkit.data.reader import read_text
from rnnkit.data.vocab import level_tokens
from rnnkit.errors import RnnkitError

for _name, _description in (("addition", "sums of two random numbers: \"535+61\" -> \"596\""),
                             ("reverse", "random lower-case words reversed: \"kbzqe\" -> \"ezqbk\""),
                             ("dates", "dates in many written formats -> ISO 8601")):
    register_builtin(BuiltinDataset(_name, "pairs", _description))
GENERATED = builtin_names("pairs")  # the generated tasks, by name


# -- source<TAB>target files --------------------------------------------------------------------
def parse_pairs(text: str, name: str = "pairs") -> list[tuple[str, str]]:
    """Pairs from TSV text, one ``source<TAB>target`` a line (blank lines skipped); one-line errors name the line."""
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        source, tab, target = line.partition("\t")
        if not tab:
            raise RnnkitError(f"{name} line {number} has no tab; write each pair as SOURCE<TAB>TARGET")
        if "\t" in target:
            raise RnnkitError(f"{name} line {number} has more than one tab; write each pair as SOURCE<TAB>TARGET")
        if not source.strip():
            raise RnnkitError(f"{name} line {number} has an empty source; give every pair a source or drop the line")
        if not target.strip():
            raise RnnkitError(f"{name} line {number} has an empty target; give every pair a target or drop the line")
        pairs.append((source, target))
    if not pairs:
        raise RnnkitError(f"{name} holds no pairs; write one SOURCE<TAB>TARGET pair a line")
    return pairs


def read_pairs(path: str | Path, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """Read a source<TAB>target TSV file (see ``parse_pairs``)."""
    return parse_pairs(read_text(path, encoding), name=str(path))


def check_lengths(pairs: Sequence[tuple[str, str]], source_level: str, target_level: str, max_len: int,
                  name: str = "pairs") -> None:
    """RnnkitError naming the first pair whose source or target has more than ``max_len`` tokens."""
    for number, (source, target) in enumerate(pairs, start=1):
        for side, text, level in (("source", source, source_level), ("target", target, target_level)):
            n = len(level_tokens(text, level))
            if n > max_len:
                raise RnnkitError(f"{name} pair {number}: the {side} has {n} {level} tokens, more than "
                                  f"--max-len {max_len}; raise --max-len or shorten that pair")


# -- generated tasks ----------------------------------------------------------------------------
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2099, 12, 31)


def _date_formats(d: dt.date) -> list[str]:
    """The written forms of one date; every form reads back to exactly one date (no 2-digit years, no d/m swaps)."""
    month, mon, day, dd, mm, year = MONTHS[d.month - 1], MONTHS[d.month - 1][:3], d.day, f"{d.day:02d}", \
        f"{d.month:02d}", d.year
    weekday = WEEKDAYS[d.weekday()]
    return [
        f"{month} {day}, {year}", f"{mon} {day}, {year}", f"{day} {month} {year}", f"{day} {mon} {year}",
        f"{weekday}, {month} {day}, {year}", f"{weekday[:3]} {day} {mon} {year}", f"{month.lower()} {day} {year}",
        f"{dd}.{mm}.{year}", f"{mm}/{dd}/{year}", f"{year}/{mm}/{dd}", f"{dd}-{mon.upper()}-{year}",
        f"{day}{_ordinal(day)} of {month} {year}", f"{mon}. {dd} {year}", f"{year} {month} {day}",
    ]


def _ordinal(day: int) -> str:
    if day % 10 == 1 and day != 11:
        return "st"
    if day % 10 == 2 and day != 12:
        return "nd"
    if day % 10 == 3 and day != 13:
        return "rd"
    return "th"


def _one_pair(task: str, rng: random.Random, digits: int) -> tuple[str, str]:
    if task == "addition":
        a, b = (rng.randint(0, 10 ** rng.randint(1, digits) - 1) for _ in range(2))
        return f"{a}+{b}", str(a + b)
    if task == "reverse":
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 3 * digits)))
        return word, word[::-1]
    d = FIRST_DATE + dt.timedelta(days=rng.randrange((LAST_DATE - FIRST_DATE).days + 1))
    return rng.choice(_date_formats(d)), d.isoformat()


def generate_pairs(task: str, size: int, seed: int = 0, digits: int = 3,
                   exclude: Iterable[str] = ()) -> list[tuple[str, str]]:
    """``size`` distinct (source, target) pairs of a generated task, reproducible from ``seed``.

    ``digits`` is the largest operand length for ``addition`` (a third of the longest word for
    ``reverse``); sources in ``exclude`` are never produced (to draw held-out problems).
    """
    if task not in GENERATED:
        raise RnnkitError(f"unknown generated task {task!r}; use one of {', '.join(GENERATED)} or a TSV file")
    if size < 1:
        raise RnnkitError(f"--size must be >= 1, got {size}")
    if digits < 1:
        raise RnnkitError(f"--digits must be >= 1, got {digits}")
    rng = random.Random(f"{task}-{seed}-{digits}")
    seen = set(exclude)
    pairs: list[tuple[str, str]] = []
    attempts = 0
    while len(pairs) < size:
        attempts += 1
        if attempts > 20 * size + 1000:
            raise RnnkitError(f"{task} with --digits {digits} has too few distinct problems for --size {size}; "
                              "lower --size or raise --digits")
        source, target = _one_pair(task, rng, digits)
        if source not in seen:
            seen.add(source)
            pairs.append((source, target))
    return pairs


# -- labelled texts (one file per label, or a CSV) ----------------------------------------------
def read_labelled_texts(path: str | Path, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """(label, text) pairs from a folder of ``LABEL.txt`` files (one text a line) or a CSV with label,text columns."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix == ".txt")
        if not files:
            raise RnnkitError(f"{path} holds no .txt files; put one LABEL.txt file per label in it, one text a line")
        rows = [(f.stem, line.strip()) for f in files for line in read_text(f, encoding).splitlines() if line.strip()]
    elif path.is_file():
        rows = _read_label_csv(path, encoding)
    else:
        raise RnnkitError(f"{path} does not exist; pass a folder of LABEL.txt files or a CSV with label,text columns")
    if not rows:
        raise RnnkitError(f"{path} holds no texts")
    if len({label for label, _ in rows}) < 1:
        raise RnnkitError(f"{path} holds no labels")
    return rows


def _read_label_csv(path: Path, encoding: str) -> list[tuple[str, str]]:
    reader = csv.DictReader(io.StringIO(read_text(path, encoding)))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "label" not in columns or "text" not in columns:
        raise RnnkitError(f"{path} needs a header line with 'label' and 'text' columns, got {columns}; "
                          "or pass a folder with one LABEL.txt file per label")
    label_key = reader.fieldnames[columns.index("label")]
    text_key = reader.fieldnames[columns.index("text")]
    rows = []
    for number, row in enumerate(reader, start=2):
        label, text = (row.get(label_key) or "").strip(), (row.get(text_key) or "").strip()
        if not label:
            raise RnnkitError(f"{path} line {number} has an empty label; give every row a label or drop it")
        if text:
            rows.append((label, text))
    return rows


# -- batching -----------------------------------------------------------------------------------
__all__ = ["GENERATED", "check_lengths", "generate_pairs", "parse_pairs", "read_labelled_texts", "read_pairs"]
