"""Named data sets: a small registry, local lookup, and a checksummed download into the user cache.

Lookup order for a registered name (see `resolve_data`):
1. ``$RNNKIT_DATA_DIR/<filename>`` (a folder laid out like ``shared/data``),
2. ``cache_dir()/datasets/<filename>``,
3. download from the URL (``base_url`` argument, else ``$RNNKIT_DATASET_URL_<NAME>``, else the registry),
   verified against the registered sha256 and moved into the cache atomically.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rnnkit.errors import RnnkitError
from rnnkit.fileio import CACHE_DIR_ENV, cache_dir

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "RNNKIT_DATA_DIR"
URL_ENV_PREFIX = "RNNKIT_DATASET_URL_"
DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class DatasetInfo:
    """A downloadable text data set: where it lives relative to a data folder, and its checksum.

    Every named data set is listed here: downloadable files in ``REGISTRY``, and the ones rnnkit makes
    itself (generated pair tasks, built-in series) in ``BUILTIN``.
    """

    name: str
    filename: str  # relative path inside $RNNKIT_DATA_DIR and cache_dir()/datasets
    url: str
    sha256: str
    description: str = ""


REGISTRY: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    """Add a data set to the registry (names are lower-case and unique) and return it."""
    if info.name != info.name.lower() or info.name in REGISTRY:
        raise ValueError(f"dataset name {info.name!r} must be lower-case and not yet registered")
    REGISTRY[info.name] = info
    return info


register(
    DatasetInfo(
        name="tinyshakespeare",
        filename="tinyshakespeare/input.txt",
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        description="Shakespeare excerpts (char-rnn / nanoGPT benchmark), 1,115,394 chars, 65 symbols",
    )
)


@dataclass(frozen=True)
class BuiltinDataset:
    """A named data set that rnnkit makes or ships itself, with no file: a generated toy task or a series."""

    name: str
    kind: str  # what it holds: "pairs" (source, target) for seq2seq, "series" for forecasting
    description: str = ""


BUILTIN: dict[str, BuiltinDataset] = {}


def register_builtin(info: BuiltinDataset) -> BuiltinDataset:
    """Add a built-in data set (its module makes it: ``pairs.generate_pairs``, ``series.builtin_series``)."""
    if BUILTIN.get(info.name) == info:  # the same module imported again
        return info
    if info.name != info.name.lower() or info.name in BUILTIN or info.name in REGISTRY:
        raise ValueError(f"dataset name {info.name!r} must be lower-case and not yet registered")
    BUILTIN[info.name] = info
    return info


def builtin_names(kind: str) -> tuple[str, ...]:
    """Names of the built-in data sets of ``kind`` ("pairs" or "series"), in registration order."""
    return tuple(name for name, info in BUILTIN.items() if info.kind == kind)


def data_dir() -> Path | None:
    """The local data folder named by $RNNKIT_DATA_DIR, or None when unset."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else None


def url_env_var(name: str) -> str:
    """Name of the env var that overrides a data set's download URL, e.g. RNNKIT_DATASET_URL_TINYSHAKESPEARE."""
    return URL_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_data(
    name_or_path: str | os.PathLike[str],
    *,
    base_url: str | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Return a local text file for an existing path or a registered name, downloading it if needed."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise RnnkitError(f"{path} is a directory, not a text file; pass --data FILE")
    info = REGISTRY.get(str(name_or_path).lower())
    if info is None:
        names = ", ".join(sorted(REGISTRY))
        raise RnnkitError(
            f"{str(name_or_path)!r} is neither an existing file nor a registered dataset ({names}); "
            "pass the path of a text file that exists or one of those names"
        )
    local = data_dir()
    if local is not None and (local / info.filename).is_file():
        return local / info.filename
    cached = cache_dir() / "datasets" / info.filename
    if cached.is_file():
        return cached
    if base_url is not None:
        url = base_url.rstrip("/") + "/" + info.filename
    else:
        url = os.environ.get(url_env_var(info.name)) or info.url
    return download(info, cached, url=url, timeout=timeout)


def download(info: DatasetInfo, dest: Path, *, url: str | None = None, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Stream `url` (default info.url) to a temp file beside `dest`, check sha256, then move it into place."""
    url = url or info.url
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise RnnkitError(
            f"cannot write to cache folder {dest.parent} ({e.strerror or e}); "
            f"set {CACHE_DIR_ENV} to a writable folder or pass --data FILE"
        ) from e
    tmp = Path(tmp_name)
    try:
        logger.info("downloading %s from %s", info.name, url)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                while chunk := response.read(_CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            local = data_dir()
            where = f"$RNNKIT_DATA_DIR ({local})" if local is not None else "$RNNKIT_DATA_DIR (unset)"
            raise RnnkitError(
                f"could not download {info.name} from {url} ({_reason(e)}); no local copy in {where} "
                f"or {cache_dir() / 'datasets'}; pass --data FILE with your own text"
            ) from e
        got = digest.hexdigest()
        if got != info.sha256:
            raise RnnkitError(
                f"downloaded {info.name} from {url} has sha256 {got}, expected {info.sha256}; "
                "the file was discarded: retry, or pass --data FILE with your own copy"
            )
        os.replace(tmp, dest)
        logger.info("saved %s to %s", info.name, dest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def _reason(e: BaseException) -> str:
    """A short one-line reason for a network failure."""
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        reason = e.reason
        text = getattr(reason, "strerror", None) or str(reason)
    else:
        text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(str(text).split())
