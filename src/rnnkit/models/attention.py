"""Attention: scores of a query over a sequence, their masked softmax, and attention pooling.

    additive_scores     Bahdanau et al. 2015: v^T tanh(W q + U k)          (seq2seq, ``attention="bahdanau"``)
    general_scores      Luong et al. 2015, "general": q^T (W k)             (seq2seq, ``attention="luong"``)
    attend              softmax over the real (unmasked) steps, and the weighted sum of the values
    AttentionPooling    a learned softmax-weighted sum over a sequence's steps (Yang et al. 2016, one level),
                        the classifier's ``pooling="attention"``

The projections (W, U, v) stay with the model that owns them, so its ``state_dict`` keeps its names.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def additive_scores(query: Tensor, keys: Tensor, energy: nn.Linear) -> Tensor:
    """Scores (B, T, S) of projected queries (B, T, H) over projected keys (B, S, H): energy(tanh(q + k))."""
    return energy(torch.tanh(query[:, :, None, :] + keys[:, None, :, :])).squeeze(-1)  # (B, T, S, H) -> (B, T, S)


def general_scores(query: Tensor, keys: Tensor) -> Tensor:
    """Scores (B, T, S) of queries (B, T, H) over projected keys (B, S, H): dot products."""
    return query @ keys.transpose(1, 2)


def attend(scores: Tensor, mask: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
    """Context (B, T, D) and weights (B, T, S) from scores (B, T, S) over values (B, S, D); mask (B, S) is True
    at real steps (padding gets no weight). The softmax runs in fp32 whatever the autocast dtype."""
    scores = scores.float().masked_fill(~mask[:, None, :], -math.inf)
    weights = scores.softmax(dim=-1)  # (B, T, S)
    return weights.to(values.dtype) @ values, weights  # (B, T, D)


class AttentionPooling(nn.Sequential):
    """One vector per sequence: a softmax over the steps of a small MLP's scores weights the outputs.

    Shapes
    ------
    outputs : (B, T, F) a recurrent layer's outputs
    mask : (B, T) True at real steps
    returns : (B, F)
    """

    def __init__(self, features: int):
        # a Sequential, so that the parameters keep the names ("0.weight", ...) stored runs have
        super().__init__(nn.Linear(features, features), nn.Tanh(), nn.Linear(features, 1, bias=False))

    def pool(self, outputs: Tensor, mask: Tensor) -> Tensor:
        scores = self(outputs).squeeze(-1).float()  # (B, T)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)  # (B, T)
        return torch.einsum("bt,btf->bf", weights.to(outputs.dtype), outputs)  # (B, F)


__all__ = ["AttentionPooling", "additive_scores", "attend", "general_scores"]
