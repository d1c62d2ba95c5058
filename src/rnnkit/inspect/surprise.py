"""Surprise: the loss of each real next token under the network and, beside it, under a Kneser-Ney n-gram
(Karpathy et al. 2015's error analysis: where does the LSTM beat the n-gram, and where not)."""

from __future__ import annotations

import math

import numpy as np

from rnnkit.errors import RnnkitError
from rnnkit.models.ngram import KneserNeyLM


def ngram_losses(run, tokens: list[str], level: str, text: str) -> np.ndarray:
    """(T,) nats the n-gram ``run`` (``open_run`` of an ``ngram`` run) gives each next token of ``text``,
    aligned with a recording's steps (NaN at the last). The two runs must cut the text into the same tokens."""
    if not isinstance(run.model, KneserNeyLM):
        raise RnnkitError(f"--compare needs an n-gram run (rnnkit train ngram); {run.path} is a {run.task} run")
    from rnnkit.tasks.lm import encode_text

    if run.config.data.level != level:
        raise RnnkitError(f"--compare {run.path} is a {run.config.data.level}-level n-gram but the inspected model "
                          f"reads {level}s; count one with --level {level}")
    ids = encode_text(run.vocab, text, run.config.data)
    if len(ids) != len(tokens):
        raise RnnkitError(f"--compare {run.path} cuts the text into {len(ids)} tokens, the model into {len(tokens)}; "
                          "compare runs trained on the same text with the same settings")
    model, order = run.model, run.model.order
    out = np.full(len(ids), np.nan)
    for t in range(len(ids) - 1):
        out[t] = -math.log(model.prob(ids[max(0, t + 2 - order):t + 1], int(ids[t + 1])))
    return out


def biggest_differences(tokens: list[str], loss: np.ndarray, other: np.ndarray, count: int = 12,
                        context: int = 24) -> dict[str, list[dict]]:
    """Where the network is most better ("rnn_better") and most worse ("rnn_worse") than the other model: steps
    with the text before them, the next token and both losses (nats)."""
    diff = other - loss  # > 0: the network is less surprised
    valid = np.flatnonzero(np.isfinite(diff))
    out: dict[str, list[dict]] = {}
    for key, order in (("rnn_better", valid[np.argsort(-diff[valid])]), ("rnn_worse", valid[np.argsort(diff[valid])])):
        rows = []
        for t in order[:count]:
            before = "".join(tokens[max(0, t + 1 - context):t + 1])
            rows.append({"step": int(t), "before": before, "next": tokens[t + 1], "rnn": round(float(loss[t]), 3),
                         "ngram": round(float(other[t]), 3)})
        out[key] = rows
    return out


__all__ = ["biggest_differences", "ngram_losses"]
