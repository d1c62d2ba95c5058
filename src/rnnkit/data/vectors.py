"""Word vectors in the word2vec text and binary formats (the ones gensim's ``KeyedVectors`` reads and writes).

Both formats start with a header line ``"<count> <dim>\\n"``. The text format then has one line per word,
``word v1 v2 ... vdim``; the binary format has ``word<space>`` followed by ``dim`` little-endian float32 values,
optionally followed by a newline (the original C tool writes one, gensim does not). ``load_word2vec`` tells the
two apart by itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write

_FIX = "re-save it with save_word2vec or gensim's KeyedVectors.save_word2vec_format"


def _parse_header(data: bytes, name: str) -> tuple[int, int, int]:
    """(count, dim, offset of the first record) from the ``"<count> <dim>\\n"`` header."""
    end = data.find(b"\n")
    head = data[: end if end >= 0 else len(data)].split()
    try:
        if len(head) != 2:
            raise ValueError
        count, dim = int(head[0]), int(head[1])
    except ValueError:
        raise RnnkitError(
            f"{name}: first line is not a word2vec header '<count> <dim>'; {_FIX}"
        ) from None
    if count < 0 or dim <= 0:
        raise RnnkitError(f"{name}: header says {count} words of dimension {dim}; {_FIX}")
    return count, dim, end + 1


def _parse_text(body: bytes, count: int, dim: int) -> tuple[list[str], np.ndarray] | str:
    """Parse text records; returns (words, vectors) or a one-line reason why the body is not valid text."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) != count:
        return f"has {len(lines)} vector lines, header says {count}"
    words: list[str] = []
    vectors = np.empty((count, dim), dtype=np.float32)
    for i, line in enumerate(lines):
        parts = line.rstrip().split(" ")
        if len(parts) != dim + 1:
            return f"line {i + 2} has {len(parts) - 1} numbers, header says {dim}"
        words.append(parts[0])
        try:
            vectors[i] = np.asarray(parts[1:], dtype=np.float32)
        except ValueError:
            return f"line {i + 2} has a value that is not a number"
    return words, vectors


def _parse_binary(data: bytes, start: int, count: int, dim: int) -> tuple[list[str], np.ndarray] | str:
    """Parse binary records; returns (words, vectors) or a one-line reason why the body is not valid binary."""
    nbytes = 4 * dim
    words: list[str] = []
    vectors = np.empty((count, dim), dtype=np.float32)
    pos = start
    for i in range(count):
        while pos < len(data) and data[pos : pos + 1] in (b"\n", b"\r"):
            pos += 1  # the C tool ends each record with a newline
        space = data.find(b" ", pos)
        if space < 0 or len(data) - (space + 1) < nbytes:
            return f"ends after {i} of {count} binary records"
        try:
            words.append(data[pos:space].decode("utf-8"))
        except UnicodeDecodeError:
            return f"binary record {i + 1} has a word that is not UTF-8"
        vectors[i] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + nbytes
    if data[pos:].strip():
        return f"has {len(data) - pos} bytes after the {count} binary records"
    return words, vectors


def load_word2vec(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Read a word2vec text or binary file (auto-detected) into (words, float32 vectors (N, D))."""
    path = Path(path)
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RnnkitError(f"cannot read word vectors {path}: {exc.strerror}; check the path") from None
    count, dim, start = _parse_header(data, name)
    # each record holds at least 2*dim bytes (text: a digit and a space per value; binary: 4 bytes per value),
    # so a header promising far more than the file can hold is refused before any array of its size is
    # allocated (small mismatches are left to the parsers, whose messages say more)
    if count * 2 * dim > max(len(data) - start, 2**24):
        raise RnnkitError(f"{name}: header says {count} words of dimension {dim}, more than its "
                          f"{len(data) - start} bytes of records can hold; {_FIX}")
    text = _parse_text(data[start:], count, dim)
    if isinstance(text, tuple):
        return text
    binary = _parse_binary(data, start, count, dim)
    if isinstance(binary, tuple):
        return binary
    reason = text if text != "not UTF-8 text" else binary
    raise RnnkitError(f"{name}: not a valid word2vec file ({reason}); {_FIX}")


def save_word2vec(
    path: str | os.PathLike[str], words: list[str], vectors: np.ndarray, binary: bool = False
) -> Path:
    """Write (words, vectors (N, D)) atomically in the word2vec text (default) or binary format."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise RnnkitError(
            f"save_word2vec got {len(words)} words and vectors of shape {tuple(vectors.shape)}; "
            "pass one row of vectors per word"
        )
    for word in words:
        if not word or any(ch.isspace() for ch in word):
            raise RnnkitError(f"cannot save word {word!r}: word2vec words must be non-empty without whitespace")
    count, dim = vectors.shape

    def write(f) -> None:
        f.write(f"{count} {dim}\n".encode())
        if binary:
            little = vectors.astype("<f4", copy=False)
            for word, row in zip(words, little):
                f.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")
        else:
            for word, row in zip(words, vectors.tolist()):
                # 9 significant digits round-trip any float32 exactly
                f.write((word + " " + " ".join(f"{v:.9g}" for v in row) + "\n").encode("utf-8"))

    return atomic_write(path, write)
