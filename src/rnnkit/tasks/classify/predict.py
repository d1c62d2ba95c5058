"""A trained classifier at work: class probabilities of encoded texts, scores, and the run's predictor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnkit.data.padded import sorted_batches
from rnnkit.data.vocab import WordVocab
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.tasks.classify.config import ClassifyConfig
from rnnkit.tasks.classify.data import encode_texts
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
    probs = predict_proba(model, seqs, device, precision)
    loss = float(-np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-12)).mean())
    return {**classification_report(labels, probs.argmax(1), classes), "loss": loss}


@dataclass
class Classifier:
    """A trained classifier with its vocabulary (``rnnkit.runs.predictors.Classifier``): class probabilities
    and labels of texts, tokenized as in training."""

    model: SequenceClassifier
    vocab: WordVocab
    classes: tuple[str, ...]
    config: ClassifyConfig
    device: torch.device

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Id arrays of ``texts`` as in training."""
        return encode_texts(texts, self.vocab, self.config.data)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) class probabilities, columns in ``classes`` order, computed in length-sorted batches."""
        return predict_proba(self.model, self.encode(texts), self.device)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most likely label of each text."""
        return [self.classes[i] for i in self.predict_proba(texts).argmax(1)]

    def unknown_fraction(self, texts: Sequence[str]) -> float:
        """Fraction of the tokens of ``texts`` that are not in the vocabulary."""
        seqs = self.encode(texts)
        total = sum(len(s) for s in seqs)
        return sum(int((s == self.vocab.unk_id).sum()) for s in seqs) / max(total, 1)


__all__ = ["Classifier", "predict_proba", "score"]
