"""The classifier's wide part in a run: round trip, the averaged prediction equals its parts, no fold leaks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from rnnkit.data.labeled import read_labeled
from rnnkit.data.splits import stratified_folds
from rnnkit.errors import RnnkitError
from rnnkit.runs import open_run, train
from rnnkit.tasks.classify import (
    WIDE_FILE,
    ClassifyConfig,
    fit_wide,
    fold_config,
    load_splits,
    load_wide,
    predict_proba,
    save_wide,
    wide_tokens,
)
from tests.runs.test_open_run_classify_forecast import reviews

quiet = dict(show_progress=False, log=lambda *_: None)
TEXTS = ["a superb film", "the plot was awful", "the film was dull", "great plot", "zzz qqq", "superb, not dull"]
MARKER, PLANTED = "zqxmarker", "vbnplanted"


def tiny(sources, **data) -> ClassifyConfig:
    return ClassifyConfig.from_dict({
        "data": {"data": sources, "val_fraction": 0.2, **data},
        "model": {"embedding_size": 8, "hidden_size": 8, "word_dropout": 0.0, "embedding_dropout": 0.0},
        "train": {"batch_size": 8, "lr": 1e-2, "warmup_steps": 2, "max_steps": 12, "epochs": None,
                  "device": "cpu", "seed": 3, "save_every": 1e9}})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wide")
    out = tmp / "run"
    train("classify", tiny(reviews(tmp)), out, **quiet)
    return out


def test_wide_part_save_load_gives_identical_predictions(tmp_path):
    config = tiny(reviews(tmp_path))
    data = read_labeled(config.data.data)
    ngrams, model = fit_wide(data.texts, data.labels, 2, config)
    save_wide(tmp_path, model)
    loaded = load_wide(tmp_path, ngrams, 2)
    ids, offsets = ngrams.bags(wide_tokens(t, config.data) for t in TEXTS)
    before, after = model.predict_proba(ids, offsets), loaded.predict_proba(ids, offsets)
    np.testing.assert_array_equal(before, after)
    assert before[0].argmax() == 1 and before[1].argmax() == 0  # superb -> pos, awful -> neg (classes neg, pos)


def test_the_run_predicts_the_weighted_average_of_its_two_parts(run_dir):
    run = open_run(run_dir)
    clf = run.predictor()
    assert clf.wide is not None and (run_dir / WIDE_FILE).is_file()
    weight = run.config.wide.weight
    deep = predict_proba(run.model, clf.encode(TEXTS), run.device)
    ids, offsets = run.vocab.ngrams.bags(wide_tokens(t, run.config.data) for t in TEXTS)
    with torch.no_grad():
        wide = torch.softmax(clf.wide(torch.as_tensor(ids), torch.as_tensor(offsets)), -1).numpy()
    np.testing.assert_allclose(clf.predict_proba(TEXTS), (1 - weight) * deep + weight * wide, atol=1e-6)
    assert not np.allclose(deep, wide, atol=1e-3)  # two different parts, so the average is a real mix


def test_without_the_wide_part_the_run_is_the_recurrent_classifier(tmp_path):
    config = tiny(reviews(tmp_path))
    config = dataclasses.replace(config, wide=dataclasses.replace(config.wide, weight=0.0))
    summary = train("classify", config, tmp_path / "run", **quiet)
    run = open_run(tmp_path / "run")
    clf = run.predictor()
    assert clf.wide is None and run.vocab.ngrams is None and not (tmp_path / "run" / WIDE_FILE).exists()
    np.testing.assert_array_equal(clf.predict_proba(TEXTS), predict_proba(run.model, clf.encode(TEXTS), run.device))
    assert "parts" not in summary["reports"]["validation"]


def test_a_cv_fold_never_sees_its_test_texts(tmp_path):
    """A word planted in the test fold is in neither the wide n-grams nor the recurrent vocabulary; one planted
    in the training part is in both (so the check can fail)."""
    sources = reviews(tmp_path, n=60)
    data = read_labeled(sources)
    folds = stratified_folds(data.labels, 3, 3)
    test_one = int(folds[0][0])
    train_one = int(next(i for i in range(len(data)) if i not in set(folds[0].tolist())))
    by_file = {}
    for i, (text, label) in enumerate(zip(data.texts, data.labels)):
        extra = f" {MARKER}" if i == test_one else f" {PLANTED}" if i == train_one else ""
        by_file.setdefault(data.classes[label], []).append(text + extra)
    for label, texts in by_file.items():
        (tmp_path / f"{label}.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    config = fold_config(tiny(sources, cv=3, val_fraction=0.0), 0)
    summary = train("classify", config, tmp_path / "fold", **quiet)
    assert summary["reports"]["test"]["examples"] == len(folds[0])
    vocab = open_run(tmp_path / "fold").vocab
    assert MARKER not in vocab.vocab.tokens and not any(MARKER[:3] in f for f in vocab.ngrams.features)
    assert PLANTED in vocab.vocab.tokens and f"w {PLANTED}" in vocab.ngrams.features


def test_a_tampered_or_missing_wide_file_is_one_line_error(run_dir, tmp_path):
    run = open_run(run_dir)
    ngrams = run.vocab.ngrams
    state = {k: v.clone() for k, v in run.predictor().wide.state_dict().items()}
    state["weight"] = torch.zeros(len(ngrams) + 5, 2)
    from rnnkit import checkpoint as ckpt

    ckpt.save_tensors(tmp_path / WIDE_FILE, {"wide": state})
    with pytest.raises(RnnkitError, match=r"wide.weight of shape \(\d+, 2\), but vocab.json and config.json give"):
        load_wide(tmp_path, ngrams, 2)
    with pytest.raises(RnnkitError, match="not found"):
        load_wide(tmp_path / "nowhere", ngrams, 2)
    with pytest.raises(RnnkitError, match="has no \"ngrams\""):
        load_wide(run_dir, None, 2)


@pytest.mark.parametrize("setting, message", [
    ({"weight": 1.5}, "wide.weight must be in"),
    ({"words": 0, "char_max": 0}, "needs wide.words > 0 or wide.char_max > 0"),
    ({"char_min": 4, "char_max": 3}, "wide.char_min must be in"),
    ({"c": 0.0}, "wide.c must be a finite positive number"),
    ({"min_count": 0}, "wide.min_count must be >= 1"),
    ({"beta": 1.5}, "wide.beta must be in"),
])
def test_bad_wide_settings_are_one_line_errors(setting, message):
    with pytest.raises(RnnkitError, match=message):
        ClassifyConfig.from_dict({"data": {"data": ["x.csv"]}, "wide": setting}).validate()


def test_validation_figures_are_the_recurrent_part_alone_when_the_wide_part_was_fitted_on_them(run_dir):
    from rnnkit import checkpoint as ckpt
    from rnnkit.runs import evaluate

    run = open_run(run_dir)
    assert run.config.wide.with_validation
    report = ckpt.load_json(run_dir / "report.json")["validation"]
    assert "the recurrent part alone" in report["note"] and "parts" not in report
    splits = load_splits(run.config)
    deep = predict_proba(run.model, run.predictor().encode(splits.val.texts), run.device)
    assert report["accuracy"] == pytest.approx(float((deep.argmax(1) == splits.val.labels).mean()))
    assert evaluate(run_dir, device="cpu")["accuracy"] == pytest.approx(report["accuracy"])


def test_the_interpolation_applies_to_two_classes_only():
    texts = ["red apple", "green apple", "blue sky", "grey sky", "red rose", "blue rose", "green leaf", "grey cloud"]
    three = np.array([0, 1, 2, 2, 0, 2, 1, 2])
    config = tiny(["x.csv"])
    plain = dataclasses.replace(config, wide=dataclasses.replace(config.wide, beta=1.0))
    assert config.wide.beta < 1
    _, a = fit_wide(texts, three, 3, config)
    _, b = fit_wide(texts, three, 3, plain)
    torch.testing.assert_close(a.weight, b.weight)
    _, c = fit_wide(texts, three % 2, 2, config)
    _, d = fit_wide(texts, three % 2, 2, plain)
    assert not torch.allclose(c.weight, d.weight)
