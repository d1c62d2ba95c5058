"""Labelled text for classification: the three layouts users already have, splits, folds and class weights.

A data source is one of

- a table: ``reviews.csv`` / ``.tsv`` / ``.jsonl`` with a text column and a label column;
- a folder with one subfolder per label holding ``.txt`` files, one example per file (the IMDB layout),
  or a folder of ``LABEL.txt`` files with one example per line (the names layout);
- ``LABEL=FILE`` pairs, one file per label with one example per line (the rt-polarity layout).

Files are read as UTF-8; a file that is not valid UTF-8 is read as Latin-1 and the fallback is reported
in ``LabeledData.notes`` (never silent). A file that mixes valid UTF-8 with other bytes cannot be read
either way without garbling some of it, so it is an error.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnkit.data.reader import decode, read_text, sniff_delimiter
from rnnkit.errors import RnnkitError, shown

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".json": None}
TEXT_COLUMN, LABEL_COLUMN = "text", "label"


@dataclass(frozen=True)
class LabeledData:
    """Texts with their labels; ``classes`` is the sorted label set, ``labels[i]`` an index into it."""

    texts: list[str]
    labels: np.ndarray  # (N,) int64 indices into classes
    classes: tuple[str, ...]
    notes: list[str] = field(default_factory=list)  # encoding fallbacks and skipped rows, for the user

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: np.ndarray) -> LabeledData:
        """The examples at ``index`` (same classes)."""
        return LabeledData([self.texts[i] for i in index], self.labels[index], self.classes, list(self.notes))

    def counts(self) -> np.ndarray:
        """(C,) number of examples of each class."""
        return np.bincount(self.labels, minlength=len(self.classes))


# -- reading -------------------------------------------------------------------------------------
def read_file(path: Path | str, encoding: str = "utf-8", notes: list[str] | None = None) -> str:
    """A whole file as text; undecodable UTF-8 is read as Latin-1 with a note (see ``reader.decode``)."""
    return read_text(path, encoding, fallback=True, notes=notes,
                     missing_hint="pass an existing file or folder with --data",
                     empty_hint="give it at least one example")


def read_lines(path: Path | str, encoding: str = "utf-8", notes: list[str] | None = None) -> list[str]:
    """Non-blank lines of a file, stripped (one example per line)."""
    return [line.strip() for line in read_file(path, encoding, notes).splitlines() if line.strip()]


# -- the three layouts ----------------------------------------------------------------------------
def canonical_label(label: object) -> str:
    """A label as one string: surrounding whitespace dropped, numbers compared as numbers (``1``, ``1.0``, ``"1 "``
    are one class, written ``1``)."""
    text = str(label).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if number != number or number in (float("inf"), float("-inf")):
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def _missing_column(path: Path, kind: str, name: str, columns: Sequence[str], flag: str) -> RnnkitError:
    close = difflib.get_close_matches(name, list(columns), n=1)
    hint = f"did you mean {flag} {close[0]}?" if close else f"pass {flag} NAME"
    return RnnkitError(f"{path} has no {kind} column {name!r}; its columns are: "
                       f"{', '.join(shown(c, 30) for c in columns)}; {hint}")


def _read_table(path: Path, text_column: str, label_column: str, encoding: str,
                notes: list[str]) -> tuple[list[str], list[str]]:
    text = read_file(path, encoding, notes)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows, columns = [], []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise RnnkitError(f"{path} line {number} is not JSON ({e.msg}); write one JSON object per line") from e
            if not isinstance(row, dict):
                raise RnnkitError(f"{path} line {number} is not a JSON object; write one object per line")
            columns = columns or list(row)
            rows.append((number, row))
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text, TABLE_SUFFIXES[suffix]))
        columns = [c for c in (reader.fieldnames or []) if c is not None]
        rows = [(number, row) for number, row in enumerate(reader, start=2)]
    if not rows:
        raise RnnkitError(f"{path} has a header but no rows; add examples")
    for name, kind, flag in ((text_column, "text", "--text-column"), (label_column, "label", "--label-column")):
        if name not in columns:
            raise _missing_column(path, kind, name, columns, flag)
    texts, labels, skipped = [], [], 0
    for number, row in rows:
        label = row.get(label_column)
        if label is None or str(label).strip() == "":
            raise RnnkitError(f"{path} line {number} has no {label_column!r} value; give every row a label")
        value = row.get(text_column)
        if value is None or not str(value).strip():
            skipped += 1
            continue
        texts.append(str(value))
        labels.append(canonical_label(label))
    if skipped:
        notes.append(f"{path}: skipped {skipped} rows with an empty {text_column!r}")
    return texts, labels


def _read_folder(path: Path, encoding: str, notes: list[str]) -> tuple[list[str], list[str]]:
    subdirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    texts, labels = [], []
    if subdirs:  # IMDB layout: folder/LABEL/*.txt, one example per file
        for sub in subdirs:
            files = sorted(sub.glob("*.txt"))
            for f in files:
                body = read_file(f, encoding, notes).strip()
                texts.append(body)
                labels.append(sub.name)
        if not texts:
            raise RnnkitError(f"{path} has subfolders but no .txt files in them; put one example per .txt file "
                              "in a subfolder named after its label")
        return texts, labels
    files = sorted(p for p in path.glob("*.txt"))  # names layout: folder/LABEL.txt, one example per line
    if not files:
        raise RnnkitError(f"{path} has no label subfolders and no .txt files; see 'rnnkit train classify --help' "
                          "for the data layouts")
    for f in files:
        lines = read_lines(f, encoding, notes)
        texts += lines
        labels += [f.stem] * len(lines)
    return texts, labels


def _split_pair(source: str) -> tuple[str, str] | None:
    """'pos=a.txt' -> ('pos', 'a.txt'); None when ``source`` is a plain path."""
    label, sep, path = source.partition("=")
    if not sep or not label or os.sep in label or Path(source).exists():
        return None
    return label, path


def read_labeled(sources: Sequence[str], text_column: str = TEXT_COLUMN, label_column: str = LABEL_COLUMN,
                 encoding: str = "utf-8", classes: Sequence[str] | None = None,
                 min_classes: int = 2) -> LabeledData:
    """Read a table, a folder, or ``LABEL=FILE`` pairs into ``LabeledData``.

    With ``classes`` given (a trained model's), labels must be among them; otherwise the sorted label set
    found, which must have at least ``min_classes`` labels.
    """
    sources = [str(s) for s in sources]
    if not sources:
        raise RnnkitError("no data given; pass --data FILE.csv, --data FOLDER or --data LABEL=FILE (repeated)")
    notes: list[str] = []
    pairs = [_split_pair(s) for s in sources]
    texts: list[str] = []
    labels: list[str] = []
    if all(pairs):
        seen = set()
        for label, path in pairs:  # type: ignore[misc]
            if label in seen:
                raise RnnkitError(f"label {label!r} is given twice; pass each label's file once as --data LABEL=FILE")
            seen.add(label)
            lines = read_lines(path, encoding, notes)
            texts += lines
            labels += [label] * len(lines)
    elif len(sources) == 1:
        path = Path(sources[0])
        if path.is_dir():
            texts, labels = _read_folder(path, encoding, notes)
        elif path.suffix.lower() in TABLE_SUFFIXES:
            texts, labels = _read_table(path, text_column, label_column, encoding, notes)
        elif not path.exists():
            raise RnnkitError(f"{path} does not exist; pass an existing file or folder with --data")
        else:
            raise RnnkitError(f"cannot tell the labels of {path}; use a .csv/.tsv/.jsonl table, a folder, "
                              f"or --data LABEL={path} once per label")
    else:
        raise RnnkitError("mixed data sources; pass either one table or folder, or LABEL=FILE for every label")
    if not texts:
        raise RnnkitError(f"no examples found in {', '.join(sources)}; check the files")
    if classes is None:
        classes = tuple(sorted(set(labels)))
        folded: dict[str, str] = {}
        for c in classes:
            if c.casefold() in folded:
                notes.append(f"labels {folded[c.casefold()]!r} and {c!r} differ only in case and are kept as two "
                             "classes; write them alike if they are one")
            folded.setdefault(c.casefold(), c)
        if len(classes) < min_classes:
            raise RnnkitError(f"only one class ({classes[0]!r}) in {', '.join(sources)}; a classifier needs at least "
                              "2 labels; add examples of another class")
    else:
        classes = tuple(classes)
        unknown = sorted(set(labels) - set(classes))
        if unknown:
            raise RnnkitError(f"label {unknown[0]!r} in {', '.join(sources)} is not one the model was trained on "
                              f"({shown(', '.join(classes))}); relabel or retrain")
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in labels], dtype=np.int64)
    return LabeledData(texts, y, tuple(classes), notes)


# -- splits, folds, weights -----------------------------------------------------------------------
def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(C,) float32 weights n / (C * count), the 'balanced' rule; absent classes get weight 0."""
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (num_classes * np.maximum(counts, 1)), 0.0)
    return weights.astype(np.float32)


__all__ = ["LABEL_COLUMN", "TEXT_COLUMN", "LabeledData", "class_weights", "decode", "read_file", "read_labeled",
           "read_lines"]
