"""Reading text files and encoding them with a character (code-point) vocabulary, with a cache of encoded corpora.

Encoding never builds Python lists of characters: text is viewed as UTF-32 code points with
NumPy, in chunks, and mapped to ids through a dense lookup table. A file larger than one chunk
(``streaming.STREAM_ABOVE_BYTES``) is never held in memory: it is encoded chunk by chunk into the cache's
``.npy`` file (``rnnkit.data.streaming``), and a cached corpus is returned memory-mapped, so batchers
read their windows from the map.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from rnnkit.data import datasets, streaming
from rnnkit.data.reader import check_encoding, read_text
from rnnkit.data.vocab import CharVocab, unknown_chars_error
from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1


def smallest_dtype(vocab_size: int) -> np.dtype:
    """Smallest integer dtype (uint8, uint16 or int32) that holds ids 0..vocab_size-1, for storage."""
    if vocab_size <= 1 << 8:
        return np.dtype(np.uint8)
    if vocab_size <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


def encode_corpus(
    path: str | os.PathLike[str],
    vocab: CharVocab | None = None,
    encoding: str = "utf-8",
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    keep_crlf: bool = False,
    chunk_bytes: int | None = None,
    stream_above: int | None = None,
) -> tuple[np.ndarray, CharVocab]:
    """Read and encode a text file, returning (ids (N,) in the smallest dtype, vocab); cached as .npy + JSON.

    The cache key is the file's content sha256 and size, the encoding and the vocabulary (built from
    the text when `vocab` is None) and `keep_crlf` (CRLF line endings kept, else read as LF), so an edited file
    is re-encoded. `cache_dir` defaults to
    ``datasets.cache_dir() / "encoded"``. A cached corpus comes back as a read-only ``np.memmap``; a file
    larger than `stream_above` bytes (default ``streaming.STREAM_ABOVE_BYTES``) is encoded in chunks of
    `chunk_bytes` (default ``streaming.CHUNK_BYTES``) straight into the cache (two passes: the vocabulary
    and the length, then the ids), so it never needs to fit in memory; the ids and vocabulary are those of
    the in-memory encoding. Without the cache (`use_cache=False`) the file is read whole.
    """
    path = Path(path)
    codec = check_encoding(encoding)
    chunk_bytes = streaming.CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    stream_above = streaming.STREAM_ABOVE_BYTES if stream_above is None else stream_above
    if not use_cache:
        return _encode_file(path, vocab, encoding, keep_crlf)
    try:
        size = path.stat().st_size
        file_sha = datasets.file_sha256(path)
    except OSError:
        return _encode_file(path, vocab, encoding, keep_crlf)  # read_text raises the user-facing error
    vocab_key = "auto" if vocab is None else json.dumps(vocab.to_dict(), ensure_ascii=True)
    crlf = "|crlf" if keep_crlf else ""  # (the key of entries without it is unchanged)
    key = hashlib.sha256(f"v{CACHE_FORMAT_VERSION}|{file_sha}|{size}|{codec}|{vocab_key}{crlf}".encode())
    key = key.hexdigest()[:32]
    folder = Path(cache_dir).expanduser() if cache_dir is not None else datasets.cache_dir() / "encoded"
    npy, meta_path = folder / f"{key}.npy", folder / f"{key}.json"

    cached = _load_cached(npy, meta_path)
    if cached is not None:
        logger.debug("encoded corpus cache hit: %s", npy)
        return cached

    folder_ok = True
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        logger.warning("could not cache encoded corpus in %s: %s", folder, e)
        folder_ok = False
    if folder_ok and size > stream_above:
        ids, vocab = _stream_encode(path, vocab, encoding, keep_crlf, chunk_bytes, npy)
    else:
        ids, vocab = _encode_file(path, vocab, encoding, keep_crlf)
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
    if not folder_ok:
        return ids, vocab
    try:
        if not isinstance(ids, np.memmap):  # (a streamed corpus is in place already)
            atomic_write(npy, lambda f: np.save(f, ids, allow_pickle=False))
        # The JSON is written last: it marks the entry complete.
        atomic_write(meta_path, lambda f: f.write(json.dumps(meta).encode()))
    except OSError as e:
        logger.warning("could not cache encoded corpus in %s: %s", folder, e)
    return ids, vocab


def _encode_file(path: Path, vocab: CharVocab | None, encoding: str,
                 keep_crlf: bool = False) -> tuple[np.ndarray, CharVocab]:
    """Read and encode without the cache."""
    text = read_text(path, encoding, keep_crlf=keep_crlf)
    if vocab is None:
        vocab = CharVocab.from_text(text)
    try:
        ids = vocab.encode(text, dtype=smallest_dtype(len(vocab)))
    except RnnkitError as e:
        raise RnnkitError(f"{path}: {e}") from e
    return ids, vocab


def _stream_encode(path: Path, vocab: CharVocab | None, encoding: str, keep_crlf: bool, chunk_bytes: int,
                   npy: Path) -> tuple[np.ndarray, CharVocab]:
    """Encode ``path`` chunk by chunk into ``npy`` (written beside it, then renamed) and map it read-only."""
    present, n = streaming.scan_chars(path, encoding, keep_crlf, chunk_bytes)
    if vocab is None:
        vocab = streaming.vocab_from_mask(present)  # (raises for a file of no characters, as from_text does)
    else:
        missing = streaming.missing_chars(present, vocab)
        if missing:
            raise RnnkitError(f"{path}: {unknown_chars_error(missing)}")
    part = npy.with_name(f"{npy.name}.{os.getpid()}.part")
    try:
        streaming.write_ids(part, path, vocab, n, smallest_dtype(len(vocab)), encoding, keep_crlf, chunk_bytes)
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, npy)
    finally:
        part.unlink(missing_ok=True)
    return np.load(npy, mmap_mode="r", allow_pickle=False), vocab


def _load_cached(npy: Path, meta_path: Path) -> tuple[np.ndarray, CharVocab] | None:
    """A complete, consistent cache entry, or None (a damaged one is ignored and rebuilt)."""
    if not (npy.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        ids = np.load(npy, mmap_mode="r", allow_pickle=False)  # (N,) read from the file as batches need it
        vocab = CharVocab.from_dict(meta["vocab"])
        if ids.ndim != 1 or ids.size != meta["num_tokens"] or ids.dtype.str != meta["dtype"]:
            raise ValueError("cache entry does not match its metadata")
    except (OSError, ValueError, KeyError, TypeError) as e:
        logger.warning("ignoring damaged cache entry %s: %s", npy, e)
        return None
    return ids, vocab
