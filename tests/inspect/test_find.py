"""Hypotheses from the text, correlation and AUC, and a trained LSTM's quote cell found by find_cells."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from rnnkit.errors import RnnkitError
from rnnkit.inspect import find_cells, record
from rnnkit.inspect.find import auc, correlations
from rnnkit.inspect.hypotheses import hypotheses
from rnnkit.runs import open_run, train
from tests.conftest import tiny_config
from tests.inspect.runs import QUIET


def quoted_text(n_chars: int, seed: int = 0) -> str:
    """Words of one kind outside double quotes and of another inside, so predicting the next word needs to
    know whether a quote is open."""
    rng = random.Random(seed)
    outside, inside = ["the", "cat", "sat", "on", "mat", "and"], ["zip", "zop", "zup", "pix", "pox"]
    spans, size = [], 0
    while size < n_chars:
        if rng.random() < 0.3:
            span = '"' + " ".join(rng.choice(inside) for _ in range(rng.randint(1, 4))) + '"'
        else:
            span = rng.choice(outside)
        spans.append(span)
        size += len(span) + 1
    return " ".join(spans)


def by_name(hyps):
    return {h.name: h for h in hyps}


def test_character_hypotheses_describe_the_text_after_each_character():
    text = 'a "Bc" (d[e]) 12\n  fo'
    h = by_name(hypotheses(list(text)))
    assert list(h["inside quotes"].values[:7]) == [0, 0, 1, 1, 1, 0, 0]  # the opening quote is inside
    assert list(h["bracket depth"].values[7:14]) == [1, 1, 2, 2, 1, 0, 0]
    assert h["inside brackets"].binary and not h["bracket depth"].binary
    assert h["capital"].values[text.index("B")] == 1 and h["capital"].values.sum() == 1
    assert list(np.flatnonzero(h["digit"].values)) == [14, 15]
    assert list(h["position in line"].values[-5:]) == [0, 1, 2, 3, 4]
    assert list(h["indentation"].values[-5:]) == [0, 1, 2, 2, 2]
    assert list(np.flatnonzero(h["line start"].values)) == [0, 17]
    assert h["word start"].values[text.index("fo")] == 1 and h["inside word"].values[text.index("fo") + 1] == 1


def test_word_hypotheses_mark_speakers_and_sentence_positions():
    words = ["JERRY", ":", " What", " is", " this", "?", "\n", "GEORGE", ":", " A", " \u201c", "deal", "\u201d"]
    h = by_name(hypotheses(words, "word"))
    assert list(np.flatnonzero(h["speaker tag"].values)) == [0, 1, 7, 8]
    assert list(h["sentence position"].values[:7]) == [0, 1, 2, 3, 4, 5, 0]
    assert h["inside quotes"].values[11] == 1 and h["inside quotes"].values[12] == 0
    assert h["turn position"].values[6] == 5


def test_auc_and_correlations_agree_with_the_textbook_definitions():
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.3
    scores = np.round(labels + rng.normal(0, 1, 300), 1)  # many ties
    assert auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    values = rng.normal(size=(300, 5)).astype(np.float32)
    values[:, 4] = 0.5  # a constant unit correlates with nothing
    hyps = np.stack([labels.astype(float), rng.normal(size=300)])
    r = correlations(values, hyps)
    for k in range(2):
        for i in range(4):
            assert r[k, i] == pytest.approx(np.corrcoef(hyps[k], values[:, i])[0, 1], abs=1e-5)
    assert (r[:, 4] == 0).all()
    with pytest.raises(RnnkitError, match="holds and steps where it does not"):
        auc(scores, np.zeros(300, dtype=bool))


def test_a_small_lstm_learns_a_quote_cell_that_find_cells_reports(tmp_path):
    (tmp_path / "quotes.txt").write_text(quoted_text(30_000), encoding="utf-8")
    config = tiny_config(tmp_path / "quotes.txt", max_steps=120, eval_every=120, batch_size=16, seq_len=64,
                         lr=2e-2, warmup_steps=10)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, num_layers=1, dropout=0.0,
                                                                   embedding_size=16))
    train("lm", config, tmp_path / "run", **QUIET)
    text = quoted_text(3_000, seed=1)
    rec = record(open_run(tmp_path / "run"), text)
    table = find_cells(rec, text)
    quotes = next(m for m in table if m.hypothesis == "inside quotes")
    assert quotes.auc >= 0.9 and abs(quotes.r) > 0.5, str(table)
    assert quotes.positives == int(by_name(hypotheses(list(text)))["inside quotes"].values.sum())
    column = rec.values()[:, quotes.unit_index]
    np.testing.assert_array_equal(column, np.tanh(rec.c[quotes.layer, quotes.direction, :, quotes.unit]))
    assert [m.score for m in table] == sorted((m.score for m in table), reverse=True)
    assert "inside quotes" in str(table) and table.to_dicts()[0]["hypothesis"] == table[0].hypothesis
    mine = find_cells(rec, extra={"quote marks": np.array([c == '"' for c in text], dtype=float)})
    assert any(m.hypothesis == "quote marks" and m.binary for m in mine)
    with pytest.raises(RnnkitError, match="one value per step"):
        find_cells(rec, extra={"short": np.zeros(3)})
