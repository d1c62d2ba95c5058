"""The content hash of a run's data files, so that a resume on edited data is noticed instead of trained on.

config.json's ``meta`` keeps ``data_sha256``: {path: SHA-256 of its bytes} for every local file (or folder)
the run reads. Files are hashed in streaming chunks: a 1 GB corpus is read once more from disk, never held
in memory a second time.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rnnkit.data.datasets import file_sha256
from rnnkit.errors import RnnkitError

META_KEY = "data_sha256"
ALLOW_FLAG = "--allow-data-change"


def _path_values(value: Any) -> Iterable[str]:
    """The strings of a data setting that may name a path: itself, each item of a tuple, and the FILE of a
    LABEL=FILE pair."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    for item in items:
        if isinstance(item, str) and item:
            yield item
            if "=" in item:
                yield item.partition("=")[2]


def data_files(config: Any, meta: dict[str, Any]) -> list[Path]:
    """The local files and folders a run's data comes from: ``meta["data_path"]`` (a named dataset resolved by
    the task) and every setting of the config's ``[data]`` section that names an existing path."""
    candidates = list(_path_values(meta.get("data_path")))
    data = getattr(config, "data", None)
    if dataclasses.is_dataclass(data):
        for f in dataclasses.fields(data):
            candidates.extend(_path_values(getattr(data, f.name)))
    found: dict[str, Path] = {}
    for text in candidates:
        path = Path(text)
        try:
            if path.exists():
                found.setdefault(str(path.resolve()), path.resolve())
        except OSError:  # a name too long or otherwise not a path: not a data file
            continue
    return list(found.values())


def content_hash(path: Path) -> str:
    """SHA-256 of a file's bytes (``datasets.file_sha256``, the encoded-corpus cache's key too), or of a folder's
    files (their relative names and content hashes, in sorted order)."""
    if not path.is_dir():
        return file_sha256(path)
    digest = hashlib.sha256()
    for child in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(child.relative_to(path)).encode("utf-8", "surrogateescape") + b"\0")
        digest.update(file_sha256(child).encode())
    return digest.hexdigest()


def fingerprint(paths: Iterable[Path]) -> dict[str, str]:
    """{path: content hash} of each existing path (a vanished one is left for the task's reader to report)."""
    return {str(p): content_hash(Path(p)) for p in paths if Path(p).exists()}


def check_unchanged(stored: dict[str, str], run_dir: Path, allow_change: bool, log) -> dict[str, str]:
    """Hash the files a run recorded again; refuse (one line) if one changed, unless ``allow_change``, which
    continues and says so. Returns the current hashes."""
    current = fingerprint(Path(p) for p in stored)
    changed = [p for p, h in current.items() if stored.get(p) != h]
    if changed and not allow_change:
        raise RnnkitError(f"{changed[0]} changed since {run_dir} started (its content hash differs), so resuming "
                          f"would train on different data; restore the file, or continue on the new data with "
                          f"'rnnkit train --resume {run_dir} {ALLOW_FLAG}'")
    if changed:
        log(f"rnnkit: {changed[0]} changed since the run started; continuing on the new data ({ALLOW_FLAG})")
    return current


__all__ = ["ALLOW_FLAG", "META_KEY", "check_unchanged", "content_hash", "data_files", "fingerprint"]
