"""Every cap the server enforces, with its default: the one source of truth for CLI flags, the app and errors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Caps on what one request (or all of them together) may ask of the server."""

    max_streams: int = 64  # concurrent generation streams over all models (429 beyond)
    max_tokens: int = 2000  # tokens one completion may ask for (422 beyond)
    max_body_bytes: int = 1_000_000  # request body size (413 beyond)
    max_prompt_chars: int = 20_000  # prompt / text length (422 beyond)
    max_n: int = 8  # completions per request (422 beyond)
    max_texts: int = 256  # texts per classify / translate request (422 beyond)
    max_horizon: int = 1000  # forecast steps (422 beyond)
    max_beam: int = 16  # beam width for translate (422 beyond)
    max_topn: int = 100  # neighbours for similar (422 beyond)


DEFAULT_LIMITS = Limits()
