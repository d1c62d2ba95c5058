"""A trained classifier at work: class probabilities of encoded texts, scores, and the run's predictor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnkit.data.ngrams import NgramVocab
from rnnkit.data.padded import sorted_batches
from rnnkit.data.vocab import WordVocab
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.models.wide import NBLinear
from rnnkit.tasks.classify.config import ClassifyConfig
from rnnkit.tasks.classify.data import encode_texts, wide_tokens
from rnnkit.tasks.classify.metrics import classification_report
from rnnkit.training.precision import autocast


@torch.inference_mode()
def predict_proba(model: SequenceClassifier, seqs: Sequence[np.ndarray], device: torch.device,
                  precision: str = "fp32", max_tokens: int = 16384) -> np.ndarray:
    """(N, C) class probabilities of the encoded sequences, computed in length-sorted batches."""
    was_training = model.training
    model.eval()
    probs = np.zeros((len(seqs), model.config.num_classes), dtype=np.float32)
    for index, ids, lengths in sorted_batches(seqs, max_tokens=max_tokens):
        with autocast(precision, device):
            logits = model(ids.to(device), lengths.to(device))  # (B, C)
        probs[index] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    model.train(was_training)
    return probs


def score(model: SequenceClassifier, seqs: Sequence[np.ndarray], labels: np.ndarray, classes: Sequence[str],
          device: torch.device, precision: str = "fp32") -> dict[str, Any]:
    """The classification report of ``model`` on encoded sequences, with the mean cross-entropy as ``loss``."""
    return score_proba(predict_proba(model, seqs, device, precision), labels, classes)


def score_proba(probs: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """The classification report of (N, C) class probabilities, with the mean cross-entropy as ``loss``."""
    loss = float(-np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-12)).mean())
    return {**classification_report(labels, probs.argmax(1), classes), "loss": loss}


def mix_proba(deep: np.ndarray, wide: np.ndarray | None, weight: float) -> np.ndarray:
    """(N, C) ``(1 - weight) * deep + weight * wide``: the two parts' averaged probabilities (``deep`` alone
    without a wide part)."""
    return deep if wide is None else (1.0 - weight) * deep + weight * wide


@dataclass
class Classifier:
    """A trained classifier with its vocabulary (``rnnkit.runs.predictors.Classifier``): class probabilities
    and labels of texts, tokenized as in training."""

    model: SequenceClassifier
    vocab: WordVocab
    classes: tuple[str, ...]
    config: ClassifyConfig
    device: torch.device
    wide: NBLinear | None = None  # the wide part (with ``ngrams``), when the run has one
    ngrams: NgramVocab | None = None

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Id arrays of ``texts`` as in training."""
        return encode_texts(texts, self.vocab, self.config.data)

    def deep_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) class probabilities of the recurrent classifier alone."""
        return predict_proba(self.model, self.encode(texts), self.device)

    def wide_proba(self, texts: Sequence[str]) -> np.ndarray | None:
        """(N, C) class probabilities of the wide part alone (None without one)."""
        if self.wide is None or self.ngrams is None:
            return None
        ids, offsets = self.ngrams.bags(wide_tokens(t, self.config.data) for t in texts)
        return self.wide.predict_proba(ids, offsets)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) class probabilities, columns in ``classes`` order: the recurrent classifier's, averaged with
        the wide part's (weight ``config.wide.weight``) when the run has one."""
        return mix_proba(self.deep_proba(texts), self.wide_proba(texts), self.config.wide.weight)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most likely label of each text."""
        return [self.classes[i] for i in self.predict_proba(texts).argmax(1)]

    def unknown_fraction(self, texts: Sequence[str]) -> float:
        """Fraction of the tokens of ``texts`` that are not in the vocabulary."""
        seqs = self.encode(texts)
        total = sum(len(s) for s in seqs)
        return sum(int((s == self.vocab.unk_id).sum()) for s in seqs) / max(total, 1)


__all__ = ["Classifier", "mix_proba", "predict_proba", "score", "score_proba"]
