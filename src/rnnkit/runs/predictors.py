"""The small protocols a trained run's predictor follows, one per kind of task (``Run.predictor()``).

Tools built on runs (the command line, a server, an inspector) use these methods and never special-case
a task. Each task's predictor class lives with its task; these protocols only name what they promise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rnnkit.generate import SamplingConfig


@runtime_checkable
class TextGenerator(Protocol):
    """Language models (char and word), conditional language models and n-gram models."""

    def generate(self, prime: str = "", config: SamplingConfig | None = None,
                 stream: Callable[[str], None] | None = None, condition: str | None = None) -> list[str]:
        """``config.num_samples`` texts continuing ``prime`` (each includes it); with ``stream`` and one
        sample, each new piece of text is passed to ``stream`` as soon as it is decided."""

    def score(self, text: str) -> dict[str, float]:
        """How well the model predicts ``text``: nats and bits per token, perplexity, tokens."""


@runtime_checkable
class Classifier(Protocol):
    """Sequence classifiers."""

    classes: tuple[str, ...]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) class probabilities, columns in ``classes`` order."""

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most likely class of each text."""


@runtime_checkable
class Forecaster(Protocol):
    """Time-series forecasters."""

    def forecast(self, horizon: int | None = None, history: Any = None) -> Any:
        """A ``Forecast`` of ``horizon`` steps (default: the trained horizon) after ``history`` (default: the
        run's own series)."""


@runtime_checkable
class Translator(Protocol):
    """Sequence-to-sequence models."""

    def translate(self, sources: Sequence[str], beam: int = 1, length_penalty: float = 1.0,
                  max_len: int | None = None) -> list[tuple[str, float]]:
        """(output text, length-normalised log-probability) of each source; greedy for ``beam`` 1."""


@runtime_checkable
class WordVectors(Protocol):
    """word2vec runs."""

    def similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` nearest words by cosine similarity."""

    def analogy(self, a: str, b: str, c: str, topn: int = 5) -> list[tuple[str, float]]:
        """Answers to "a is to b as c is to ?"."""


__all__ = ["Classifier", "Forecaster", "TextGenerator", "Translator", "WordVectors"]
