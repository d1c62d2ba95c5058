"""The wide classifier (NB-weighted logistic regression), against the formulas and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.data.ngrams import NgramVocab
from rnnkit.errors import RnnkitError
from rnnkit.models.wide import NBLinear, bag_matrix, nb_ratios

TEXTS = [["a", "superb", "film"], ["the", "plot", "was", "awful"], ["dull", "film"], ["great", "plot", "a", "b"],
         ["superb", "superb", "acting"], ["awful", "dull", "and", "long"], ["a", "great", "cast"], ["not", "good"]]
LABELS = np.array([1, 0, 0, 1, 1, 0, 1, 0])


def test_nb_ratios_are_the_log_count_ratios_of_wang_and_manning():
    vocab, ids, offsets = NgramVocab.build_with_bags(TEXTS, 1, (0, 0))
    x = bag_matrix(ids, offsets, len(vocab)).to_dense().numpy()  # (N, F) binary
    p = 1 + x[LABELS == 1].sum(0)
    q = 1 + x[LABELS == 0].sum(0)
    r = np.log((p / p.sum()) / (q / q.sum()))
    ratios = nb_ratios(ids, offsets, LABELS, len(vocab), 2)
    np.testing.assert_allclose(ratios[:, 1], r, rtol=1e-12)
    np.testing.assert_allclose(ratios[:, 0], -r, rtol=1e-12)


def test_fit_matches_sklearn_logistic_regression_on_nb_features():
    """Two-class softmax with L2 ``c`` on both columns is binary LR with C = 2c on NB-scaled features."""
    from sklearn.linear_model import LogisticRegression

    vocab, ids, offsets = NgramVocab.build_with_bags(TEXTS, 2, (2, 3))
    model = NBLinear(len(vocab), 2).fit(ids, offsets, LABELS, c=0.5)
    x = bag_matrix(ids, offsets, len(vocab)).to_dense().numpy()
    r = nb_ratios(ids, offsets, LABELS, len(vocab), 2)[:, 1]
    reference = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(x * r, LABELS)
    with torch.no_grad():
        logits = model(torch.as_tensor(ids), torch.as_tensor(offsets)).double().numpy()  # (N, 2)
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], reference.decision_function(x * r), atol=1e-3)


def test_a_wide_model_needs_features_and_two_classes():
    with pytest.raises(RnnkitError, match="needs >= 1 feature and >= 2 classes"):
        NBLinear(0, 2)
    with pytest.raises(RnnkitError, match="needs >= 1 feature and >= 2 classes"):
        NBLinear(5, 1)


def test_beta_interpolates_the_weights_toward_their_mean_magnitude():
    """NBSVM's w' = (1 - beta) * mean|w| + beta * w, on the two-class difference of the columns."""
    vocab, ids, offsets = NgramVocab.build_with_bags(TEXTS, 2, (2, 3))
    plain = NBLinear(len(vocab), 2).fit(ids, offsets, LABELS, c=0.5)
    mixed = NBLinear(len(vocab), 2).fit(ids, offsets, LABELS, c=0.5, beta=0.25)
    u = (plain.weight[:, 1] + plain.weight[:, 0]).detach()  # the binary weights (ratio of class 0 is -ratio)
    expected = 0.75 * u.abs().mean() + 0.25 * u
    torch.testing.assert_close(mixed.weight[:, 1] + mixed.weight[:, 0], expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(mixed.bias, plain.bias)
