"""What every fuzz test shares: a fixed, deterministic example budget and the one property checked."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from rnnkit.errors import RnnkitError

#: Every fuzz test runs this many examples, derandomized (the same inputs on every run, so CI is deterministic).
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

#: Bytes that look like a file of the kind: mostly printable text with separators, plus binary noise.
TEXTY = st.lists(st.sampled_from([b"a", b"b", b"POS", b"pos ", b"0", b"1.0", b"nan", b"1e999", b"-3", b",", b";",
                                  b"\t", b"\n", b"\r\n", b"\"", b"{", b"}", b":", b" ", b"\xef\xbb\xbf", b"\x1b[31m",
                                  b"\xff", b"\x00", b"text", b"label", b"date", b"value", b"2020-01-01"]),
                 max_size=60).map(b"".join)
ANY_BYTES = st.one_of(st.binary(max_size=300), TEXTY)


def safe_message(message: str) -> None:
    """A message is one line with no raw control characters (file bytes are escaped)."""
    assert not any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in message), repr(message)


def outcome(call: Callable[[], Any]) -> Any:
    """``call()``'s result, or None when it raised RnnkitError with a safe one-line message; anything else fails."""
    try:
        return call()
    except RnnkitError as e:
        safe_message(str(e))
        return None


def write(name: str, data: bytes) -> Path:
    """``data`` in a fresh temporary file called ``name`` (hypothesis runs many examples per test)."""
    folder = Path(tempfile.mkdtemp(prefix="rnnkit-fuzz-"))
    path = folder / name
    path.write_bytes(data)
    return path
