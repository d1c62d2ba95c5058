"""The one exception type for user mistakes."""


class RnnkitError(ValueError):
    """A user mistake; its message is one actionable line (the CLI prints `rnnkit: <message>`, exit 2)."""
