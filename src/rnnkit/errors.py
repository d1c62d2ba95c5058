"""The one exception type for user mistakes."""

import math
import unicodedata


class RnnkitError(ValueError):
    """A user mistake; its message is one actionable line (the CLI prints `rnnkit: <message>`, exit 2)."""


def finite_positive(value: float, flag: str) -> tuple[bool, str]:
    """The (ok, message) check for ``raise_first`` of a setting that must be a finite number above zero
    (a learning rate: ``--lr inf`` or ``nan`` would only turn the weights into nan)."""
    ok = isinstance(value, (int, float)) and math.isfinite(value) and value > 0
    return ok, f"{flag} must be a finite positive number, got {value}"


def raise_first(checks: list[tuple[object, str]]) -> None:
    """Raise a one-line RnnkitError with the message of the first (ok, message) pair that is not ok."""
    for ok, message in checks:
        if not ok:
            raise RnnkitError(message)


def shown(value: object, limit: int | None = 60) -> str:
    """``value`` as a message may quote it: control and invisible characters escaped (ESC becomes ``\\x1b``,
    a newline ``\\n``), so a file's bytes never reach the terminal raw; cut to ``limit`` characters.

    Every message that quotes file content (a column name, a label, a word) goes through this helper,
    and the CLI passes its whole ``rnnkit:`` line through it as a last guard.
    """
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    out = "".join(_escape(c) for c in text)
    return out if limit is None or len(out) <= limit else out[:limit] + "..."


def _escape(c: str) -> str:
    if not unicodedata.category(c).startswith(("C", "Zl", "Zp")):  # control, format, unassigned, line breaks
        return c
    if c in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[c]
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
