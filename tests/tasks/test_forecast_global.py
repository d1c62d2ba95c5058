"""Global forecasting: one RNN trained across the series of a long CSV (--id-column), forecasting each of them
and new series, with per-series scales kept in series.json."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.panel import read_panel
from rnnkit.data.series import SeriesConfig
from rnnkit.runs import open_run, predictors, resume, train
from rnnkit.tasks.forecast import ForecastRunConfig
from rnnkit.tasks.forecast.global_model import GlobalForecaster, SeriesScale
from tests.conftest import cli, one_line_error

LEVELS = (1, 3, 10, 30, 100, 300, 1000, 2, 50, 500, 7, 150)  # one series per level: s0 .. s11
HORIZON = 6
TINY = ["--horizon", HORIZON, "--input-len", 12, "--hidden-size", 16, "--batch-size", 16, "--max-steps", 40,
        "--eval-every", 10, "--seed", 3, "--no-progress"]


def panel_frame(levels=LEVELS, short: int = 0, seed: int = 0) -> pd.DataFrame:
    """Monthly series around ``levels`` (lengths 40.., each with its own seasonal phase, amplitude and trend),
    plus ``short`` series of 15 points; long format: id, date, value."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, level in enumerate(levels):
        n = 40 + 2 * i
        t = np.arange(n)
        season = 1 + (0.1 + 0.02 * i) * np.sin(2 * np.pi * (t + i) / 12)
        values = level * season * (1 + 0.004 * t * (i % 3)) * (1 + 0.02 * rng.standard_normal(n))
        times = pd.date_range("2000-01-01", periods=n, freq="MS") + pd.DateOffset(months=i)
        rows += [{"id": f"s{i}", "date": d.strftime("%Y-%m-%d"), "value": v} for d, v in zip(times, values)]
    for k in range(short):
        rows += [{"id": f"short{k}", "date": d.strftime("%Y-%m-%d"), "value": 5.0 + k}
                 for d in pd.date_range("2001-01-01", periods=15, freq="MS")]
    return pd.DataFrame(rows)


def write(path, frame):
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def global_run(tmp_path_factory):
    """One tiny global run over 12 series (and 2 too short to keep): (run dir, CSV path, summary, log lines)."""
    folder = tmp_path_factory.mktemp("global")
    data = write(folder / "long.csv", panel_frame(short=2))
    config = ForecastRunConfig.from_dict({
        "data": {"data": str(data), "id_column": "id", "horizon": HORIZON, "input_len": 12},
        "model": {"hidden_size": 16},
        "train": {"batch_size": 16, "max_steps": 40, "eval_every": 10, "log_every": 10, "seed": 3,
                  "save_every": 1e9}})
    lines: list[str] = []
    summary = train("forecast", config, folder / "run", show_progress=False, log=lines.append)
    return folder / "run", data, summary, lines


def test_trains_across_series_and_forecasts_each_on_its_own_scale(global_run):
    run_dir, data, summary, lines = global_run
    assert any("skipped 2 of 14 series with fewer than 30 points" in line for line in lines), lines
    assert summary["holdout_series"] == len(LEVELS) and np.isfinite(summary["holdout"]["MASE"])
    fm = open_run(run_dir).predictor()
    assert isinstance(fm, GlobalForecaster) and isinstance(fm, predictors.Forecaster)
    assert fm.ids == [f"s{i}" for i in range(len(LEVELS))]
    frame = pd.read_csv(data)
    for i, level in enumerate(LEVELS):
        f = fm.forecast(series_id=f"s{i}")
        assert f.point.shape == (HORIZON, 1) and np.isfinite(f.point).all()
        recent = frame[frame.id == f"s{i}"].value.to_numpy()[-12:].mean()  # about the level, a little trend
        ratio = f.point.mean() / recent
        assert 0.7 < ratio < 1.4, (level, f.point[:, 0], recent)
        last = pd.Timestamp(frame[frame.id == f"s{i}"].date.iloc[-1])
        assert f.times[0] == last + pd.DateOffset(months=1)


def test_the_global_model_beats_seasonal_naive_on_average(global_run, capsys):
    run_dir, *_ = global_run
    code, out, err = cli("eval", run_dir, "--json", capsys=capsys)
    assert code == 0, err
    table = json.loads(out)
    assert [k for k in table if k.startswith("s")] == [f"s{i}" for i in range(len(LEVELS))] + ["seasonal_naive (mean)"]
    mean = table[f"mean ({len(LEVELS)} series)"]
    per_series = [table[f"s{i}"]["MASE"] for i in range(len(LEVELS))]
    assert mean["MASE"] == pytest.approx(np.mean(per_series)) and np.isfinite(mean["sMAPE"])
    assert mean["MASE"] < table["seasonal_naive (mean)"]["MASE"]


def test_cli_forecast_by_id_equals_the_predictor(global_run, capsys):
    run_dir, *_ = global_run
    code, out, err = cli("forecast", run_dir, "--id", "s6", capsys=capsys)
    assert code == 0, err
    printed = pd.read_csv(io.StringIO(out))
    expected = open_run(run_dir).predictor().forecast(series_id="s6").to_frame()
    assert list(printed.columns) == ["time", "value"] and len(printed) == HORIZON
    np.testing.assert_allclose(printed["value"].to_numpy(), expected["value"].to_numpy(), rtol=1e-12)
    assert list(printed["time"]) == [str(t.date()) for t in expected["time"]]


def test_a_new_series_from_a_csv_is_forecast_on_its_own_scale(global_run, tmp_path, capsys):
    run_dir, *_ = global_run
    new = panel_frame(levels=(40,), seed=9)  # s0 of a new file: a series the model never saw, around 40
    path = write(tmp_path / "new.csv", new[["date", "value"]])
    code, out, err = cli("forecast", run_dir, "--data", path, "--horizon", 9, capsys=capsys)
    assert code == 0, err
    values = pd.read_csv(io.StringIO(out))["value"].to_numpy()
    assert len(values) == 9 and np.isfinite(values).all() and 28 < values.mean() < 56
    # the same series inside a long CSV, picked with --id, is read the same way
    both = pd.concat([new, panel_frame(levels=(5,)).assign(id="other")])
    code, out2, err = cli("forecast", run_dir, "--data", write(tmp_path / "two.csv", both), "--id", "s0",
                          "--horizon", 9, capsys=capsys)
    assert code == 0, err
    np.testing.assert_allclose(pd.read_csv(io.StringIO(out2))["value"].to_numpy(), values, rtol=1e-12)


@pytest.mark.parametrize("args, expected", [
    (["--id", "nope"], "--id 'nope' is not one of the model's 12 series; use one of s0, s1, s2, s3, s4 and 7 more"),
    ([], "pass --id (one of s0, s1"),
    (["--id", "short0"], "--id 'short0' is not one of the model's 12 series"),
])
def test_forecast_refusals_are_one_line(global_run, capsys, args, expected):
    run_dir, *_ = global_run
    code, _, err = cli("forecast", run_dir, *args, capsys=capsys)
    assert expected in one_line_error(code, err)


def test_a_new_series_of_another_frequency_is_refused(global_run, tmp_path, capsys):
    run_dir, *_ = global_run
    daily = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=30, freq="D").strftime("%Y-%m-%d"),
                          "value": np.arange(30.0) + 1})
    code, _, err = cli("forecast", run_dir, "--data", write(tmp_path / "daily.csv", daily), capsys=capsys)
    assert "is sampled at D, the model's series at MS; give a series of the same frequency" in one_line_error(code, err)


def _cases(frame: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, list, str]]:
    number = frame.id.str[1:].astype(int)
    short = frame[(frame.groupby("id").cumcount() < 10 + 2 * number) & (number < 10)]  # s0..s9: 10, 12, .., 28 points
    daily = frame.copy()
    one = daily.id == "s1"
    daily.loc[one, "date"] = pd.date_range("2001-01-01", periods=int(one.sum()), freq="D").strftime("%Y-%m-%d")
    unsorted = frame.iloc[[1, 0, *range(2, len(frame))]]
    return {
        "no id column": (frame.drop(columns="id"), [], "--id-column 'id' is not a column of"),
        "one series": (frame[frame.id == "s0"], [], "holds 1 series (one id in 'id'); a global model needs 2 or more: "
                                                    "drop --id-column"),
        "all too short": (short, [], "none of the 10 series of"),
        "mixed frequencies": (daily, [], "needs one frequency"),
        "unsorted": (unsorted, [], "times of series 's0' of"),
        "covariates": (frame.assign(month=1), ["--covariates", "month"], "drop --covariates"),
    }


@pytest.mark.parametrize("case", ["no id column", "one series", "all too short", "mixed frequencies", "unsorted",
                                  "covariates"])
def test_bad_long_csvs_give_one_line_errors_naming_the_fix(tmp_path, capsys, case):
    frame, extra, expected = _cases(panel_frame())[case]
    path = write(tmp_path / "bad.csv", frame)
    code, _, err = cli("train", "forecast", "--data", path, "--id-column", "id", "--out", tmp_path / "run", *TINY,
                       *extra, capsys=capsys)
    line = one_line_error(code, err)
    assert expected in line, line
    if case == "all too short":
        assert "the longest has 28 points; one training window needs 30" in line
        assert "--input-len" in line and "--holdout 0" in line
    if case == "unsorted":
        assert "--sort" in line
    assert not (tmp_path / "run" / "config.json").exists()


def test_panel_reading_keeps_ids_lengths_and_fills_gaps_when_asked(tmp_path):
    frame = panel_frame(levels=(1, 2, 3))
    gap = frame.drop(index=frame.index[(frame.id == "s1")][5])  # one month missing from s1
    path = write(tmp_path / "gap.csv", gap)
    with pytest.raises(Exception, match="missing values|frequency"):
        read_panel(SeriesConfig(data=str(path), id_column="id", freq="MS"))
    panel = read_panel(SeriesConfig(data=str(path), id_column="id", freq="MS", fill="interpolate"))
    assert panel.ids == ["s0", "s1", "s2"] and [len(s) for s in panel.series] == [40, 42, 44]
    assert panel.freq == "MS" and panel.season == 12 and np.isfinite(panel.series[1].values).all()


def test_series_scale_recovers_a_known_seasonal_index():
    pattern = 1 + 0.3 * np.sin(2 * np.pi * np.arange(12) / 12)  # mean 1
    values = 50.0 * np.tile(pattern, 4)
    scale = SeriesScale.fit(values, 12)
    assert scale.level == pytest.approx(50.0)
    np.testing.assert_allclose(scale.seasonal, pattern, rtol=1e-12)
    np.testing.assert_allclose(values / scale.factors(0, 48), 1.0)
    np.testing.assert_allclose(scale.factors(5, 3), 50.0 * pattern[5:8])
    assert SeriesScale.fit(values[:18], 12).seasonal == []  # fewer than two cycles: level only
    assert SeriesScale.fit(values - 60, 12).seasonal == []  # not positive: level only


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["panel"]["level"].__setitem__(0, -1.0), "panel.level must hold finite numbers > 0"),
    (lambda d: d["panel"]["last"][1].pop(), "panel.last must hold lists of finite numbers, all of one length"),
    (lambda d: d["panel"]["ids"].pop(), "panel.level must hold one entry per id"),
    (lambda d: d["panel"]["seasonal"].__setitem__(0, [1.0, 2.0]), "panel.seasonal must hold lists of 12 numbers"),
    (lambda d: [x.pop() for x in d["panel"]["last"]], "keeps 11 points of each series but the model reads 12"),
    (lambda d: d["series"].__setitem__("interval_adjust", ["wide"]),
     "series.interval_adjust must be a list of one finite number"),
])
def test_a_tampered_series_file_is_refused_in_one_line(global_run, tmp_path, edit, expected):
    import shutil

    from rnnkit.errors import RnnkitError

    run_dir, *_ = global_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    stored = json.loads((copy / "series.json").read_text())
    edit(stored)
    (copy / "series.json").write_text(json.dumps(stored))
    with pytest.raises(RnnkitError, match="series.json") as e:
        open_run(copy).predictor()
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_resume_continues_with_the_stored_scales(global_run, tmp_path):
    import shutil

    run_dir, *_ = global_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = json.loads((copy / "series.json").read_text())
    summary = resume(copy, {"max_steps": 50}, show_progress=False, log=lambda *_: None)
    assert summary["step"] == 50 and summary["holdout_series"] == len(LEVELS)
    assert json.loads((copy / "series.json").read_text()) == before
    assert np.isfinite(open_run(copy).predictor().forecast(series_id="s2").point).all()


def test_scales_and_windows_never_see_the_validation_or_held_out_tails(tmp_path):
    from rnnkit.tasks.forecast.global_model import prepare_panel

    frame = panel_frame(levels=(1, 10, 100))
    tails = frame.groupby("id").tail(12).index  # the validation (6) and held-out (6) points of each series
    changed = frame.copy()
    changed.loc[tails, "value"] *= 100
    prepared = []
    for name, f in (("a.csv", frame), ("b.csv", changed)):
        config = ForecastRunConfig.from_dict({"data": {"data": str(write(tmp_path / name, f)), "id_column": "id",
                                                       "horizon": HORIZON, "input_len": 12}})
        prepared.append(prepare_panel(config, None, lambda *_: None))
    (_, vocab_a, _, data_a), (_, vocab_b, _, data_b) = prepared
    assert [s.level for s in vocab_a.scales] == [s.level for s in vocab_b.scales]
    assert [s.seasonal for s in vocab_a.scales] == [s.seasonal for s in vocab_b.scales]
    np.testing.assert_array_equal(data_a.windows.past, data_b.windows.past)
    np.testing.assert_array_equal(data_a.windows.target, data_b.windows.target)
    assert data_a.train_end == [len(s) - 12 for s in data_a.series]


def test_default_input_length_is_a_season_or_a_horizon_within_the_median_series(tmp_path):
    from rnnkit.tasks.forecast.global_model import prepare_panel

    path = write(tmp_path / "long.csv", panel_frame(levels=(1, 10, 100)))
    # horizon 18 would read 18 points, but the median series (42 points, 12 validation) keeps a window only with 12
    for horizon, expected in ((6, 12), (9, 12), (18, 42 - 12 - 18)):
        config = ForecastRunConfig.from_dict({"data": {"data": str(path), "id_column": "id", "horizon": horizon,
                                                       "holdout": 0}})
        config, *_ = prepare_panel(config, None, lambda *_: None)
        assert config.data.input_len == expected and config.data.val_size == min(horizon, 12)


def test_a_long_csv_without_times_trains_and_forecasts_on_integer_steps(tmp_path, capsys):
    frame = panel_frame(levels=(2, 20, 200))[["id", "value"]]
    path = write(tmp_path / "plain.csv", frame)
    code, _, err = cli("train", "forecast", "--data", path, "--id-column", "id", "--season", 12, "--out",
                       tmp_path / "run", *TINY[:-5], "--max-steps", 5, "--no-progress", capsys=capsys)
    assert code == 0, err
    code, out, err = cli("forecast", tmp_path / "run", "--id", "s1", capsys=capsys)
    assert code == 0, err
    printed = pd.read_csv(io.StringIO(out))
    assert printed["time"].tolist() == list(range(42, 42 + HORIZON))  # s1 has 42 points: 0 .. 41
    assert np.isfinite(printed["value"]).all() and 10 < printed["value"].mean() < 40


def test_means_skip_series_where_a_metric_is_undefined():
    from rnnkit.tasks.forecast.global_model import mean_metrics

    rows = [{"MASE": 1.0, "sMAPE": 2.0}, {"MASE": math.inf, "sMAPE": 4.0}, {"MASE": 3.0, "sMAPE": math.nan}]
    assert mean_metrics(rows) == {"MASE": 2.0, "sMAPE": 3.0}
    assert math.isnan(mean_metrics([{"MASE": math.inf}])["MASE"])


def test_quantiles_are_conformally_calibrated_on_every_series_validation_tail(tmp_path):
    import dataclasses

    data = write(tmp_path / "long.csv", panel_frame(seed=4))
    config = ForecastRunConfig.from_dict({
        "data": {"data": str(data), "id_column": "id", "horizon": HORIZON, "input_len": 12},
        "model": {"hidden_size": 16, "quantiles": "0.1,0.5,0.9"},
        "train": {"batch_size": 16, "max_steps": 30, "eval_every": 10, "seed": 5, "save_every": 1e9}})
    lines: list[str] = []
    train("forecast", config, tmp_path / "run", show_progress=False, log=lines.append)
    assert not any("not conformally calibrated" in line for line in lines), lines
    run = open_run(tmp_path / "run")
    fm, d = run.predictor(), run.config.data
    adjust = fm.series_info["interval_adjust"]
    assert isinstance(adjust, list) and len(adjust) == 1 and math.isfinite(adjust[0])
    raw = GlobalForecaster(fm.model, fm.config, dataclasses.replace(
        fm.vocab, series_info={k: v for k, v in fm.series_info.items() if k != "interval_adjust"}))
    inside = {"raw": [], "calibrated": []}
    for i, series in enumerate(read_panel(SeriesConfig(data=str(data), id_column="id")).series):
        train_end = len(series) - d.holdout_points - d.val_size
        history, actual = series.head(train_end), series.values[train_end:train_end + d.val_size]
        scale = fm.vocab.scales[i]
        factors = scale.factors(0, train_end + d.val_size)[train_end:, None]  # (V, 1): scaled -> series units
        for name, model in (("raw", raw), ("calibrated", fm)):
            lower, upper = model._predict(history, d.val_size, scale, 0).outer_interval()
            tol = 1e-6 * np.abs(actual)  # the k-th score's point lies on the widened band's edge: rounding only
            inside[name] += list(((actual >= lower - tol) & (actual <= upper + tol)).ravel())
            if name == "calibrated":  # the same network, its outer quantiles moved by the widening on each scale
                raw_lower, raw_upper = raw._predict(history, d.val_size, scale, 0).outer_interval()
                assert np.allclose(lower, np.minimum(raw_lower - adjust[0] * factors, raw_upper + adjust[0] * factors))
    n = len(inside["calibrated"])
    covered = {name: float(np.mean(v)) for name, v in inside.items()}
    # split conformal on these very points: at least ceil((n + 1) 0.8) of n inside the widened band
    assert covered["calibrated"] >= math.ceil((n + 1) * 0.8) / n - 1e-9, covered
    assert (covered["calibrated"] >= covered["raw"]) == (adjust[0] >= 0), (covered, adjust)
