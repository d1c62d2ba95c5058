"""NB-weighted logistic regression on bags of binary features (Wang & Manning 2012's NB features, LR instead of
an SVM): the "wide" half of rnnkit's text classifier.

Each feature f (present or absent in a text) is scaled by its naive-Bayes log-count ratio for class c,
``r[f, c] = log((p_c[f] / |p_c|_1) / (q_c[f] / |q_c|_1))`` with ``p_c = alpha + presence counts in class c``
and ``q_c`` the same over the other classes; a softmax regression with an L2 penalty is fitted on the scaled
features by full-batch L-BFGS. For two classes this is NB-LR (class 1's ratio is minus class 0's).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import RnnkitError


def nb_ratios(ids: np.ndarray, offsets: np.ndarray, labels: np.ndarray, num_features: int, num_classes: int,
              alpha: float = 1.0) -> np.ndarray:
    """(F, C) log-count ratios of each feature for each class against the rest.

    ``ids`` (K,) and ``offsets`` (N,) are the texts' bags (``NgramVocab.bags``), ``labels`` (N,) their classes.
    """
    lengths = np.diff(np.append(offsets, len(ids)))  # (N,)
    doc_labels = np.repeat(np.asarray(labels, dtype=np.int64), lengths)  # (K,)
    counts = np.bincount(ids * num_classes + doc_labels, minlength=num_features * num_classes)
    counts = counts.reshape(num_features, num_classes).astype(np.float64)  # (F, C)
    p = alpha + counts
    q = alpha + counts.sum(1, keepdims=True) - counts
    return np.log(p / p.sum(0)) - np.log(q / q.sum(0))  # (F, C)


def bag_matrix(ids: np.ndarray, offsets: np.ndarray, num_features: int) -> Tensor:
    """(N, F) float64 sparse CSR matrix with a 1 for each (text, feature id) of the bags."""
    ids_t = torch.as_tensor(ids, dtype=torch.int64)
    crow = torch.as_tensor(np.append(offsets, len(ids)), dtype=torch.int64)  # (N + 1,)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the two products used here are not
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, ids_t, torch.ones(len(ids), dtype=torch.float64),
                                       size=(len(offsets), num_features), check_invariants=True)


class NBLinear(nn.Module):
    """Linear classifier of feature bags with naive-Bayes scaled inputs.

    Shapes
    ------
    ids : (K,) int64 feature ids of all texts, concatenated
    offsets : (N,) int64 where each text's ids start
    returns : logits (N, C) = bias + sum over a text's features f of ratio[f] * weight[f]
    """

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        if num_features < 1 or num_classes < 2:
            raise RnnkitError(f"a wide classifier needs >= 1 feature and >= 2 classes, got {num_features} "
                              f"and {num_classes}")
        self.register_buffer("ratio", torch.zeros(num_features, num_classes))
        self.weight = nn.Parameter(torch.zeros(num_features, num_classes))
        self.bias = nn.Parameter(torch.zeros(num_classes))

    @property
    def num_features(self) -> int:
        return self.weight.shape[0]

    def forward(self, ids: Tensor, offsets: Tensor) -> Tensor:
        table = self.ratio * self.weight  # (F, C)
        return F.embedding_bag(ids, table, offsets, mode="sum") + self.bias  # (N, C)

    def fit(self, ids: np.ndarray, offsets: np.ndarray, labels: np.ndarray, c: float = 1.0, alpha: float = 1.0,
            beta: float = 1.0, max_iter: int = 300) -> NBLinear:
        """Set the ratios from the training bags and fit weights and bias: minimise the summed cross-entropy
        times ``c`` plus half the squared L2 norm of the weights (scikit-learn's ``C`` convention), in float64.

        ``beta`` < 1 then interpolates each class's weights toward their mean magnitude,
        ``w' = (1 - beta) * mean|w| + beta * w`` (Wang & Manning's NBSVM interpolation, which mixes in the
        naive-Bayes log-likelihood ratio; 1: plain NB-LR)."""
        labels = np.asarray(labels, dtype=np.int64)
        ratio = torch.as_tensor(nb_ratios(ids, offsets, labels, self.num_features, self.weight.shape[1], alpha))
        x = bag_matrix(ids, offsets, self.num_features)  # (N, F) sparse CSR of ones
        xt = x.t().to_sparse_csr()  # (F, N)
        n = len(labels)
        onehot = F.one_hot(torch.as_tensor(labels), ratio.shape[1]).to(torch.float64)  # (N, C)
        weight = torch.zeros_like(ratio, requires_grad=True)  # (F, C) float64
        bias = torch.zeros(ratio.shape[1], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, history_size=20,
                                tolerance_grad=1e-5, tolerance_change=1e-10, line_search_fn="strong_wolfe")
        scale = 1.0 / (c * n)  # the objective divided by c * N, so the loss is a mean

        @torch.no_grad()
        def closure():  # the loss and its gradient by hand: two sparse products, no autograd graph
            logits = x @ (ratio * weight) + bias  # (N, C)
            logp = torch.log_softmax(logits, dim=-1)
            loss = -(logp * onehot).sum() / n + 0.5 * scale * (weight * weight).sum()
            g = (logp.exp() - onehot) / n  # (N, C)
            weight.grad = (xt @ g) * ratio + scale * weight
            bias.grad = g.sum(0)
            return loss

        opt.step(closure)
        with torch.no_grad():
            weight = (1 - beta) * weight.abs().mean(0, keepdim=True) + beta * weight  # (F, C)
            self.ratio.copy_(ratio.to(self.ratio.dtype))
            self.weight.copy_(weight.detach().to(self.weight.dtype))
            self.bias.copy_(bias.detach().to(self.bias.dtype))
        return self

    @torch.inference_mode()
    def predict_proba(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(N, C) class probabilities of the bags."""
        logits = self(torch.as_tensor(ids, device=self.weight.device),
                      torch.as_tensor(offsets, device=self.weight.device))
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()


__all__ = ["NBLinear", "bag_matrix", "nb_ratios"]
