"""Crash-safe file writing shared by caches, downloads and checkpoints, and where the cache lives."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

CACHE_DIR_ENV = "RNNKIT_CACHE_DIR"


def cache_dir() -> Path:
    """Root of rnnkit's user cache: $RNNKIT_CACHE_DIR if set, else ~/.cache/rnnkit."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rnnkit"


def atomic_write(dest: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(f)`` on a temp file beside ``dest``, fsync it, then ``os.replace`` it into place.

    A crash at any point leaves either the old ``dest`` or the new one, never a torn file.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def atomic_write_text(dest: str | os.PathLike[str], text: str) -> Path:
    """``atomic_write`` for a UTF-8 text file."""
    return atomic_write(dest, lambda f: f.write(text.encode("utf-8")))
