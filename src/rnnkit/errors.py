"""The one exception type for user mistakes."""

import math


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
