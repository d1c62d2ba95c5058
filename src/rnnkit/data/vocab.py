"""Vocabularies: characters, words and paired-sequence tokens, with one set of special tokens.

Every vocabulary maps tokens <-> ids, pads with ``<pad>`` = 0, saves as JSON with ``to_dict`` (``kind``
tells which) and follows the ``Vocabulary`` protocol that sampling uses (``encode``, ``decode``,
``unknown``, ``len``):

    CharVocab    code points, no special tokens (a character LM sees every character of its file)
    WordVocab    ``<pad>`` ``<unk>`` then words by frequency (word LMs, classifiers)
    TokenVocab   ``<pad>`` ``<s>`` ``</s>`` ``<unk>`` then the data's tokens (seq2seq, conditional LMs)

The two with special tokens keep them in the order their stored runs were trained with; the special
tokens' names are defined once here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from typing import Any, Protocol

import numpy as np
from numpy.typing import DTypeLike

from rnnkit.data.words import Detokenizer, TokenizerConfig, detokenize, tokenize
from rnnkit.errors import RnnkitError

MAX_LISTED = 10  # unknown characters or tokens listed in one error message
_CHUNK_CHARS = 1 << 22  # 4M code points = 16 MB of UTF-32 per chunk

# the special tokens, by name
PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN = "<pad>", "<unk>", "<s>", "</s>"
PAD, UNK = PAD_TOKEN, UNK_TOKEN  # WordVocab's first two tokens (ids 0 and 1)
SPECIALS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN)  # TokenVocab's first four tokens
PAD_ID, BOS_ID, EOS_ID, UNK_ID = (SPECIALS.index(t) for t in SPECIALS)  # TokenVocab's ids: 0, 1, 2, 3
LEVELS = ("char", "word")
WORD_TOKENIZER = TokenizerConfig()  # the word tokenizer's defaults


class Vocabulary(Protocol):
    """What sampling needs from a vocabulary (``CharVocab`` and ``WordVocab`` provide it)."""

    def encode(self, text: str) -> np.ndarray: ...

    def decode(self, ids: Sequence[int] | np.ndarray) -> str: ...

    def unknown(self, text: str) -> list[str]: ...

    def __len__(self) -> int: ...



def _code_points(text: str) -> Iterator[np.ndarray]:
    """Yield the text's code points as uint32 arrays, one chunk at a time."""
    for start in range(0, len(text), _CHUNK_CHARS):
        chunk = text[start : start + _CHUNK_CHARS].encode("utf-32-le", "surrogatepass")
        yield np.frombuffer(chunk, dtype="<u4")


def _describe_chars(chars: list[str]) -> str:
    """'N characters ('a', 'b', ...)' with at most MAX_LISTED listed."""
    listed = ", ".join(repr(c) for c in chars[:MAX_LISTED])
    more = f", ... {len(chars) - MAX_LISTED} more" if len(chars) > MAX_LISTED else ""
    noun = "character" if len(chars) == 1 else "characters"
    return f"{len(chars)} {noun} not in the vocabulary ({listed}{more})"


def unknown_chars_error(chars: list[str]) -> RnnkitError:
    """The one-line error for text holding ``chars`` that a given character vocabulary lacks."""
    return RnnkitError(f"text has {_describe_chars(chars)}; remove them or use a vocabulary built from this text")


class CharVocab:
    """A code-point vocabulary: id i <-> chars[i]; `from_text` sorts the unique characters."""

    def __init__(self, chars: Iterable[str]) -> None:
        chars = tuple(chars)
        if not chars:
            raise RnnkitError("cannot build a vocabulary from empty text")
        if any(len(c) != 1 for c in chars):
            raise ValueError("every vocabulary entry must be a single character")
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary characters must be unique")
        self._chars = chars
        self._codes = np.array([ord(c) for c in chars], dtype=np.uint32)  # (V,) id -> code point
        self._max_code = int(self._codes.max())
        self._lut = np.full(self._max_code + 1, -1, dtype=np.int32)  # code point -> id, -1 if absent
        self._lut[self._codes] = np.arange(len(chars), dtype=np.int32)

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """Vocabulary of the sorted unique characters (code points) of `text`."""
        present = np.zeros(0x110000, dtype=bool)
        for cp in _code_points(text):
            present[cp] = True
        return cls(chr(c) for c in np.flatnonzero(present))

    @property
    def chars(self) -> tuple[str, ...]:
        """The characters in id order."""
        return self._chars

    def __len__(self) -> int:
        return len(self._chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self._chars == other._chars

    def __hash__(self) -> int:
        return hash(self._chars)

    def __repr__(self) -> str:
        return f"CharVocab(size={len(self)})"

    def _ids(self, cp: np.ndarray) -> np.ndarray:
        """Map code points to ids (int32), -1 for characters not in the vocabulary."""
        ids = self._lut[np.minimum(cp, self._max_code)]
        ids[cp > self._max_code] = -1
        return ids

    def unknown(self, text: str) -> list[str]:
        """Sorted unique characters of `text` that are not in the vocabulary."""
        missing: set[int] = set()
        for cp in _code_points(text):
            bad = cp[self._ids(cp) < 0]
            if bad.size:
                missing.update(np.unique(bad).tolist())
        return [chr(c) for c in sorted(missing)]

    def encode(self, text: str, dtype: DTypeLike = np.int64) -> np.ndarray:
        """Ids of the characters of `text` as a 1-D array (int64 by default); RnnkitError on unknown ones."""
        out = np.empty(len(text), dtype=dtype)  # (N,)
        pos = 0
        for cp in _code_points(text):
            ids = self._ids(cp)
            if (ids < 0).any():
                raise unknown_chars_error(self.unknown(text))
            out[pos : pos + len(ids)] = ids
            pos += len(ids)
        return out

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """Text for a 1-D sequence of ids (list, NumPy array or CPU tensor)."""
        arr = np.asarray(ids)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise ValueError(f"decode expects a 1-D sequence of ids, got shape {arr.shape}")
        if arr.size == 0:
            return ""
        if arr.dtype.kind not in "iu" or int(arr.min()) < 0 or int(arr.max()) >= len(self):
            raise ValueError(f"ids must be integers in [0, {len(self)})")
        return self._codes[arr].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for checkpoints."""
        return {"kind": "char", "chars": list(self._chars)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharVocab:
        """Inverse of `to_dict` (ids are preserved exactly)."""
        if data.get("kind") != "char":
            raise ValueError(f"not a character vocabulary: kind={data.get('kind')!r}")
        return cls(data["chars"])


class WordVocab:
    """Word tokens <-> ids, with ``<pad>`` = 0 and ``<unk>`` = 1 first; words in order of frequency.

    Also a ``rnnkit.generate.Vocabulary``: ``encode(text)`` tokenizes with the stored tokenizer
    settings (unknown words become ``<unk>``), ``decode(ids)`` detokenizes.
    """

    def __init__(self, tokens: Sequence[str], tokenizer: TokenizerConfig = WORD_TOKENIZER) -> None:
        tokens = tuple(tokens)
        if tokens[:2] != (PAD, UNK):
            raise ValueError(f"a WordVocab starts with {PAD!r} and {UNK!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        self.tokens, self.tokenizer = tokens, tokenizer
        self.index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, token_lists: Iterable[Iterable[str]], min_freq: int = 1, max_vocab: int | None = None,
              tokenizer: TokenizerConfig = WORD_TOKENIZER) -> WordVocab:
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


def level_tokens(text: str, level: str) -> list[str]:
    """Tokens of ``text``: its characters (``char``) or its whitespace-separated words (``word``)."""
    if level == "char":
        return list(text)
    if level == "word":
        return text.split()
    raise RnnkitError(f"unknown level {level!r}; use char or word")


class TokenVocab:
    """Tokens <-> ids with ``<pad>``=0, ``<s>``=1, ``</s>``=2, ``<unk>``=3 before the data's tokens.

    ``level`` says how text is cut into tokens and how ids are joined back (no separator for
    characters, one space for words).
    """

    def __init__(self, tokens: Iterable[str], level: str = "char") -> None:
        if level not in LEVELS:
            raise RnnkitError(f"unknown level {level!r}; use char or word")
        self.level = level
        self.tokens: tuple[str, ...] = SPECIALS + tuple(t for t in tokens if t not in SPECIALS)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("vocabulary tokens must be unique")

    @classmethod
    def from_texts(cls, texts: Iterable[str], level: str = "char") -> TokenVocab:
        """Vocabulary of the sorted distinct tokens of ``texts``."""
        seen: set[str] = set()
        for text in texts:
            seen.update(level_tokens(text, level))
        return cls(sorted(seen), level)

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenVocab) and (self.tokens, self.level) == (other.tokens, other.level)

    def __hash__(self) -> int:
        return hash((self.tokens, self.level))

    def unknown(self, text: str) -> list[str]:
        """Sorted distinct tokens of ``text`` missing from the vocabulary."""
        return sorted({t for t in level_tokens(text, self.level) if t not in self.index})

    def encode(self, text: str, unknown_ok: bool = True) -> list[int]:
        """Ids of the tokens of ``text`` (no ``<s>``/``</s>``); unknown tokens become ``<unk>`` or an error."""
        if not unknown_ok:
            missing = self.unknown(text)
            if missing:
                raise RnnkitError(f"{describe_unknown(missing)}; remove them")
        return [self.index.get(t, UNK_ID) for t in level_tokens(text, self.level)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``, stopping at ``</s>`` and skipping ``<pad>``/``<s>``."""
        out: list[str] = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i in (PAD_ID, BOS_ID):
                continue
            out.append(self.tokens[i])
        return ("" if self.level == "char" else " ").join(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for run directories (ids are preserved exactly)."""
        return {"kind": "tokens", "level": self.level, "tokens": list(self.tokens[len(SPECIALS):])}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenVocab:
        """Inverse of ``to_dict``."""
        if data.get("kind") != "tokens":
            raise ValueError(f"not a token vocabulary: kind={data.get('kind')!r}")
        return cls(data["tokens"], data["level"])


def describe_unknown(tokens: Sequence[str]) -> str:
    """'input has 2 tokens not in the vocabulary: 'x', 'y'' with at most MAX_LISTED listed."""
    listed = ", ".join(repr(t) for t in tokens[:MAX_LISTED])
    more = f", ... {len(tokens) - MAX_LISTED} more" if len(tokens) > MAX_LISTED else ""
    noun = "token" if len(tokens) == 1 else "tokens"
    return f"input has {len(tokens)} {noun} not in the vocabulary: {listed}{more}"




__all__ = ["BOS_ID", "BOS_TOKEN", "EOS_ID", "EOS_TOKEN", "LEVELS", "MAX_LISTED", "PAD", "PAD_ID", "PAD_TOKEN",
           "SPECIALS", "UNK", "UNK_ID", "UNK_TOKEN", "WORD_TOKENIZER", "CharVocab", "TokenVocab", "Vocabulary",
           "WordVocab", "describe_unknown", "level_tokens", "unknown_chars_error"]
