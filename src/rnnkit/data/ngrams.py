"""Bags of n-grams for a linear text model: word n-grams and character n-grams within words, as feature ids.

A text's features are a *set* (binary presence) of strings: ``"w " + " ".join(words[i:i+n])`` for word
n-grams and ``"c " + gram`` for the character n-grams of each word padded with one space on both sides
(scikit-learn's ``char_wb`` analyzer). ``NgramVocab`` maps the features seen in training to ids; a text's
bag is the ids of its known features (unknown ones are dropped).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from rnnkit.errors import RnnkitError


def ngram_features(tokens: Sequence[str], words: int, chars: tuple[int, int]) -> set[str]:
    """The set of word 1..``words``-grams and within-word character ``chars[0]``..``chars[1]``-grams.

    ``words`` 0 or ``chars[1]`` 0 leaves that kind out.
    """
    out: set[str] = set()
    for n in range(1, words + 1):
        for i in range(len(tokens) - n + 1):
            out.add("w " + " ".join(tokens[i:i + n]))
    if chars[1] > 0:
        for token in set(tokens):
            out.update(char_grams(token, chars[0], chars[1]))
    return out


@lru_cache(maxsize=1 << 16)
def char_grams(token: str, lo: int, hi: int) -> tuple[str, ...]:
    """The ``"c "``-prefixed lo..hi-character n-grams of `` token `` (cached: words repeat)."""
    padded = f" {token} "
    size = len(padded)
    return tuple({"c " + padded[i:i + n] for n in range(lo, min(hi, size) + 1) for i in range(size - n + 1)})


@dataclass
class NgramVocab:
    """The n-gram features of the training texts (seen at least ``min_count`` times) and their ids."""

    features: list[str]
    words: int
    chars: tuple[int, int]

    def __post_init__(self) -> None:
        self.index = {f: i for i, f in enumerate(self.features)}
        if len(self.index) != len(self.features):
            raise RnnkitError("the n-gram vocabulary lists a feature twice; restore the run's vocab.json")

    def __len__(self) -> int:
        return len(self.features)

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], words: int, chars: tuple[int, int],
              min_count: int = 1) -> NgramVocab:
        """The features of ``token_lists`` present in at least ``min_count`` texts, most frequent first."""
        return cls.build_with_bags(token_lists, words, chars, min_count)[0]

    @classmethod
    def build_with_bags(cls, token_lists: Iterable[Sequence[str]], words: int, chars: tuple[int, int],
                        min_count: int = 1) -> tuple[NgramVocab, np.ndarray, np.ndarray]:
        """``build`` and ``bags`` of the same texts in one pass over their features."""
        sets = [ngram_features(tokens, words, chars) for tokens in token_lists]
        counts: Counter[str] = Counter()
        for features in sets:
            counts.update(features)
        kept = sorted((f for f, c in counts.items() if c >= min_count), key=lambda f: (-counts[f], f))
        vocab = cls(kept, words, chars)
        return (vocab, *vocab._bags(sets))

    def bags(self, token_lists: Iterable[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated feature ids (K,) int64 and each text's start offset (N,) int64 (EmbeddingBag layout)."""
        return self._bags(ngram_features(tokens, self.words, self.chars) for tokens in token_lists)

    def _bags(self, feature_sets: Iterable[set[str]]) -> tuple[np.ndarray, np.ndarray]:
        ids: list[int] = []
        offsets: list[int] = []
        index = self.index
        for features in feature_sets:
            offsets.append(len(ids))
            ids.extend(sorted(i for f in features if (i := index.get(f)) is not None))
        return np.asarray(ids, dtype=np.int64), np.asarray(offsets, dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {"words": self.words, "chars": list(self.chars), "features": self.features}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NgramVocab:
        try:
            words, chars = int(d["words"]), (int(d["chars"][0]), int(d["chars"][1]))
            features = d["features"]
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise RnnkitError(f"the n-gram vocabulary is incomplete ({type(e).__name__}: {e}); "
                              "restore the run's vocab.json") from e
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise RnnkitError("the n-gram vocabulary's features must be a list of strings; restore the run's "
                              "vocab.json")
        return cls(features, words, chars)


__all__ = ["NgramVocab", "char_grams", "ngram_features"]
