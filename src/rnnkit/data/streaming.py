"""Encoding a text file larger than memory: decoded in byte chunks, written as ids to a ``.npy`` file to map.

Two passes over the file, each holding one chunk at a time: ``scan_chars`` finds the characters present
(the vocabulary) and how many there are; ``write_ids`` encodes them into a ``.npy`` file whose header
``numpy.lib.format.open_memmap`` writes, so the result is opened with ``np.load(..., mmap_mode="r")``.
Text is read exactly as ``reader.read_text`` reads it: a UTF-8 byte-order mark is dropped, ``\\r\\n`` becomes
``\\n`` unless ``keep_crlf`` (also when the pair is split between two chunks), a multi-byte character split
between chunks is decoded whole (an incremental decoder), and undecodable bytes are the same one-line
error, naming the byte, its offset and its line.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rnnkit.data.reader import check_encoding, invalid_bytes, normalize_newlines
from rnnkit.data.vocab import CharVocab
from rnnkit.errors import RnnkitError

CHUNK_BYTES = 1 << 18  # 256 KB of the file decoded at a time: its temporaries stay in cache (16 MB ran 3x slower)
STREAM_ABOVE_BYTES = 1 << 26  # files larger than 64 MB are streamed; smaller ones are read whole, as before
_BOM = "\ufeff"


def text_chunks(path: Path, encoding: str = "utf-8", keep_crlf: bool = False,
                chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """The text of ``path`` in pieces of at most about ``chunk_bytes`` bytes each, read as ``read_text`` reads it.

    Reports a dropped BOM and changed line endings once per file, as ``read_text`` does.
    """
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be >= 1, got {chunk_bytes}")
    codec = check_encoding(encoding)
    decoder = codecs.getincrementaldecoder(codec)()
    ascii_cr = "\r\n".encode(codec) == b"\r\n"  # a "\r" is the byte 0x0d (so a chunk without one has none)
    offset = 0  # bytes read before the current chunk
    dropped_bom = crlf = False
    first, held_cr = True, ""
    with open(path, "rb") as f:
        while True:
            raw = f.read(chunk_bytes)
            final = not raw
            buffered = len(decoder.getstate()[0])  # bytes of a character split at the previous chunk's end
            try:
                text = decoder.decode(raw, final=final)
            except UnicodeDecodeError as e:
                at = offset - buffered + e.start  # in the whole file
                raise _undecodable(path, encoding, codec, at, e.object[e.start], chunk_bytes) from e
            offset += len(raw)
            if first and text:
                first = False
                if codec == "utf-8" and text.startswith(_BOM):
                    text, dropped_bom = text[1:], True
            if not keep_crlf and (held_cr or not ascii_cr or b"\r" in raw):
                text = held_cr + text
                held_cr = ""
                if text.endswith("\r") and not final:
                    text, held_cr = text[:-1], "\r"  # its "\n" may start the next chunk
                if "\r\n" in text:
                    crlf = True
                    text = text.replace("\r\n", "\n")
            if text:
                yield text
            if final:
                break
    if dropped_bom or crlf:
        normalize_newlines("\r\n" if crlf else "", path, dropped_bom, keep_crlf)  # its note, said once per file


def _undecodable(path: Path, encoding: str, codec: str, at: int, byte: int, chunk_bytes: int) -> RnnkitError:
    """``read_text``'s error for the undecodable ``byte`` at file offset ``at`` (its line counted again)."""
    newlines, done = 0, 0
    with open(path, "rb") as f:
        bom = 3 if codec == "utf-8" and f.read(3) == codecs.BOM_UTF8 else 0  # read_text counts after the BOM
        f.seek(0)
        while done < at and (raw := f.read(min(chunk_bytes, at - done))):
            newlines += raw.count(b"\n")
            done += len(raw)
    return invalid_bytes(path, encoding, byte, at - bom, newlines + 1)


def code_point_chunks(chunks: Iterator[str]) -> Iterator[np.ndarray]:
    """Each text piece as an array of code points: uint8 (N,) for ASCII, else uint32 (N,)."""
    for text in chunks:
        if text.isascii():
            yield np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        else:
            yield np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def scan_chars(path: Path, encoding: str = "utf-8", keep_crlf: bool = False,
               chunk_bytes: int = CHUNK_BYTES) -> tuple[np.ndarray, int]:
    """(present, n): a bool (0x110000,) mask of the code points in the text and the number of characters."""
    present = np.zeros(0x110000, dtype=bool)  # (code points,)
    n = 0
    for cp in code_point_chunks(text_chunks(path, encoding, keep_crlf, chunk_bytes)):
        n += cp.size
        new = ~present[cp]  # (N,) a gather, cheaper than setting every position; new characters are rare
        if new.any():
            present[cp[new]] = True
    return present, n


def vocab_from_mask(present: np.ndarray) -> CharVocab:
    """The vocabulary ``CharVocab.from_text`` builds: the present code points, sorted."""
    return CharVocab(chr(c) for c in np.flatnonzero(present))


def write_ids(dest: Path, path: Path, vocab: CharVocab, n: int, dtype: np.dtype, encoding: str = "utf-8",
              keep_crlf: bool = False, chunk_bytes: int = CHUNK_BYTES) -> None:
    """Encode the ``n`` characters of ``path`` with ``vocab`` into a new ``.npy`` file ``dest`` of ``dtype`` (n,).

    The ids are written with plain file writes (not through a map), so the process's resident memory
    stays about one chunk whatever the file's size.
    """
    header = np.lib.format.open_memmap(dest, mode="w+", dtype=dtype, shape=(n,))  # writes the header, sizes the file
    data_offset = header.offset
    del header
    ascii_ids = vocab._ids(np.arange(128, dtype=np.uint32))  # (128,) the ids of ASCII, -1 where absent
    written, changed = 0, False
    with open(dest, "r+b") as out:
        out.seek(data_offset)
        for cp in code_point_chunks(text_chunks(path, encoding, keep_crlf, chunk_bytes)):
            written += cp.size
            if written > n or int(cp.max()) > vocab._max_code:  # the first pass read other text
                changed = True
                break
            ids = (ascii_ids if cp.dtype == np.uint8 else vocab._lut)[cp]  # (N,) int32, -1 if not in vocab
            changed = int(ids.min()) < 0
            if changed:
                break
            out.write(ids.astype(dtype, copy=False).data)
    if changed or written != n:
        raise RnnkitError(f"{path} changed while it was being encoded; retry once it is complete")


def missing_chars(present: np.ndarray, vocab: CharVocab) -> list[str]:
    """Sorted characters of ``present`` that ``vocab`` lacks."""
    codes = np.flatnonzero(present).astype(np.uint32)
    return [chr(c) for c in codes[vocab._ids(codes) < 0].tolist()]


__all__ = ["CHUNK_BYTES", "STREAM_ABOVE_BYTES", "code_point_chunks", "missing_chars", "scan_chars", "text_chunks",
           "vocab_from_mask", "write_ids"]
