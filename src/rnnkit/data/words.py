"""Word-level text: a tokenizer that keeps punctuation and line breaks, its inverse, and a word vocabulary.

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
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rnnkit.errors import RnnkitError

PAD, UNK, NEWLINE = "<pad>", "<unk>", "\n"
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


class WordVocab:
    """Word tokens <-> ids, with ``<pad>`` = 0 and ``<unk>`` = 1 first; words in order of frequency.

    Also a ``rnnkit.generate.Vocabulary``: ``encode(text)`` tokenizes with the stored tokenizer
    settings (unknown words become ``<unk>``), ``decode(ids)`` detokenizes.
    """

    def __init__(self, tokens: Sequence[str], tokenizer: TokenizerConfig = TokenizerConfig()) -> None:
        tokens = tuple(tokens)
        if tokens[:2] != (PAD, UNK):
            raise ValueError(f"a WordVocab starts with {PAD!r} and {UNK!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        self.tokens, self.tokenizer = tokens, tokenizer
        self.index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, token_lists: Iterable[Iterable[str]], min_freq: int = 1, max_vocab: int | None = None,
              tokenizer: TokenizerConfig = TokenizerConfig()) -> WordVocab:
        """Vocabulary of the tokens seen at least ``min_freq`` times, the ``max_vocab`` most frequent at most."""
        if min_freq < 1:
            raise RnnkitError(f"--min-freq must be >= 1, got {min_freq}")
        if max_vocab is not None and max_vocab < 3:
            raise RnnkitError(f"--max-vocab must be >= 3 (padding, unknown and one word), got {max_vocab}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        kept = sorted((t for t, n in counts.items() if n >= min_freq and t not in (PAD, UNK)),
                      key=lambda t: (-counts[t], t))
        if max_vocab is not None:
            kept = kept[: max_vocab - 2]
        if not kept:
            raise RnnkitError(f"no word occurs at least --min-freq {min_freq} times; lower --min-freq or add text")
        return cls((PAD, UNK, *kept), tokenizer)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordVocab) and (self.tokens, self.tokenizer) == (other.tokens, other.tokenizer)

    def __hash__(self) -> int:
        return hash(self.tokens)

    def __repr__(self) -> str:
        return f"WordVocab(size={len(self)})"

    def encode_tokens(self, tokens: Iterable[str]) -> np.ndarray:
        """Ids (int64) of ``tokens``; words not in the vocabulary become ``<unk>``."""
        get, unk = self.index.get, self.unk_id
        return np.fromiter((get(t, unk) for t in tokens), dtype=np.int64)

    def decode_tokens(self, ids: Iterable[int] | np.ndarray) -> list[str]:
        """Tokens for ``ids``."""
        return [self.tokens[int(i)] for i in np.asarray(ids).reshape(-1)]

    def unknown_words(self, tokens: Iterable[str]) -> list[str]:
        """Sorted unique tokens that are not in the vocabulary (they encode as ``<unk>``)."""
        return sorted({t for t in tokens if t not in self.index})

    # -- the generate.Vocabulary protocol --------------------------------------------------------
    def encode(self, text: str) -> np.ndarray:
        """Tokenize ``text`` as in training and return its ids."""
        return self.encode_tokens(tokenize(text, self.tokenizer))

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """Readable text for ``ids`` (detokenized)."""
        return detokenize(self.decode_tokens(ids))

    def unknown(self, text: str) -> list[str]:
        """Always empty: every word can be encoded (unknown ones as ``<unk>``)."""
        return []

    def stream_decoder(self, prime_ids: Iterable[int] | np.ndarray):
        """A function id -> text to append after the text of ``prime_ids`` (for streamed sampling)."""
        joiner = Detokenizer()
        for token in self.decode_tokens(prime_ids):
            joiner.push(token)
        return lambda i: joiner.push(self.tokens[int(i)])

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "word", "tokens": list(self.tokens), "tokenizer": asdict(self.tokenizer)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordVocab:
        return cls(data["tokens"], TokenizerConfig(**data.get("tokenizer", {})))


__all__ = ["NEWLINE", "PAD", "UNK", "Detokenizer", "TokenizerConfig", "WordVocab", "detokenize", "tokenize"]
