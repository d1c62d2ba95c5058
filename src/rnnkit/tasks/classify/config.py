"""The settings of a classification run: ``[data]`` (ClassifyDataConfig), ``[model]``, ``[train]`` and its defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rnnkit.config import PRECISIONS, RunSections, TrainConfig, build_run_config, raise_first
from rnnkit.data.words import TokenizerConfig
from rnnkit.errors import finite_positive
from rnnkit.models.classifier import ClassifierConfig

LEVELS = ("word", "char")

#: the classify task's training defaults (they differ from the language model's in TrainConfig)
TRAIN_DEFAULTS: dict[str, Any] = dict(batch_size=50, lr=2e-3, weight_decay=0.01, warmup_steps=50, epochs=6,
                                      patience=3, eval_every=0, precision="fp32", log_every=20)


@dataclass(frozen=True)
class ClassifyDataConfig:
    """Where the labelled text comes from, how it becomes tokens, and how it is split."""

    data: tuple[str, ...] = ()  # one table or folder, or LABEL=FILE pairs
    text_column: str = "text"
    label_column: str = "label"
    encoding: str = "utf-8"
    level: str = "word"  # word tokens, or characters (for short strings: names, codes)
    lower: bool = True
    punctuation: str = "split"  # split: punctuation marks are tokens; drop: removed; keep: split on spaces only
    min_freq: int = 1
    max_vocab: int | None = None
    max_len: int | None = 400  # tokens kept from the start of each text
    val_fraction: float = 0.1  # stratified validation split of the training data (when no val files)
    val: tuple[str, ...] = ()  # a validation set in any of the data layouts
    test: tuple[str, ...] = ()  # a test set, evaluated with the best weights at the end
    class_weights: bool = False  # weight the loss by n / (C * count) for imbalanced classes
    embeddings: str | None = None  # word2vec file to initialise the word embeddings from
    cv: int = 0  # K of K-fold cross-validation this run belongs to (0: none)
    fold: int | None = None  # which fold (0-based) is this run's test split

    @property
    def tokenizer(self) -> TokenizerConfig:
        return TokenizerConfig(lower=self.lower, punctuation=self.punctuation, newlines=False)


@dataclass(frozen=True)
class WideConfig:
    """The wide part: NB-weighted logistic regression on binary n-grams of the training texts, whose class
    probabilities are averaged with the recurrent classifier's (``rnnkit.models.wide``)."""

    weight: float = 0.95  # the wide part's share of the averaged probabilities (0: the recurrent classifier alone)
    words: int = 3  # word n-grams 1..words (0: none)
    char_min: int = 1  # character n-grams within words, char_min..char_max long (char_max 0: none)
    char_max: int = 5
    min_count: int = 1  # keep n-grams present in at least this many training texts
    alpha: float = 0.5  # naive-Bayes smoothing of the presence counts
    c: float = 0.1  # inverse L2 strength: the summed cross-entropy's weight against half the squared weights
    with_validation: bool = True  # fit on the validation split too (the wide part needs no early stopping)
    beta: float = 0.25  # two classes: NBSVM interpolation toward the mean weight magnitude (Wang & Manning's; 1: none)

    @property
    def enabled(self) -> bool:
        return self.weight > 0


@dataclass(frozen=True)
class ClassifyConfig(RunSections):
    """A classification run: data, model and training settings."""

    data: ClassifyDataConfig = field(default_factory=ClassifyDataConfig)
    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(**TRAIN_DEFAULTS))
    wide: WideConfig = field(default_factory=WideConfig)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifyConfig:
        data = dict(d.get("data", {}))
        for key in ("data", "val", "test"):
            if isinstance(data.get(key), str):
                data[key] = (data[key],)
            if key in data:
                data[key] = tuple(str(v) for v in data[key])
        return build_run_config(cls, d, data=data, train={**TRAIN_DEFAULTS, **d.get("train", {})})

    def validate(self) -> ClassifyConfig:
        """Raise a one-line RnnkitError naming the first bad setting; return self."""
        d, t, w = self.data, self.train, self.wide
        checks = [
            (bool(d.data), "no data given; pass --data FILE.csv, --data FOLDER or --data LABEL=FILE (repeated)"),
            (d.level in LEVELS, f"--level must be word or char, got {d.level!r}"),
            (d.min_freq >= 1, f"--min-freq must be >= 1, got {d.min_freq}"),
            (d.max_len is None or d.max_len >= 1, f"--max-len must be >= 1, got {d.max_len}"),
            (0 <= d.val_fraction < 1, f"--val-fraction must be in [0, 1), got {d.val_fraction}"),
            (d.embeddings is None or d.level == "word", "--embeddings needs --level word (they are word vectors)"),
            (d.cv == 0 or d.cv >= 2, f"--cv must be >= 2 folds, got {d.cv}"),
            (t.batch_size >= 1, f"--batch-size must be >= 1, got {t.batch_size}"),
            finite_positive(t.lr, "--lr"),
            (t.eval_every >= 0, f"--eval-every must be >= 0 (0: once per epoch), got {t.eval_every}"),
            (t.patience is None or t.patience >= 1, f"--patience must be >= 1, got {t.patience}"),
            (t.max_steps or t.epochs or t.time, "give one of --max-steps, --epochs or --time"),
            (0 <= w.weight <= 1, f"wide.weight must be in [0, 1] (0: no wide part), got {w.weight}"),
            (w.words >= 0 and w.char_max >= 0, "wide.words and wide.char_max must be >= 0 (0: none of that kind)"),
            (w.char_max == 0 or 1 <= w.char_min <= w.char_max,
             f"wide.char_min must be in [1, wide.char_max], got {w.char_min} and {w.char_max}"),
            (not w.enabled or w.words > 0 or w.char_max > 0,
             "the wide part needs wide.words > 0 or wide.char_max > 0 (or wide.weight 0: no wide part)"),
            (w.min_count >= 1, f"wide.min_count must be >= 1, got {w.min_count}"),
            finite_positive(w.alpha, "wide.alpha"),
            finite_positive(w.c, "wide.c"),
            (0 <= w.beta <= 1, f"wide.beta must be in [0, 1] (1: no interpolation), got {w.beta}"),
            (t.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}, got {t.precision!r}"),
        ]
        raise_first(checks)
        TokenizerConfig(punctuation=d.punctuation).validate()
        self.model.validate()
        return self


def fold_config(config: ClassifyConfig, fold: int) -> ClassifyConfig:
    """The run of cross-validation fold ``fold`` (0-based): its test split is the fold, no other test set."""
    return dataclasses.replace(config, data=dataclasses.replace(config.data, fold=fold, test=()))


__all__ = ["LEVELS", "TRAIN_DEFAULTS", "ClassifyConfig", "ClassifyDataConfig", "WideConfig", "fold_config"]
