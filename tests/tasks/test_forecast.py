"""Time-series forecasting: data checks, no leakage, both model modes, round trips, baselines, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit import checkpoint as ckpt
from rnnkit.data.series import AIR_PASSENGERS, Scaler, Series, SeriesConfig, builtin_series, load_series, make_windows
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.runs import open_run, train
from rnnkit.tasks.forecast import ForecastRunConfig, calibrate_intervals, prepare
from rnnkit.tasks.forecast.baselines import baseline_forecast, forecast_metrics
from tests.conftest import cli, one_line_error

TINY_TRAIN = dict(batch_size=16, max_steps=30, eval_every=10, log_every=10, seed=3, save_every=1e9)
# the RNN alone (--model rnn): these tests are about it; tests/tasks/test_forecast_auto.py covers --model auto
TINY_CLI = ["--hidden-size", "8", "--batch-size", "16", "--max-steps", "30", "--eval-every", "10", "--seed", "3",
            "--no-progress", "--model", "rnn"]


def tiny(data="airline", model=None, train=None, **series) -> ForecastRunConfig:
    """A seconds-long run: GRU(8), 30 steps of 16 windows, horizon 6 on 12 months of input."""
    return ForecastRunConfig.from_dict({"data": {"data": str(data), "horizon": 6, "input_len": 12, **series},
                                        "model": {"hidden_size": 8, **(model or {})}, "select": {"model": "rnn"},
                                        "train": {**TINY_TRAIN, **(train or {})}})


@pytest.fixture
def monthly_csv(tmp_path):
    """Air passengers as a CSV with a date column, a target and a known-future covariate (month number)."""
    times = pd.date_range("1949-01-01", periods=len(AIR_PASSENGERS), freq="MS")
    frame = pd.DataFrame({"date": times.strftime("%Y-%m-%d"), "passengers": AIR_PASSENGERS,
                          "month": times.month})
    path = tmp_path / "air.csv"
    frame.to_csv(path, index=False)
    return path, frame


def write(tmp_path, frame, name="bad.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


# -- data --------------------------------------------------------------------------------------------
def test_csv_loads_with_parsed_times_frequency_and_season(monthly_csv):
    path, _ = monthly_csv
    series = load_series(SeriesConfig(data=str(path), target=("passengers",)))
    assert series.freq == "MS" and series.season == 12 and len(series) == 144
    assert series.values[:3, 0].tolist() == [112, 118, 132]
    assert list(series.future_times(2)) == [pd.Timestamp("1961-01-01"), pd.Timestamp("1961-02-01")]


@pytest.mark.parametrize("case, expected", [
    ("missing", "missing values at CSV lines 5, 9; fill them"),
    ("non_numeric", "is not numeric: 'twelve' at CSV lines 4"),
    ("unsorted", "are not sorted"),
    ("duplicate", "duplicate times"),
])
def test_bad_csvs_give_one_line_errors(monthly_csv, tmp_path, capsys, case, expected):
    _, frame = monthly_csv
    frame = frame.copy()
    if case == "missing":
        frame["passengers"] = frame["passengers"].astype(float)
        frame.loc[[3, 7], "passengers"] = np.nan
    elif case == "non_numeric":
        frame["passengers"] = frame["passengers"].astype(str)
        frame.loc[2, "passengers"] = "twelve"
    elif case == "unsorted":
        frame = frame.iloc[[0, 2, 1, *range(3, len(frame))]]
    elif case == "duplicate":
        frame.loc[5, "date"] = frame.loc[4, "date"]
    path = write(tmp_path, frame)
    code, _, err = cli("train", "forecast", "--data", path, "--target", "passengers", "--out", tmp_path / "run",
                       *TINY_CLI, capsys=capsys)
    assert expected in one_line_error(code, err)


def test_horizon_longer_than_the_series_allows_is_one_line(tmp_path, capsys):
    code, _, err = cli("train", "forecast", "--data", "airline", "--horizon", 70, "--out", tmp_path / "run",
                       *TINY_CLI, capsys=capsys)
    assert "--horizon 70 is too long for airline (144 points)" in one_line_error(code, err)


@pytest.mark.parametrize("freq,points,season", [("MS", 36, 12), ("YS", 40, 1)])
def test_short_series_train_with_defaults(tmp_path, capsys, freq, points, season):
    """A 36-point monthly and a 40-point annual series train with default lengths (issue 15: adaptive defaults)."""
    rng = np.random.default_rng(0)
    steps = np.arange(points)
    values = 100 + steps + 10 * np.sin(2 * np.pi * steps / 12) * (season > 1) + rng.normal(0, 1, points)
    path = write(tmp_path, pd.DataFrame({"date": pd.date_range("1990-01-01", periods=points, freq=freq),
                                         "y": values}), "short.csv")
    code, _, err = cli("train", "forecast", "--data", path, *TINY_CLI, "--model", "auto", "--out",
                       tmp_path / "run", capsys=capsys)
    assert code == 0, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())["data"]
    assert 1 <= config["input_len"] <= 36 and config["input_len"] >= season
    fm = open_run(tmp_path / "run").predictor()
    assert fm.config.data.input_len == config["input_len"]


def test_the_too_long_refusal_names_flags_that_work(tmp_path, capsys):
    code, _, err = cli("train", "forecast", "--data", "airline", "--horizon", 70, "--out", tmp_path / "run",
                       capsys=capsys)
    line = one_line_error(code, err)
    assert "--holdout 0" in line and "--val-size 0" in line
    code, _, err = cli("train", "forecast", "--data", "airline", "--horizon", 70, "--holdout", 0, "--val-size", 0,
                       *TINY_CLI, "--out", tmp_path / "run", capsys=capsys)
    assert code == 0, err


def test_fill_and_sort_repair_what_they_are_asked_to(monthly_csv, tmp_path):
    _, frame = monthly_csv
    frame = frame.copy()
    frame["passengers"] = frame["passengers"].astype(float)
    frame.loc[3, "passengers"] = np.nan
    frame = frame.iloc[[1, 0, *range(2, len(frame))]]
    path = write(tmp_path, frame)
    series = load_series(SeriesConfig(data=str(path), target=("passengers",), fill="interpolate", sort=True))
    assert series.times.is_monotonic_increasing
    assert series.values[3, 0] == pytest.approx((AIR_PASSENGERS[2] + AIR_PASSENGERS[4]) / 2)


def test_scaler_is_fitted_on_the_training_part_only():
    config = tiny()
    prepared = prepare(config)
    train = prepared.series.values[:prepared.train_end, 0]
    assert prepared.scaler.shift[0] == pytest.approx(train.mean())
    assert prepared.scaler.scale[0] == pytest.approx(train.std())
    assert prepared.train_end == 144 - 6 - 6  # holdout = horizon, validation = min(horizon, season)
    scaler = Scaler.fit(np.array([[1.0], [3.0]]), "minmax")
    assert scaler.inverse(scaler.transform(np.array([[2.5]])))[0, 0] == pytest.approx(2.5)


def test_training_never_sees_the_held_out_points(tmp_path):
    """Changing the held-out tail (here: multiplying it by 100) must not change the scaler, the weights or the
    forecast made from before it; any leakage of held-out data into scaling or training would."""
    original = builtin_series("airline")
    altered = builtin_series("airline")
    altered.values[-6:] *= 100
    config = tiny()
    runs = []
    for name, series in (("a", original), ("b", altered)):
        train("forecast", config, tmp_path / name, show_progress=False, log=lambda *_: None, series=series)
        fm = open_run(tmp_path / name).predictor()
        runs.append((fm, fm.predict(series.head(len(series) - 6)).point))
    (fa, pa), (fb, pb) = runs
    assert fa.scaler == fb.scaler
    for key, value in fa.model.state_dict().items():
        assert torch.equal(value, fb.model.state_dict()[key]), key
    np.testing.assert_array_equal(pa, pb)


def test_windows_keep_targets_inside_their_split():
    values = np.arange(20, dtype=float)[:, None]
    windows = make_windows(values, np.zeros((20, 0)), input_len=4, output_len=3, lo=10, hi=16)
    assert windows.target.min() >= 10 and windows.target.max() <= 15
    assert windows.past.shape == (len(windows), 4, 1) and windows.target.shape == (len(windows), 3, 1)
    np.testing.assert_array_equal(windows.past[0, :, 0], [6, 7, 8, 9])


# -- models ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, output_len", [("direct", 0), ("direct", 4), ("autoregressive", 0)])
def test_modes_forecast_the_right_horizon_with_timestamps(tmp_path, mode, output_len):
    config = tiny(model={"mode": mode, "output_len": output_len, "quantiles": [0.1, 0.5, 0.9]})
    summary = train("forecast", config, tmp_path / "run", show_progress=False, log=lambda *_: None)
    assert summary["step"] == 30 and math.isfinite(summary["best_val"])
    fm = open_run(tmp_path / "run").predictor()
    series = builtin_series("airline")
    for horizon in (6, 11):  # 11 is longer than one direct pass: predictions are fed back
        forecast = fm.predict(series, horizon)
        assert forecast.point.shape == (horizon, 1) and forecast.quantiles.shape == (horizon, 1, 3)
        assert list(forecast.times) == list(pd.date_range("1961-01-01", periods=horizon, freq="MS"))
        assert (np.diff(forecast.quantiles, axis=-1) >= 0).all()
        np.testing.assert_array_equal(forecast.point, forecast.quantiles[..., 1])
    assert set(summary["holdout"]) >= {"MAE", "RMSE", "MAPE", "sMAPE", "MASE", "coverage"}


def test_autoregressive_teacher_forcing_matches_stepwise_forecast():
    """Position t of the teacher-forced pass predicts step t+1: the same number as feeding the truth one step."""
    torch.manual_seed(0)
    config = ForecasterConfig(mode="autoregressive", hidden_size=8, output_len=1, season=3, num_targets=1)
    model = Forecaster(config).eval()
    x = torch.randn(2, 10, 1)
    with torch.no_grad():
        forced = model(x, torch.zeros(2, 1, 0))  # (B, 10, 1, 1)
        for t in (4, 9):
            step = model.forecast(x[:, :t + 1], torch.zeros(2, 1, 0), 1)  # (B, 1, 1, 1)
            torch.testing.assert_close(forced[:, t], step[:, 0])


def test_forecast_save_load_forecast_gives_identical_numbers(tmp_path):
    config = tiny(model={"quantiles": [0.1, 0.5, 0.9]})
    train("forecast", config, tmp_path / "run", show_progress=False, log=lambda *_: None)
    series = builtin_series("airline")
    first = open_run(tmp_path / "run").predictor()
    before = first.forecast(9, series)
    (tmp_path / "copy").mkdir()  # what a forecaster is on disk: its config, series.json and weights
    for name in (ckpt.CONFIG_FILE, "series.json", ckpt.BEST_FILE):
        (tmp_path / "copy" / name).write_bytes((tmp_path / "run" / name).read_bytes())
    after = open_run(tmp_path / "copy").predictor().forecast(9, series)
    np.testing.assert_array_equal(before.point, after.point)
    np.testing.assert_array_equal(before.quantiles, after.quantiles)
    assert list(before.times) == list(after.times)


def test_sine_demo_learns_in_seconds(tmp_path):
    """The generated sine (period 40) scaled to unit variance: forecasting the mean scores MSE 1.0, and
    repeating the last value over the 40-step validation tail about 2.0. Below 0.01 (1% of the variance)
    the model must have learned the oscillation, not a level; 200 steps take a few seconds."""
    config = ForecastRunConfig.from_dict({"data": {"data": "sine"}, "select": {"model": "rnn"},
                                          "train": {"max_steps": 200, "eval_every": 50, "log_every": 50,
                                                    "save_every": 1e9}})
    summary = train("forecast", config, tmp_path / "sine", show_progress=False, log=lambda *_: None)
    assert summary["elapsed"] < 30
    assert summary["best_val"] < 0.01, summary
    assert summary["holdout"]["MASE"] < 0.3
    assert (tmp_path / "sine" / "holdout.png").stat().st_size > 0


def test_conformal_correction_by_hand():
    """Zero-width bands, unit-normal errors: the widening is the ceil((n+1)*0.8)-th smallest |error|-like score."""
    rng = np.random.default_rng(0)
    scores = [rng.normal(size=(12, 2)), rng.normal(size=(12, 2)) * 3]  # two windows, two targets
    pooled = np.sort(np.concatenate(scores), axis=0)
    assert calibrate_intervals(scores, (0.1, 0.5, 0.9)) == pytest.approx(list(pooled[math.ceil(25 * 0.8) - 1]))


def test_intervals_cover_about_80_percent_of_a_series_with_known_noise(tmp_path):
    """A fixed 12-month pattern plus N(0, 1) noise. A 30-step GRU(8) has badly sized pinball quantiles; the
    conformal correction from 3 rolling origins (36 scores, each from a model that never saw its window)
    must bring the 0.1-0.9 band to about 80% of 120 fresh points (binomial sd 3.7 points, plus the
    calibration sample's own sd of about 6.5: 65-95% is a 2-sd band) and closer to 80% than the raw band."""
    rng = np.random.default_rng(7)
    n, test = 240, 120
    pattern = 4 * np.sin(2 * math.pi * np.arange(n) / 12) + 2 * np.cos(4 * math.pi * np.arange(n) / 12)
    values = (pattern + rng.normal(size=n))[:, None]
    series = Series(pd.Index(np.arange(n), dtype=np.int64), values, np.zeros((n, 0)), ("y",), season=12,
                    name="noisy")
    config = tiny(model={"quantiles": [0.1, 0.5, 0.9]}, holdout=test, val_size=12, season=12)
    coverage = {}
    for calibrate in (True, False):
        run = tmp_path / str(calibrate)
        train("forecast", config, run, show_progress=False, log=lambda *_: None, series=series, calibrate=calibrate)
        fm = open_run(run).predictor()
        inside = []
        for origin in range(n - test, n, 6):  # 20 origins x horizon 6: every held-out point once
            lower, upper = fm.predict(series.head(origin), 6).outer_interval()
            actual = values[origin:origin + 6]
            inside.extend(((lower <= actual) & (actual <= upper))[:, 0])
        coverage[calibrate] = 100 * np.mean(inside)
    meta = json.loads((tmp_path / "True" / ckpt.CONFIG_FILE).read_text())["meta"]
    assert meta["interval_calibration_points"] == 36 and "interval_adjust" not in json.loads(
        (tmp_path / "False" / "series.json").read_text())["series"]
    assert 65 <= coverage[True] <= 95, coverage
    assert abs(coverage[True] - 80) < abs(coverage[False] - 80), coverage


# -- baselines and metrics ---------------------------------------------------------------------------
def test_seasonal_naive_reproduces_the_published_air_passengers_figure():
    y = np.asarray(AIR_PASSENGERS, dtype=float)[:, None]
    train, test = y[:108], y[108:]
    forecast = baseline_forecast("seasonal_naive", train, 36, 12)
    assert forecast_metrics(test, forecast, train, 12)["MAPE"] == pytest.approx(13.19, abs=0.01)
    np.testing.assert_array_equal(baseline_forecast("naive", train, 3)[:, 0], [336, 336, 336])
    np.testing.assert_allclose(baseline_forecast("drift", np.array([1.0, 2.0, 3.0]), 2)[:, 0], [4.0, 5.0])


def test_metrics_by_hand():
    actual, pred = np.array([[100.0], [200.0]]), np.array([[110.0], [180.0]])
    history = np.array([[1.0], [3.0], [5.0]])  # naive in-sample MAE = 2
    m = forecast_metrics(actual, pred, history, 1, lower=np.array([[90.0], [190.0]]), upper=np.array([[120.0],
                                                                                                     [199.0]]))
    assert m["MAE"] == 15 and m["RMSE"] == pytest.approx(math.sqrt(250))
    assert m["MAPE"] == pytest.approx(10.0) and m["MASE"] == pytest.approx(7.5)
    assert m["sMAPE"] == pytest.approx(100 * (20 / 210 + 40 / 380) / 2)
    assert m["coverage"] == 50.0


@pytest.mark.slow
def test_ets_and_arima_beat_seasonal_naive_on_air_passengers():
    y = np.asarray(AIR_PASSENGERS, dtype=float)[:, None]
    for name in ("ets", "arima"):
        mape = forecast_metrics(y[108:], baseline_forecast(name, y[:108], 36, 12), y[:108], 12)["MAPE"]
        assert mape < 13.19, name


# -- command line ------------------------------------------------------------------------------------
def test_cli_train_eval_forecast_backtest_resume(monthly_csv, tmp_path, capsys):
    path, _ = monthly_csv
    run = tmp_path / "run"
    code, _, err = cli("train", "forecast", "--data", path, "--target", "passengers", "--covariates", "month",
                       "--horizon", 6, "--input-len", 12, "--quantiles", "0.1,0.5,0.9", "--calibration-windows", 2,
                       "--out", run, *TINY_CLI,
                       capsys=capsys)
    assert code == 0, err
    stored = json.loads((run / ckpt.CONFIG_FILE).read_text())
    assert "held-out MAPE" in err and stored["task"] == "forecast" and stored["data"]["calibration_windows"] == 2
    assert stored["meta"]["interval_calibration_points"] == 12  # 2 windows of the 6-point validation tail

    code, out, err = cli("eval", run, capsys=capsys)
    assert code == 0, err
    rows = [line.split()[0] for line in out.splitlines()[2:]]
    assert rows == ["rnnkit", "naive", "seasonal_naive", "drift", "ets", "arima"]
    assert "MAPE %" in out.splitlines()[0] and "coverage %" in out.splitlines()[0]

    # forecasting needs the covariate's future: 6 more rows with the month filled and passengers empty
    future = pd.DataFrame({"date": pd.date_range("1961-01-01", periods=6, freq="MS").strftime("%Y-%m-%d"),
                           "passengers": [None] * 6, "month": range(1, 7)})
    new = write(tmp_path, pd.concat([pd.read_csv(path), future]), "new.csv")
    code, _, err = cli("forecast", run, "--data", new, "--out", tmp_path / "f.csv", "--plot", tmp_path / "f.png",
                       capsys=capsys)
    assert code == 0, err
    written = pd.read_csv(tmp_path / "f.csv")
    assert list(written.columns) == ["time", "passengers", "passengers_q0.1", "passengers_q0.5", "passengers_q0.9"]
    assert written["time"].iloc[0] == "1961-01-01" and len(written) == 6
    assert (tmp_path / "f.png").stat().st_size > 0
    code, _, err = cli("forecast", run, "--data", path, capsys=capsys)  # no future covariates given
    assert "needs the covariates' future" in one_line_error(code, err)

    code, out, err = cli("backtest", run, "--folds", 2, "--baselines", "naive,seasonal_naive", capsys=capsys)
    assert code == 0, err
    assert "mean over 2 folds" in out and "seasonal_naive" in out

    code, _, err = cli("train", "--resume", run, "--max-steps", 40, "--no-progress", capsys=capsys)
    assert code == 0, err
    assert "trained 40 steps" in err
