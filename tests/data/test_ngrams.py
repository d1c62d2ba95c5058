"""Bags of n-grams: word n-grams, scikit-learn's char_wb n-grams, and the vocabulary of the training texts."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.ngrams import NgramVocab, ngram_features
from rnnkit.errors import RnnkitError
from tests.models.test_wide import TEXTS


def test_features_are_word_ngrams_and_sklearn_char_wb_ngrams():
    from sklearn.feature_extraction.text import CountVectorizer

    tokens = ["the", "film", "is", "a", "superb", "film"]
    features = ngram_features(tokens, 2, (2, 4))
    words = {f[2:] for f in features if f.startswith("w ")}
    chars = {f[2:] for f in features if f.startswith("c ")}
    assert words == {"the", "film", "is", "a", "superb", "the film", "film is", "is a", "a superb", "superb film"}
    reference = CountVectorizer(analyzer="char_wb", ngram_range=(2, 4), lowercase=False).fit([" ".join(tokens)])
    assert chars == set(reference.vocabulary_)
    assert ngram_features(tokens, 0, (2, 4)) == {"c " + c for c in chars}
    assert ngram_features(tokens, 1, (0, 0)) == {"w " + w for w in set(tokens)}


def test_vocabulary_counts_texts_keeps_min_count_and_bags_drop_unknown_features():
    vocab, ids, offsets = NgramVocab.build_with_bags(TEXTS, 1, (0, 0), min_count=2)
    assert set(vocab.features) == {"w a", "w film", "w plot", "w superb", "w awful", "w dull", "w great"}
    assert vocab.features[0] == "w a"  # in three texts: most frequent first
    again = vocab.bags(TEXTS)
    np.testing.assert_array_equal(again[0], ids)
    np.testing.assert_array_equal(again[1], offsets)
    new_ids, new_offsets = vocab.bags([["zzz", "film"], []])
    assert new_ids.tolist() == [vocab.index["w film"]] and new_offsets.tolist() == [0, 1]
    assert NgramVocab.from_dict(vocab.to_dict()).features == vocab.features
    with pytest.raises(RnnkitError, match="lists a feature twice"):
        NgramVocab(["w a", "w a"], 1, (0, 0))
    with pytest.raises(RnnkitError, match="must be a list of strings"):
        NgramVocab.from_dict({"words": 1, "chars": [0, 0], "features": [1, 2]})
