"""Reading text files, once for every task.

One-line errors for a missing, unreadable or empty file and an unknown encoding; the UTF-8 byte-order
mark is dropped; undecodable bytes are named by offset and line, or, where a caller allows it, read as
Latin-1 with a note (a file that mixes encodings is refused either way). Windows line breaks (``\\r\\n``)
become ``\\n`` by default, said once per file (``keep_crlf=True`` keeps them), so a character model
does not learn a stray ``\\r``; code that works line by line uses ``str.splitlines``.
"""

from __future__ import annotations

import codecs
import logging
import os
from pathlib import Path

from rnnkit.errors import RnnkitError

_log = logging.getLogger(__name__)
_noted: set[str] = set()  # files whose line-ending change was already reported


def check_encoding(encoding: str) -> str:
    """Canonical codec name, or a one-line error for an unknown one."""
    try:
        return codecs.lookup(encoding).name
    except LookupError as e:
        raise RnnkitError(f"unknown encoding {encoding!r}; use e.g. --encoding utf-8 or --encoding latin-1") from e


def read_bytes(path: str | os.PathLike[str], missing_hint: str = "pass the path of a text file") -> bytes:
    """The bytes of a file, with one-line errors for a missing, unreadable or directory path."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise RnnkitError(f"{path} does not exist; {missing_hint}") from e
    except IsADirectoryError as e:
        raise RnnkitError(f"{path} is a directory, not a text file") from e
    except OSError as e:
        raise RnnkitError(f"cannot read {path}: {e.strerror or e}") from e


def _first_utf8_line(raw: bytes) -> int | None:
    """Number of the first line holding a non-ASCII character that decodes as UTF-8, if any."""
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.isascii():
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                continue
            return number
    return None


def invalid_bytes(path: Path | str, encoding: str, byte: int, offset: int, line: int) -> RnnkitError:
    """The one-line error for an undecodable ``byte`` at byte ``offset`` (on ``line``) of ``path``."""
    return RnnkitError(f"{path} is not valid {encoding}: byte 0x{byte:02x} at offset {offset} "
                       f"(line {line}); pass --encoding latin-1 (or the file's real encoding)")


def decode(raw: bytes, path: Path | str, encoding: str = "utf-8", notes: list[str] | None = None,
           fallback: bool = True) -> str:
    """Bytes of ``path`` as text in ``encoding`` (a UTF-8 BOM dropped).

    Undecodable UTF-8 is read as Latin-1 with a note appended to ``notes`` when ``fallback`` is on
    (refused when another line of the file is UTF-8: mixed encodings); otherwise, and for other
    encodings, it is a one-line error naming the byte, its offset and its line.
    """
    name = check_encoding(encoding)
    if raw.startswith(codecs.BOM_UTF8) and name == "utf-8":
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return raw.decode(name)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        if name != "utf-8" or not fallback:
            raise invalid_bytes(path, encoding, raw[e.start], e.start, line) from e
        utf8_line = _first_utf8_line(raw)
        if utf8_line is not None:
            raise RnnkitError(
                f"{path} mixes encodings: line {utf8_line} is UTF-8 but line {line} is not "
                f"(byte 0x{raw[e.start]:02x}); convert the file to one encoding (e.g. UTF-8) and retry") from e
        if notes is not None:
            notes.append(f"{path} is not valid UTF-8 (byte 0x{raw[e.start]:02x} on line {line}); "
                         "read it as Latin-1 (pass --encoding to choose another)")
        return raw.decode("latin-1")


def normalize_newlines(text: str, path: Path | str, dropped_bom: bool = False, keep_crlf: bool = False) -> str:
    """``text`` with ``\\r\\n`` turned into ``\\n`` (unless ``keep_crlf``); one info line per ``path`` says
    what changed (the line endings, and a byte-order mark ``decode`` dropped)."""
    crlf = not keep_crlf and "\r\n" in text
    changes = [what for what, done in (("dropped its UTF-8 byte-order mark", dropped_bom),
                                       ("read its Windows line endings (CRLF) as LF", crlf)) if done]
    if changes and str(path) not in _noted:
        _noted.add(str(path))
        _log.info("%s: %s%s", path, " and ".join(changes), "; pass --keep-crlf to keep CRLF" if crlf else "")
    return text.replace("\r\n", "\n") if crlf else text


def read_text(path: str | os.PathLike[str], encoding: str = "utf-8", *, fallback: bool = False,
              notes: list[str] | None = None, missing_hint: str = "pass the path of a text file",
              empty_hint: str | None = None, keep_crlf: bool = False) -> str:
    """A whole text file, decoded as ``decode`` says, with one-line errors for a bad path or an empty file.

    ``empty_hint`` (e.g. "give it at least one example") also makes a file of blank lines count as empty;
    CRLF line endings become LF unless ``keep_crlf``.
    """
    check_encoding(encoding)
    raw = read_bytes(path, missing_hint)
    if not raw or (empty_hint is not None and not raw.strip()):
        raise RnnkitError(f"{path} is empty" + (f"; {empty_hint}" if empty_hint else ""))
    text = decode(raw, path, encoding, notes, fallback)
    dropped_bom = raw.startswith(codecs.BOM_UTF8) and check_encoding(encoding) == "utf-8"
    return normalize_newlines(text, path, dropped_bom, keep_crlf)


def sniff_delimiter(text: str, default: str) -> str:
    """The separator of a table, from its header line: the most frequent of ``,`` ``;`` and tab (``default``
    on a tie or when none appears), so a TSV saved as .csv or a semicolon CSV is still read."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts.get(default, 0) else default


__all__ = ["check_encoding", "decode", "invalid_bytes", "normalize_newlines", "read_bytes", "read_text",
           "sniff_delimiter"]
