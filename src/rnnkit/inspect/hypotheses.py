"""Hypotheses about what a cell might track, computed from the text alone (Karpathy, Johnson & Fei-Fei 2015).

Each hypothesis is a number per step: 1/0 for a yes-or-no fact ("inside quotes"), a count for a
continuous one ("position in line"). Its value at step t describes the text *after reading* token t,
as the cell's value at step t does: an opening quote is already inside the quotes, a closing one no longer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

OPEN_QUOTES, CLOSE_QUOTES = "\u201c", "\u201d"  # curly quotes pair up; a straight " toggles
OPEN_BRACKETS, CLOSE_BRACKETS = "([{", ")]}"
SENTENCE_END = ".!?"
SPEAKER = re.compile(r"^[A-Z][A-Z .'\-]*$")  # an all-capitals name, as before the colon of a script's turn


@dataclass(frozen=True)
class Hypothesis:
    """One hypothesis over T steps: ``values`` (T,) float64; ``binary`` when every value is 0 or 1."""

    name: str
    values: np.ndarray
    binary: bool
    description: str


# -- per character: arrays (N,) over the characters of a text ------------------------------------------
def inside_quotes(text: str) -> np.ndarray:
    """1 from an opening quote up to (not including) its closing quote."""
    out, inside = np.zeros(len(text)), False
    for k, ch in enumerate(text):
        if ch == '"':
            inside = not inside
        elif ch in OPEN_QUOTES:
            inside = True
        elif ch in CLOSE_QUOTES:
            inside = False
        out[k] = inside
    return out


def bracket_depth(text: str) -> np.ndarray:
    """How many brackets ( [ { are open after each character (never below 0)."""
    out, depth = np.zeros(len(text)), 0
    for k, ch in enumerate(text):
        if ch in OPEN_BRACKETS:
            depth += 1
        elif ch in CLOSE_BRACKETS:
            depth = max(depth - 1, 0)
        out[k] = depth
    return out


def position_in_line(text: str) -> np.ndarray:
    """Characters read since the last newline (0 at the newline itself)."""
    out, pos = np.zeros(len(text)), 0
    for k, ch in enumerate(text):
        pos = 0 if ch == "\n" else pos + 1
        out[k] = pos
    return out


def indentation(text: str) -> np.ndarray:
    """The leading spaces and tabs of the current line read so far."""
    out, indent, leading = np.zeros(len(text)), 0, True
    for k, ch in enumerate(text):
        if ch == "\n":
            indent, leading = 0, True
        elif leading and ch in " \t":
            indent += 1
        else:
            leading = False
        out[k] = indent
    return out


def _flags(text: str, test: Callable[[str, str], bool]) -> np.ndarray:
    """1 where ``test(previous character, character)`` holds."""
    return np.array([test(text[k - 1] if k else "\n", ch) for k, ch in enumerate(text)], dtype=np.float64)


CHAR_HYPOTHESES: dict[str, tuple[Callable[[str], np.ndarray], bool, str]] = {
    "inside quotes": (inside_quotes, True, 'between an opening and a closing quote (" or \u201c \u201d)'),
    "inside brackets": (lambda t: (bracket_depth(t) > 0).astype(np.float64), True, "inside ( ), [ ] or { }"),
    "bracket depth": (bracket_depth, False, "how many brackets are open"),
    "position in line": (position_in_line, False, "characters since the last newline"),
    "line start": (lambda t: _flags(t, lambda p, c: p == "\n" and c != "\n"), True,
                   "the first character after a newline"),
    "newline": (lambda t: _flags(t, lambda p, c: c == "\n"), True, "a newline character"),
    "indentation": (indentation, False, "leading spaces of the current line"),
    "word start": (lambda t: _flags(t, lambda p, c: c.isalnum() and not p.isalnum()), True,
                   "the first letter or digit of a word"),
    "inside word": (lambda t: _flags(t, lambda p, c: c.isalpha() and p.isalpha()), True,
                    "a letter after a letter"),
    "capital": (lambda t: _flags(t, lambda p, c: c.isupper()), True, "a capital letter"),
    "digit": (lambda t: _flags(t, lambda p, c: c.isdigit()), True, "a digit"),
}


# -- per word token -----------------------------------------------------------------------------------
def speaker_tags(words: list[str]) -> np.ndarray:
    """1 on an all-capitals name followed by ':' and on that colon (a script's 'JERRY:')."""
    out = np.zeros(len(words))
    for k, word in enumerate(words):
        w = word.strip()
        if w == ":" and k and SPEAKER.match(words[k - 1].strip()):
            out[k - 1] = out[k] = 1
    return out


def turn_position(words: list[str]) -> np.ndarray:
    """Tokens since the last speaker tag (counted from the first one)."""
    tags, out, pos = speaker_tags(words), np.zeros(len(words)), 0
    for k in range(len(words)):
        pos = 0 if tags[k] else pos + 1
        out[k] = pos
    return out


def sentence_position(words: list[str]) -> np.ndarray:
    """Tokens since the end of the last sentence (. ! ? or a line break)."""
    out, pos = np.zeros(len(words)), 0
    for k, word in enumerate(words):
        w = word.strip(" ")
        out[k] = pos
        pos = 0 if (w and w in SENTENCE_END) or w == "\n" else pos + 1
    return out


WORD_HYPOTHESES: dict[str, tuple[Callable[[list[str]], np.ndarray], bool, str]] = {
    "speaker tag": (speaker_tags, True, "a speaker's name and colon (JERRY:)"),
    "turn position": (turn_position, False, "words since the last speaker tag"),
    "sentence position": (sentence_position, False, "words since the last sentence ended"),
}


def _token_ends(tokens: list[str]) -> np.ndarray:
    """(T,) index in ``"".join(tokens)`` of each token's last character that is not a space."""
    ends, at = np.zeros(len(tokens), dtype=np.int64), 0
    for k, token in enumerate(tokens):
        stripped = token.rstrip(" ")
        at += len(token)
        ends[k] = max(at - (len(token) - len(stripped)) - 1, 0) if stripped else max(at - 1, 0)
    return ends


def hypotheses(tokens: list[str], level: str = "char") -> list[Hypothesis]:
    """The hypotheses that vary over ``tokens`` (the display text of each step, as ``Recording.tokens``).

    Word tokens take the character hypotheses at their last character, plus the word hypotheses
    (speaker turns, sentence position). A hypothesis that is the same at every step is left out.
    """
    text = "".join(tokens)
    out = []
    at = np.arange(len(tokens)) if level == "char" and len(text) == len(tokens) else _token_ends(tokens)
    for name, (fn, binary, description) in CHAR_HYPOTHESES.items():
        values = fn(text)[at] if text else np.zeros(len(tokens))
        out.append(Hypothesis(name, values, binary, description))
    if level == "word":
        for name, (fn, binary, description) in WORD_HYPOTHESES.items():
            out.append(Hypothesis(name, fn(tokens), binary, description))
    return [h for h in out if len(h.values) and np.ptp(h.values) > 0]


__all__ = ["CHAR_HYPOTHESES", "WORD_HYPOTHESES", "Hypothesis", "hypotheses"]
