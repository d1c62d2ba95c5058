"""Reading text files and character (code-point) vocabularies, with a cache of encoded corpora.

Encoding never builds Python lists of characters: text is viewed as UTF-32 code points with
NumPy, in chunks, and mapped to ids through a dense lookup table.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from rnnkit.data import datasets
from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1
_CHUNK_CHARS = 1 << 22  # 4M code points = 16 MB of UTF-32 per chunk
MAX_LISTED = 10  # unknown characters listed in one error message


def read_text(path: str | os.PathLike[str], encoding: str = "utf-8") -> str:
    """Read a whole text file exactly (no newline translation), with one-line errors for bad input."""
    path = Path(path)
    _check_encoding(encoding)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise RnnkitError(f"{path} does not exist; pass the path of a text file") from e
    except IsADirectoryError as e:
        raise RnnkitError(f"{path} is a directory, not a text file") from e
    except OSError as e:
        raise RnnkitError(f"cannot read {path}: {e.strerror or e}") from e
    if not raw:
        raise RnnkitError(f"{path} is empty")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        bad = e.object[e.start : e.start + 1].hex()
        line = raw.count(b"\n", 0, e.start) + 1
        raise RnnkitError(
            f"{path} is not valid {encoding}: byte 0x{bad} at offset {e.start} (line {line}); "
            "pass --encoding latin-1 (or the file's real encoding)"
        ) from e


def _check_encoding(encoding: str) -> str:
    """Canonical codec name, or RnnkitError for an unknown one."""
    try:
        return codecs.lookup(encoding).name
    except LookupError as e:
        raise RnnkitError(f"unknown encoding {encoding!r}; use e.g. --encoding utf-8 or --encoding latin-1") from e


def _code_points(text: str) -> Iterator[np.ndarray]:
    """Yield the text's code points as uint32 arrays, one chunk at a time."""
    for start in range(0, len(text), _CHUNK_CHARS):
        chunk = text[start : start + _CHUNK_CHARS].encode("utf-32-le", "surrogatepass")
        yield np.frombuffer(chunk, dtype="<u4")


def smallest_dtype(vocab_size: int) -> np.dtype:
    """Smallest integer dtype (uint8, uint16 or int32) that holds ids 0..vocab_size-1, for storage."""
    if vocab_size <= 1 << 8:
        return np.dtype(np.uint8)
    if vocab_size <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


def _describe_chars(chars: list[str]) -> str:
    """'N characters ('a', 'b', ...)' with at most MAX_LISTED listed."""
    listed = ", ".join(repr(c) for c in chars[:MAX_LISTED])
    more = f", ... {len(chars) - MAX_LISTED} more" if len(chars) > MAX_LISTED else ""
    noun = "character" if len(chars) == 1 else "characters"
    return f"{len(chars)} {noun} not in the vocabulary ({listed}{more})"


class CharVocab:
    """A code-point vocabulary: id i <-> chars[i]; `from_text` sorts the unique characters."""

    def __init__(self, chars: Iterable[str]) -> None:
        chars = tuple(chars)
        if not chars:
            raise RnnkitError("cannot build a vocabulary from empty text")
        if any(len(c) != 1 for c in chars):
            raise ValueError("every vocabulary entry must be a single character")
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary characters must be unique")
        self._chars = chars
        self._codes = np.array([ord(c) for c in chars], dtype=np.uint32)  # (V,) id -> code point
        self._max_code = int(self._codes.max())
        self._lut = np.full(self._max_code + 1, -1, dtype=np.int32)  # code point -> id, -1 if absent
        self._lut[self._codes] = np.arange(len(chars), dtype=np.int32)

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """Vocabulary of the sorted unique characters (code points) of `text`."""
        present = np.zeros(0x110000, dtype=bool)
        for cp in _code_points(text):
            present[cp] = True
        return cls(chr(c) for c in np.flatnonzero(present))

    @property
    def chars(self) -> tuple[str, ...]:
        """The characters in id order."""
        return self._chars

    def __len__(self) -> int:
        return len(self._chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self._chars == other._chars

    def __hash__(self) -> int:
        return hash(self._chars)

    def __repr__(self) -> str:
        return f"CharVocab(size={len(self)})"

    def _ids(self, cp: np.ndarray) -> np.ndarray:
        """Map code points to ids (int32), -1 for characters not in the vocabulary."""
        ids = self._lut[np.minimum(cp, self._max_code)]
        ids[cp > self._max_code] = -1
        return ids

    def unknown(self, text: str) -> list[str]:
        """Sorted unique characters of `text` that are not in the vocabulary."""
        missing: set[int] = set()
        for cp in _code_points(text):
            bad = cp[self._ids(cp) < 0]
            if bad.size:
                missing.update(np.unique(bad).tolist())
        return [chr(c) for c in sorted(missing)]

    def encode(self, text: str, dtype: DTypeLike = np.int64) -> np.ndarray:
        """Ids of the characters of `text` as a 1-D array (int64 by default); RnnkitError on unknown ones."""
        out = np.empty(len(text), dtype=dtype)  # (N,)
        pos = 0
        for cp in _code_points(text):
            ids = self._ids(cp)
            if (ids < 0).any():
                unknown = self.unknown(text)
                raise RnnkitError(
                    f"text has {_describe_chars(unknown)}; remove them or use a vocabulary built from this text"
                )
            out[pos : pos + len(ids)] = ids
            pos += len(ids)
        return out

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """Text for a 1-D sequence of ids (list, NumPy array or CPU tensor)."""
        arr = np.asarray(ids)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise ValueError(f"decode expects a 1-D sequence of ids, got shape {arr.shape}")
        if arr.size == 0:
            return ""
        if arr.dtype.kind not in "iu" or int(arr.min()) < 0 or int(arr.max()) >= len(self):
            raise ValueError(f"ids must be integers in [0, {len(self)})")
        return self._codes[arr].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for checkpoints."""
        return {"kind": "char", "chars": list(self._chars)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharVocab:
        """Inverse of `to_dict` (ids are preserved exactly)."""
        if data.get("kind") != "char":
            raise ValueError(f"not a character vocabulary: kind={data.get('kind')!r}")
        return cls(data["chars"])


def encode_corpus(
    path: str | os.PathLike[str],
    vocab: CharVocab | None = None,
    encoding: str = "utf-8",
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> tuple[np.ndarray, CharVocab]:
    """Read and encode a text file, returning (ids (N,) in the smallest dtype, vocab); cached as .npy + JSON.

    The cache key is the file's content sha256 and size, the encoding and the vocabulary (built from
    the text when `vocab` is None), so an edited file is re-encoded. `cache_dir` defaults to
    ``datasets.cache_dir() / "encoded"``.
    """
    path = Path(path)
    codec = _check_encoding(encoding)
    if not use_cache:
        return _encode_file(path, vocab, encoding)
    try:
        size = path.stat().st_size
        file_sha = datasets.file_sha256(path)
    except OSError:
        return _encode_file(path, vocab, encoding)  # read_text raises the user-facing error
    vocab_key = "auto" if vocab is None else json.dumps(vocab.to_dict(), ensure_ascii=True)
    key = hashlib.sha256(f"v{CACHE_FORMAT_VERSION}|{file_sha}|{size}|{codec}|{vocab_key}".encode()).hexdigest()[:32]
    folder = Path(cache_dir).expanduser() if cache_dir is not None else datasets.cache_dir() / "encoded"
    npy, meta_path = folder / f"{key}.npy", folder / f"{key}.json"

    cached = _load_cached(npy, meta_path)
    if cached is not None:
        logger.debug("encoded corpus cache hit: %s", npy)
        return cached

    ids, vocab = _encode_file(path, vocab, encoding)
    meta = {
        "format_version": CACHE_FORMAT_VERSION,
        "source": str(path.resolve()),
        "sha256": file_sha,
        "size": size,
        "encoding": codec,
        "num_tokens": int(ids.size),
        "dtype": ids.dtype.str,
        "vocab": vocab.to_dict(),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(npy, lambda f: np.save(f, ids, allow_pickle=False))
        # The JSON is written last: it marks the entry complete.
        atomic_write(meta_path, lambda f: f.write(json.dumps(meta).encode()))
    except OSError as e:
        logger.warning("could not cache encoded corpus in %s: %s", folder, e)
    return ids, vocab


def _encode_file(path: Path, vocab: CharVocab | None, encoding: str) -> tuple[np.ndarray, CharVocab]:
    """Read and encode without the cache."""
    text = read_text(path, encoding)
    if vocab is None:
        vocab = CharVocab.from_text(text)
    try:
        ids = vocab.encode(text, dtype=smallest_dtype(len(vocab)))
    except RnnkitError as e:
        raise RnnkitError(f"{path}: {e}") from e
    return ids, vocab


def _load_cached(npy: Path, meta_path: Path) -> tuple[np.ndarray, CharVocab] | None:
    """A complete, consistent cache entry, or None (a damaged one is ignored and rebuilt)."""
    if not (npy.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        ids = np.load(npy, allow_pickle=False)
        vocab = CharVocab.from_dict(meta["vocab"])
        if ids.ndim != 1 or ids.size != meta["num_tokens"] or ids.dtype.str != meta["dtype"]:
            raise ValueError("cache entry does not match its metadata")
    except (OSError, ValueError, KeyError, TypeError) as e:
        logger.warning("ignoring damaged cache entry %s: %s", npy, e)
        return None
    return ids, vocab


def split_train_val(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Split ids into (train, val) views: the last `val_fraction` is validation, as in nanoGPT."""
    if not 0 <= val_fraction < 1:
        raise RnnkitError(f"val_fraction must be in [0, 1), got {val_fraction}; use e.g. --val-fraction 0.1")
    n_train = int(len(ids) * (1 - val_fraction))
    return ids[:n_train], ids[n_train:]
