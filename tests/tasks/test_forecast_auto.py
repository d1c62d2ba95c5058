"""``--model``: the forecaster a run serves, chosen by rolling-origin validation inside its training part
(tasks/forecast/auto.py, choice.py), through train, eval, forecast and open_run; and refusals whose hints train."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pandas as pd
import pytest

from rnnkit.runs import open_run
from rnnkit.tasks.forecast.baselines import baseline_forecast, forecast_metrics
from rnnkit.tasks.forecast.conformal import conformal_quantiles
from rnnkit.tasks.forecast.report import eval_table
from rnnkit.tasks.forecast.select import CANDIDATES, COMBINE_K, origins_for
from tests.conftest import cli, one_line_error

TINY = ["--hidden-size", "8", "--batch-size", "16", "--max-steps", "30", "--eval-every", "10", "--seed", "3",
        "--no-progress"]
# statsmodels' ARIMA grid is the slow candidate (seconds a fit); most tests score the others
CHEAP = ["--set", "select.candidates=seasonal_naive,drift,ets,theta,comb"]
HORIZON = 6


def annual_csv(tmp_path, name="annual.csv", points=60, tail_scale=1.0):
    """A trending, cyclic annual series (season 1); the last HORIZON points multiplied by ``tail_scale``."""
    rng = np.random.default_rng(1)
    t = np.arange(points)
    values = 50 + 0.8 * t + 6 * np.sin(2 * np.pi * t / 9) + rng.normal(0, 1, points)
    values[-HORIZON:] *= tail_scale
    path = tmp_path / name
    pd.DataFrame({"year": pd.date_range("1950-01-01", periods=points, freq="YS").strftime("%Y-%m-%d"),
                  "y": values}).to_csv(path, index=False)
    return path


def train_run(tmp_path, capsys, data, *flags, name="run"):
    run = tmp_path / name
    code, _, err = cli("train", "forecast", "--data", data, "--horizon", HORIZON, *TINY, *flags, "--out", run,
                       capsys=capsys)
    assert code == 0, err
    return run, err


def selection(run):
    return json.loads((run / "selection.json").read_text())


def test_selection_never_peeks_at_the_held_out_tail(tmp_path, capsys):
    """The whole `train forecast` path, RNN origins included: the held-out tail x100 changes neither the choice,
    nor any validation score, nor the errors behind the intervals, nor the forecast from before the tail."""
    runs, logs = [], []
    for scale in (1, 100):
        run, err = train_run(tmp_path, capsys, annual_csv(tmp_path, f"a{scale}.csv", tail_scale=scale), *CHEAP,
                             "--quantiles", "0.1,0.5,0.9", name=f"run{scale}")
        runs.append(run)
        logs.append(err)
    a, b = selection(runs[0]), selection(runs[1])
    assert a["model"] == "auto" and "rnn" in a["scores"], a  # the RNN was scored on the origins
    assert set(a["scores"]) == {"rnn", "seasonal_naive", "drift", "ets", "theta", "comb", "combo_mean",
                                "combo_median"}
    assert a["cuts"] == origins_for(60 - HORIZON, HORIZON) and "model selection (mean validation MASE)" in logs[0]
    assert f"({a['choice']})" in logs[0].splitlines()[-1]  # the closing line names the forecaster
    assert a == b
    fa, fb = (open_run(r).predictor() for r in runs)
    before_a, before_b = fa.series().head(60 - HORIZON), fb.series().head(60 - HORIZON)
    np.testing.assert_array_equal(before_a.values, before_b.values)
    pa, pb = fa.predict(before_a, HORIZON), fb.predict(before_b, HORIZON)
    np.testing.assert_array_equal(pa.point, pb.point)
    np.testing.assert_array_equal(pa.quantiles, pb.quantiles)
    assert pa.quantiles.shape == (HORIZON, 1, 3)


def test_a_forced_combination_is_the_mean_of_its_members_and_selection_json_is_checked(tmp_path, capsys):
    run, _ = train_run(tmp_path, capsys, annual_csv(tmp_path), "--model", "combo_mean", *CHEAP)
    sel = selection(run)
    assert sel["model"] == sel["choice"] == "combo_mean" and "rnn" not in sel["scores"]
    ranked = sorted((m for m in sel["scores"] if not m.startswith("combo_")), key=lambda m: (sel["scores"][m], m))
    assert sel["members"] == ranked[:COMBINE_K]
    fm = open_run(run).predictor()
    series = fm.series()
    members = [baseline_forecast(m, series.values, HORIZON, 1) for m in sel["members"]]
    np.testing.assert_allclose(fm.forecast().point, np.mean(members, axis=0), rtol=1e-12)

    code, out, err = cli("forecast", run, capsys=capsys)  # the command forecasts with the same choice
    assert code == 0, err
    np.testing.assert_allclose(pd.read_csv(pd.io.common.StringIO(out))["y"], fm.forecast().point[:, 0], rtol=1e-9)

    sel["members"] = ["ets", "lstm"]
    (run / "selection.json").write_text(json.dumps(sel))
    code, _, err = cli("forecast", run, capsys=capsys)
    assert "selection.json: members must list forecasters" in one_line_error(code, err)
    sel["members"], sel["errors"] = ["ets"], [[[1.0, 2.0]]]
    (run / "selection.json").write_text(json.dumps(sel))
    code, _, err = cli("eval", run, capsys=capsys)
    origins = len(origins_for(60 - HORIZON, HORIZON))
    assert f"errors must be finite, shaped (origins={origins}" in one_line_error(code, err)


def test_forced_ets_forecasts_as_baselines_ets_with_conformal_quantiles_and_eval_agrees(tmp_path, capsys):
    run, log = train_run(tmp_path, capsys, annual_csv(tmp_path), "--model", "ets", "--quantiles", "0.1,0.5,0.9",
                         "--set", "select.candidates=drift")
    sel = selection(run)
    assert sel["choice"] == "ets" and set(sel["scores"]) >= {"ets", "drift"}
    fm = open_run(run).predictor()
    series = fm.series()
    forecast = fm.forecast()
    np.testing.assert_allclose(forecast.point, baseline_forecast("ets", series.values, HORIZON, 1), rtol=1e-12)
    np.testing.assert_allclose(forecast.quantiles, conformal_quantiles(np.asarray(sel["errors"]), forecast.point,
                                                                       (0.1, 0.5, 0.9)))
    # run-dir round trip: open_run's predictor forecasts the held-out tail exactly as eval scores it
    cutoff = len(series) - HORIZON
    held = fm.predict(series.head(cutoff), HORIZON)
    expected = forecast_metrics(series.values[cutoff:], held.point, series.values[:cutoff], 1, *held.outer_interval())
    table = eval_table(fm, series, baselines=())  # what `rnnkit eval` prints, less the slow ARIMA baseline
    assert set(table) == {"rnnkit", *sel["scores"]}
    assert table["rnnkit"] == pytest.approx(expected)
    # training's held-out figure (made from the selection's own ETS fit, not refitted) is the same
    assert f"held-out MAPE {expected['MAPE']:.2f}%, MASE {expected['MASE']:.3f}" in log
    assert table["ets"]["chosen"] and table["ets"]["MASE"] == pytest.approx(expected["MASE"])
    assert json.loads((run / "config.json").read_text())["select"]["model"] == "ets"

    # rnnkit serve's /v1/forecast asks the same predictor: ETS refitted on the history it is sent
    from fastapi.testclient import TestClient

    from rnnkit.serve.app import create_app

    history = list(np.linspace(10, 40, 20) + np.sin(np.arange(20)))
    with TestClient(create_app({"ets": open_run(run)}), raise_server_exceptions=False) as client:
        out = client.post("/v1/forecast", json=dict(model="ets", horizon=4, history=history)).json()
        np.testing.assert_allclose(np.asarray(out["point"]), baseline_forecast("ets", np.asarray(history), 4, 1))
        assert np.asarray(out["quantiles"]).shape == (4, 1, 3)
        short = client.post("/v1/forecast", json=dict(model="ets", horizon=4, history=[1.0, 2.0, 3.0]))
        assert short.status_code == 422 and "at least 8 points" in short.text


@pytest.mark.parametrize("freq,points", [("MS", 36), ("YS", 40)])
def test_short_series_train_with_all_defaults_and_eval_lists_every_candidate(tmp_path, capsys, freq, points):
    rng = np.random.default_rng(0)
    steps = np.arange(points)
    values = 100 + steps + 10 * np.sin(2 * np.pi * steps / 12) * (freq == "MS") + rng.normal(0, 1, points)
    path = tmp_path / "short.csv"
    pd.DataFrame({"date": pd.date_range("1990-01-01", periods=points, freq=freq), "y": values}).to_csv(path,
                                                                                                       index=False)
    run = tmp_path / "run"
    code, _, err = cli("train", "forecast", "--data", path, *TINY, "--out", run, capsys=capsys)
    assert code == 0, err
    sel = selection(run)
    assert sel["model"] == "auto"
    if freq == "MS":  # 24 points before the held-out 12 are too few for an origin two seasons in
        assert sel["choice"] == "seasonal_naive" and sel["scores"] == {}
        return
    # 28 points before the held-out 12 leave two origins (10 and 16): every classical candidate is scored (the
    # RNN's recipe does not fit 10 points, so it sits this selection out rather than be scored on other origins)
    assert sel["cuts"] == origins_for(28, 12) == [10, 16]
    assert set(sel["scores"]) - {"rnn"} == {*CANDIDATES, "combo_mean", "combo_median"}
    code, out, err = cli("eval", run, capsys=capsys)
    assert code == 0, err
    rows = [line.split()[0] for line in out.splitlines()[2:] if not line.startswith("*")]
    assert set(rows) >= set(sel["scores"]) and rows[0] == "rnnkit"
    assert f"{sel['choice']} *" in out and "val_MASE" in out.splitlines()[0]


def short_csv(tmp_path, points):
    path = tmp_path / f"m{points}.csv"
    pd.DataFrame({"date": pd.date_range("1990-01-01", periods=points, freq="MS"),
                  "y": 100 + np.arange(points) % 12}).to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("case", ["airline_h70", "m20", "m36_input6", "m36_input30"])
def test_every_refusal_names_flags_that_train(tmp_path, capsys, case):
    data, *flags = {"airline_h70": ["airline", "--horizon", "70"], "m20": [short_csv(tmp_path, 20)],
                    "m36_input6": [short_csv(tmp_path, 36), "--input-len", "6"],
                    "m36_input30": [short_csv(tmp_path, 36), "--input-len", "30"]}[case]
    base = ["train", "forecast", "--data", data, *flags, *TINY, "--set", "select.candidates=seasonal_naive,drift"]
    code, _, err = cli(*base, "--out", tmp_path / "refused", capsys=capsys)
    line = one_line_error(code, err)
    assert "; use --" in line, line
    options = line.split("; use ", 1)[1].split(", or ")
    for k, option in enumerate(options):
        code, _, err = cli(*base, *shlex.split(option), "--out", tmp_path / f"run{k}", capsys=capsys)
        assert code == 0, f"{option}: {err}"


@pytest.mark.slow
def test_when_the_rnn_wins_the_main_model_forecasts_with_intervals_calibrated_on_the_origins(tmp_path, capsys):
    """On the sine the RNN beats naive and drift by far (MASE about 4 vs 6.4 after 150 steps)."""
    run = tmp_path / "run"
    code, _, err = cli("train", "forecast", "--data", "sine", "--max-steps", 150, "--eval-every", 50, "--seed", 3,
                       "--no-progress", "--quantiles", "0.1,0.5,0.9", "--set", "select.candidates=seasonal_naive,drift",
                       "--set", "select.origins=1", "--out", run, capsys=capsys)
    assert code == 0, err
    sel = selection(run)
    assert sel["choice"] == "rnn" and sel["cuts"] == [1120] and sel["scores"]["rnn"] < sel["scores"]["drift"]
    meta = json.loads((run / "config.json").read_text())["meta"]
    assert meta["interval_calibration_points"] == 40  # the origin run's 40-step forecast, not extra refits
    fm = open_run(run).predictor()
    forecast, own = fm.forecast(), fm.predict_rnn(fm.series(), 40)
    np.testing.assert_array_equal(forecast.point, own.point)
    np.testing.assert_array_equal(forecast.quantiles, own.quantiles)


def test_where_the_rnn_fits_only_the_latest_origins_every_candidate_is_scored_on_those(tmp_path, capsys):
    """--input-len 30 on 54 points before the held-out tail: an RNN needs 30 + 6 + a 6-point validation tail, so
    the earliest origins are too short for it; selection keeps the RNN and scores everyone on the latest ones."""
    run, err = train_run(tmp_path, capsys, annual_csv(tmp_path), *CHEAP, "--input-len", "30")
    sel = selection(run)
    every = origins_for(60 - HORIZON, HORIZON)
    assert "rnn" in sel["scores"] and 2 <= len(sel["cuts"]) < len(every)
    assert sel["cuts"] == every[-len(sel["cuts"]):] and min(sel["cuts"]) >= 30 + HORIZON + HORIZON
    assert f"on the {len(sel['cuts'])} latest of {len(every)} validation origins" in err
