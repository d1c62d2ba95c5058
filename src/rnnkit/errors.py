"""The one exception type for user mistakes."""


class RnnkitError(ValueError):
    """A user mistake; its message is one actionable line (the CLI prints `rnnkit: <message>`, exit 2)."""


def raise_first(checks: list[tuple[object, str]]) -> None:
    """Raise a one-line RnnkitError with the message of the first (ok, message) pair that is not ok."""
    for ok, message in checks:
        if not ok:
            raise RnnkitError(message)
