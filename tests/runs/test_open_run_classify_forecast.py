"""open_run for classifiers and forecasters: the run loads back and its predictor answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rnnkit import checkpoint as ckpt
from rnnkit.data.series import builtin_series
from rnnkit.errors import RnnkitError
from rnnkit.runs import evaluate, open_run, train
from rnnkit.runs.predictors import Classifier, Forecaster
from rnnkit.tasks.classify import ClassifyConfig, ClassifyVocab
from rnnkit.tasks.forecast import Forecast, ForecastRunConfig, ForecastVocab

quiet = dict(show_progress=False, log=lambda *_: None)


# -- classify ----------------------------------------------------------------------------------------
def reviews(tmp_path, n=80):
    """One file per label: short texts whose label is decided by one sentiment word."""
    rng = np.random.default_rng(0)
    good, bad, filler = ["good", "great", "superb"], ["bad", "awful", "dull"], ["the", "film", "was", "plot", "a"]
    rows = {"pos": [], "neg": []}
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = list(rng.choice(filler, size=int(rng.integers(2, 8))))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(good if label == "pos" else bad)))
        rows[label].append(" ".join(words))
    for label, texts in rows.items():
        (tmp_path / f"{label}.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    return [f"pos={tmp_path / 'pos.txt'}", f"neg={tmp_path / 'neg.txt'}"]


@pytest.fixture
def classify_run(tmp_path):
    config = ClassifyConfig.from_dict({
        "data": {"data": reviews(tmp_path), "val_fraction": 0.2},
        "model": {"embedding_size": 16, "hidden_size": 16, "word_dropout": 0.0, "embedding_dropout": 0.0,
                  "dropout": 0.1},
        "train": {"batch_size": 8, "lr": 1e-2, "warmup_steps": 2, "max_steps": 40, "epochs": None,
                  "device": "cpu", "seed": 3, "save_every": 1e9}})
    out = tmp_path / "classify"
    summary = train("classify", config, out, **quiet)
    return out, summary


def test_a_classifier_opens_and_its_predictor_answers(classify_run):
    out, summary = classify_run
    run = open_run(out)
    assert run.task == "classify" and not run.model.training and run.device.type == "cpu"
    assert isinstance(run.vocab, ClassifyVocab) and run.vocab.classes == ("neg", "pos")
    assert run.config.model.vocab_size == len(run.vocab.vocab) and run.config.model.num_classes == 2
    clf = run.predictor()
    assert isinstance(clf, Classifier) and run.predictor() is clf and clf.classes == ("neg", "pos")
    texts = ["a superb film", "the plot was awful", "the film was dull", "great plot", "zzz qqq"]
    probs = clf.predict_proba(texts)
    assert probs.shape == (5, 2) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert clf.predict(texts) == [clf.classes[i] for i in probs.argmax(1)]
    assert clf.predict(texts[:4]) == ["pos", "neg", "neg", "pos"]
    # the figures the run reported at the end of training come back from the opened run
    assert evaluate(out, device="cpu")["accuracy"] == pytest.approx(summary["reports"]["validation"]["accuracy"])


def test_classifier_vocab_file_keeps_its_format_and_is_checked_against_the_config(classify_run):
    out, _ = classify_run
    stored = json.loads((out / "vocab.json").read_text())
    assert list(stored) == ["kind", "level", "vocab", "classes", "ngrams"]  # ngrams: the wide part's features
    assert stored["kind"] == "classify" and stored["level"] == "word" and stored["classes"] == ["neg", "pos"]
    assert ClassifyVocab.from_dict(stored).to_dict() == stored
    stored["classes"].append("meh")
    (out / "vocab.json").write_text(json.dumps(stored))
    with pytest.raises(RnnkitError, match=r"vocab.json gives num_classes 3 but .*config.json has model.num_classes=2"):
        open_run(out)


# -- forecast ----------------------------------------------------------------------------------------
@pytest.fixture
def forecast_run(tmp_path):
    config = ForecastRunConfig.from_dict({
        "data": {"data": "airline", "horizon": 6, "input_len": 12},
        "model": {"hidden_size": 8, "quantiles": [0.1, 0.5, 0.9]}, "select": {"model": "rnn"},
        "train": {"batch_size": 16, "max_steps": 20, "eval_every": 10, "seed": 3, "save_every": 1e9,
                  "precision": "auto"}})
    out = tmp_path / "forecast"
    summary = train("forecast", config, out, **quiet)
    return out, summary


def test_a_forecaster_opens_and_its_predictor_answers(forecast_run):
    out, summary = forecast_run
    run = open_run(out)
    assert run.task == "forecast" and not run.model.training
    assert isinstance(run.vocab, ForecastVocab) and run.vocab.series_info["target_names"] == ["passengers"]
    fm = run.predictor()
    assert isinstance(fm, Forecaster) and run.predictor() is fm
    series = builtin_series("airline")
    own = fm.forecast()  # the trained horizon after the run's own series
    assert isinstance(own, Forecast) and own.point.shape == (6, 1) and own.quantiles.shape == (6, 1, 3)
    assert list(own.times) == list(pd.date_range("1961-01-01", periods=6, freq="MS"))
    assert (np.diff(own.quantiles, axis=-1) >= 0).all() and np.isfinite(own.point).all()
    np.testing.assert_array_equal(own.point, fm.forecast(history=series).point)
    early = fm.forecast(horizon=3, history=series.head(100))
    assert early.point.shape == (3, 1) and early.times[0] == series.times[100]
    lower, upper = early.outer_interval()
    assert (lower <= early.point).all() and (early.point <= upper).all()
    # held-out figures: the ones reported after training, from the opened run
    table = evaluate(out, device="cpu")
    assert list(table) == ["rnnkit", "naive", "seasonal_naive", "drift", "ets", "arima"]
    assert table["rnnkit"]["MAPE"] == pytest.approx(summary["holdout"]["MAPE"])


def test_forecaster_trains_in_fp32_when_asked_for_auto_and_checks_its_series_file(forecast_run):
    out, summary = forecast_run
    stored = json.loads((out / ckpt.CONFIG_FILE).read_text())
    assert summary["precision"] == "fp32" and stored["meta"]["precision"] == "fp32"
    assert stored["meta"]["interval_calibration_points"] > 0
    series_file = json.loads((out / "series.json").read_text())
    assert set(series_file) == {"scaler", "series", "covariate_scaler"}
    assert series_file["series"]["interval_adjust"] == stored["meta"]["interval_adjust"]
    series_file["series"]["target_names"] = ["a", "b"]
    for key in ("shift", "scale"):  # a consistent file of two targets (each file is checked on its own first)
        series_file["scaler"][key] *= 2
    (out / "series.json").write_text(json.dumps(series_file))
    with pytest.raises(RnnkitError, match=r"series.json gives num_targets 2 but .* has model.num_targets=1"):
        open_run(out)


def test_forecast_options_reach_prepare(tmp_path):
    config = ForecastRunConfig.from_dict({"data": {"data": "airline", "horizon": 6, "input_len": 12},
                                          "model": {"hidden_size": 4}, "select": {"model": "rnn"},
                                          "train": {"max_steps": 2, "eval_every": 1}})
    short = builtin_series("airline").head(60)
    summary = train("forecast", config, tmp_path / "short", series=short, **quiet)
    assert json.loads((tmp_path / "short" / ckpt.CONFIG_FILE).read_text())["meta"]["train_points"] == 60 - 6 - 6
    assert summary["step"] == 2 and "holdout" in summary
    with pytest.raises(TypeError, match="unknown option 'serie'"):
        train("forecast", config, tmp_path / "typo", serie=short, **quiet)
