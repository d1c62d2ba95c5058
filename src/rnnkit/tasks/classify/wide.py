"""The classifier's wide part in a run: fitted on the training split's n-grams, kept in ``wide.pt`` (weights)
and vocab.json's ``"ngrams"`` (the features), loaded back with its sizes checked before anything is built."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from rnnkit import checkpoint as ckpt
from rnnkit.data.ngrams import NgramVocab
from rnnkit.errors import RnnkitError
from rnnkit.models.wide import NBLinear
from rnnkit.tasks.classify.config import ClassifyConfig
from rnnkit.tasks.classify.data import wide_tokens

WIDE_FILE = "wide.pt"


def fit_wide(texts: Sequence[str], labels: np.ndarray, num_classes: int,
             config: ClassifyConfig) -> tuple[NgramVocab, NBLinear]:
    """The n-gram vocabulary of ``texts`` (the training split only) and the NB-LR fitted on them."""
    w = config.wide
    tokens = [wide_tokens(t, config.data) for t in texts]
    vocab, ids, offsets = NgramVocab.build_with_bags(tokens, w.words, (w.char_min, w.char_max), w.min_count)
    if not len(vocab):
        raise RnnkitError(f"no n-gram of the training texts is present {w.min_count} times; lower "
                          "--set wide.min_count or train without the wide part (--set wide.weight=0)")
    beta = w.beta if num_classes == 2 else 1.0  # NBSVM's interpolation is a two-class method (on names, 18
    # languages, one-vs-rest ratios interpolated the same way lost 16 points)
    model = NBLinear(len(vocab), num_classes).fit(ids, offsets, labels, c=w.c, alpha=w.alpha, beta=beta)
    return vocab, model.eval()


def save_wide(run_dir: Path, model: NBLinear) -> None:
    """``run_dir/wide.pt``: the wide part's tensors (loaded back with ``torch.load(weights_only=True)``)."""
    ckpt.save_tensors(Path(run_dir) / WIDE_FILE, {"wide": {k: v.detach().cpu() for k, v in
                                                            model.state_dict().items()}})


def load_wide(run_dir: Path, ngrams: NgramVocab | None, num_classes: int,
              device: torch.device | str = "cpu") -> NBLinear:
    """The wide part of ``run_dir``; its tensors must have one row per n-gram of vocab.json and one column
    per class, checked before the model is built."""
    path = Path(run_dir) / WIDE_FILE
    if ngrams is None:
        raise RnnkitError(f"{path.parent / ckpt.VOCAB_FILE} has no \"ngrams\" for the wide part the config "
                          "asks for; restore the run's vocab.json")
    state = ckpt.load_tensors(path).get("wide")
    expected = {"ratio": (len(ngrams), num_classes), "weight": (len(ngrams), num_classes), "bias": (num_classes,)}
    if not isinstance(state, dict) or set(state) != set(expected):
        raise RnnkitError(f"{path} does not hold the wide part's tensors {sorted(expected)}; restore the run's file")
    for name, shape in expected.items():
        tensor = state[name]
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != shape or not tensor.is_floating_point():
            got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise RnnkitError(f"{path} has wide.{name} of shape {got}, but vocab.json and config.json give {shape}; "
                              "the files come from different runs")
    model = NBLinear(len(ngrams), num_classes)
    model.load_state_dict(state)
    return model.to(device).eval()


__all__ = ["WIDE_FILE", "fit_wide", "load_wide", "save_wide"]
