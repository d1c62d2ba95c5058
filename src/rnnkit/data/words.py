"""Word-level text: a tokenizer that keeps punctuation and line breaks, and its inverse (``WordVocab`` is in ``vocab``).

``tokenize("jerry: what's that?\\n")`` gives ``["jerry", ":", "what's", "that", "?", "\\n"]``: words
(letters, digits and underscores, with inner apostrophes or hyphens), numbers (``3.5``, ``1,000``), and
every other visible character as a token of its own (a run of the same one, ``...`` or ``--``, as one
token). ``detokenize`` puts the spaces back by rule (none before closing punctuation, none after an
opening bracket, quotes paired), so for text written with single spaces in the usual way
``detokenize(tokenize(text)) == text``. The rule for a token's leading space depends only on the
tokens before it, so decoding a growing sequence only ever appends (streaming).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rnnkit.errors import RnnkitError

NEWLINE = "\n"
PUNCTUATION_MODES = ("split", "drop", "keep")

_NUMBER = r"\d+(?:[.,:]\d+)*"
_WORD = r"\w+(?:['’\-]\w+)*"
_PUNCT = r"([^\w\s])\1*"  # a run of one punctuation character ("...", "--", "!!") is one token
_SPLIT = re.compile(rf"\n|{_NUMBER}|{_WORD}|{_PUNCT}|_")
_SPLIT_NO_NEWLINE = re.compile(rf"{_NUMBER}|{_WORD}|{_PUNCT}|_")
_WHITESPACE_WORDS = re.compile(r"\n|[^\s]+")
_IS_WORD = re.compile(rf"(?:{_NUMBER}|{_WORD})$")

CLOSING = frozenset(".,!?;:%)]}…")  # no space before these
OPENING = frozenset("([{$#¿¡")  # no space after these
QUOTES = frozenset("\"'“”‘’")  # paired: space before an opening quote, none inside


@dataclass(frozen=True)
class TokenizerConfig:
    """How text becomes word tokens; stored with the vocabulary so that a run tokenizes as it was trained."""

    lower: bool = False
    punctuation: str = "split"  # split: punctuation tokens; drop: removed; keep: split on whitespace only
    newlines: bool = True  # line breaks as "\n" tokens (else they are spaces)

    def validate(self) -> TokenizerConfig:
        if self.punctuation not in PUNCTUATION_MODES:
            raise RnnkitError(f"--punctuation must be one of {', '.join(PUNCTUATION_MODES)}, got {self.punctuation!r}")
        return self


def tokenize(text: str, config: TokenizerConfig = TokenizerConfig()) -> list[str]:
    """Split ``text`` into word, number, punctuation and (optionally) line-break tokens."""
    if config.lower:
        text = text.lower()
    if config.punctuation == "keep":
        tokens = _WHITESPACE_WORDS.findall(text)
    else:
        tokens = [m.group(0) for m in (_SPLIT if config.newlines else _SPLIT_NO_NEWLINE).finditer(text)]
        if config.punctuation == "drop":
            tokens = [t for t in tokens if t == NEWLINE or _IS_WORD.match(t)]
    if not config.newlines and config.punctuation == "keep":
        tokens = [t for t in tokens if t != NEWLINE]
    return tokens


class Detokenizer:
    """Joins tokens one at a time with the spacing rules; ``push(token)`` returns the text to append."""

    def __init__(self) -> None:
        self.previous: str | None = None
        self.open_quotes: set[str] = set()

    def push(self, token: str) -> str:
        prev, space = self.previous, True
        if (prev is None or prev == NEWLINE or token == NEWLINE or token[0] in CLOSING
                or prev[-1] in OPENING and prev not in QUOTES):
            space = False
        if token in QUOTES:
            kind = _quote_kind(token)
            if kind in self.open_quotes:  # closing quote: hug the text before it
                self.open_quotes.discard(kind)
                space = False
            else:
                self.open_quotes.add(kind)
        elif prev in QUOTES and _quote_kind(prev) in self.open_quotes:  # just after an opening quote
            space = False
        self.previous = token
        return (" " if space else "") + token


def _quote_kind(token: str) -> str:
    return {"“": '"', "”": '"', "‘": "'", "’": "'"}.get(token, token)


def detokenize(tokens: Iterable[str]) -> str:
    """Text from tokens: no space before closing punctuation or after opening brackets; quotes paired."""
    joiner = Detokenizer()
    return "".join(joiner.push(t) for t in tokens)


__all__ = ["NEWLINE", "Detokenizer", "TokenizerConfig", "detokenize", "tokenize"]
