"""A classifier's data: the vocabulary file, text -> token ids, and the training/validation/test splits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnkit.data.labeled import LabeledData, read_labeled
from rnnkit.data.ngrams import NgramVocab
from rnnkit.data.splits import stratified_folds, stratified_split
from rnnkit.data.vocab import WordVocab
from rnnkit.data.words import tokenize
from rnnkit.errors import RnnkitError
from rnnkit.tasks.classify.config import ClassifyConfig, ClassifyDataConfig


@dataclass
class ClassifyVocab:
    """vocab.json of a classification run: the word or character vocabulary, its level and the class names."""

    vocab: WordVocab
    classes: tuple[str, ...]
    level: str = "word"
    ngrams: NgramVocab | None = None  # the wide part's n-gram features (None: no wide part)

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": "classify", "level": self.level, "vocab": self.vocab.to_dict(), "classes": list(self.classes)}
        if self.ngrams is not None:
            d["ngrams"] = self.ngrams.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifyVocab:
        if d.get("kind", "classify") != "classify":
            raise RnnkitError(f"holds a {d['kind']!r} vocabulary, not a classifier's; restore the run's file")
        ngrams = NgramVocab.from_dict(d["ngrams"]) if isinstance(d.get("ngrams"), dict) else None
        return cls(WordVocab.from_dict(d["vocab"]), tuple(str(c) for c in d["classes"]), str(d.get("level", "word")),
                   ngrams)


# -- text -> ids ----------------------------------------------------------------------------------
def text_tokens(text: str, data: ClassifyDataConfig) -> list[str]:
    """The tokens of ``text``: words (with the run's tokenizer settings) or characters."""
    if data.level == "char":
        return list((text.lower() if data.lower else text).strip())
    return tokenize(text, data.tokenizer)


def wide_tokens(text: str, data: ClassifyDataConfig) -> list[str]:
    """The words the wide part's n-grams come from: the word tokens, or at char level the text's
    whitespace-separated parts (a name's character n-grams are then those within its words)."""
    if data.level == "char":
        return (text.lower() if data.lower else text).split()
    return tokenize(text, data.tokenizer)


def encode_texts(texts: Sequence[str], vocab: WordVocab, data: ClassifyDataConfig) -> list[np.ndarray]:
    """Id arrays, truncated to ``max_len``; a text with no tokens becomes a single ``<unk>``."""
    unk = np.array([vocab.unk_id], dtype=np.int64)
    out = []
    for text in texts:
        ids = vocab.encode_tokens(text_tokens(text, data)[: data.max_len])
        out.append(ids if len(ids) else unk)
    return out


def build_vocab(texts: Sequence[str], data: ClassifyDataConfig) -> WordVocab:
    """The vocabulary of the training texts (``<pad>`` = 0, ``<unk>`` = 1)."""
    return WordVocab.build((text_tokens(t, data) for t in texts), data.min_freq, data.max_vocab,
                           data.tokenizer)


# -- data splits ----------------------------------------------------------------------------------
@dataclass
class Splits:
    train: LabeledData
    val: LabeledData | None
    test: LabeledData | None
    notes: list[str]


def load_splits(config: ClassifyConfig, classes: Sequence[str] | None = None) -> Splits:
    """Read the data and cut it into training, validation and test sets as the config says (deterministic)."""
    d, seed = config.data, config.train.seed
    read = dict(text_column=d.text_column, label_column=d.label_column, encoding=d.encoding)
    everything = read_labeled(d.data, classes=classes, **read)
    classes = everything.classes
    notes = list(everything.notes)
    test = None
    pool = everything
    if d.fold is not None:
        folds = stratified_folds(everything.labels, d.cv, seed)
        test = everything.subset(folds[d.fold])
        pool = everything.subset(np.setdiff1d(np.arange(len(everything)), folds[d.fold]))
    elif d.test:
        test = read_labeled(d.test, classes=classes, **read)
        notes += test.notes
    if d.val:
        val = read_labeled(d.val, classes=classes, **read)
        notes += val.notes
        train = pool
    elif d.val_fraction > 0:
        train_idx, val_idx = stratified_split(pool.labels, d.val_fraction, seed)
        train, val = pool.subset(train_idx), (pool.subset(val_idx) if len(val_idx) else None)
    else:
        train, val = pool, None
    return Splits(train, val, test, notes)


__all__ = ["ClassifyVocab", "Splits", "build_vocab", "encode_texts", "load_splits", "text_tokens", "wide_tokens"]
