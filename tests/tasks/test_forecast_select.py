"""Rolling-origin selection among classical forecasters and their combinations (tasks/forecast/select.py)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.series import AIR_PASSENGERS
from rnnkit.errors import RnnkitError
from rnnkit.tasks.forecast.baselines import baseline_forecast
from rnnkit.tasks.forecast.select import COMBINE_K, combine, origins_for, rank, select_forecast

AIR = np.asarray(AIR_PASSENGERS, np.float64)


def test_combinations_equal_the_mean_and_median_of_their_members():
    members = [baseline_forecast(m, AIR[:-12], 12, 12) for m in ("seasonal_naive", "drift", "naive")]
    np.testing.assert_allclose(combine(members, "mean"), (members[0] + members[1] + members[2]) / 3)
    stacked = np.stack(members)[:, :, 0]  # (3, H)
    np.testing.assert_allclose(combine(members, "median")[:, 0], np.sort(stacked, axis=0)[1])
    with pytest.raises(RnnkitError, match="mean or median"):
        combine(members, "max")


def test_the_chosen_combination_forecasts_the_combination_of_the_best_members():
    sel = select_forecast(AIR[:-12], 12, 12, candidates=("seasonal_naive", "drift", "naive"))
    assert set(sel.scores) == {"seasonal_naive", "drift", "naive", "combo_mean", "combo_median"}
    assert sel.scores[sel.choice] == min(sel.scores.values())
    ranked = sorted(("seasonal_naive", "drift", "naive"), key=lambda m: (sel.scores[m], m))[:COMBINE_K]
    assert sel.members == ranked
    if sel.choice.startswith("combo_"):
        members = [baseline_forecast(m, AIR[:-12], 12, 12) for m in ranked]
        np.testing.assert_allclose(sel.forecast, combine(members, sel.choice.removeprefix("combo_")))
    else:
        np.testing.assert_allclose(sel.forecast, baseline_forecast(sel.choice, AIR[:-12], 12, 12))


def test_selection_never_peeks_at_the_held_out_tail():
    series = AIR.copy()
    spoiled = series.copy()
    spoiled[-12:] *= 100
    a = select_forecast(series[:-12], 12, 12, candidates=("seasonal_naive", "drift", "ets"))
    b = select_forecast(spoiled[:-12], 12, 12, candidates=("seasonal_naive", "drift", "ets"))
    assert a.choice == b.choice and a.scores == b.scores
    np.testing.assert_array_equal(a.forecast, b.forecast)


def test_origins_stay_inside_the_history_and_short_series_fall_back():
    assert origins_for(132, 12, 12) == [90, 96, 102, 108, 114, 120]  # 6 origins, half a horizon apart
    assert origins_for(132, 12, 12, origins=2) == [114, 120]
    assert all(c >= 24 for c in origins_for(40, 12, 12))
    sel = select_forecast(AIR[:10], 12, 12)
    assert sel.choice == "seasonal_naive" and sel.forecast.shape == (12, 1)


@pytest.mark.parametrize("method", ["theta", "comb"])
def test_theta_and_comb_beat_seasonal_naive_on_air_passengers(method):
    from rnnkit.tasks.forecast.baselines import forecast_metrics

    history, actual = AIR[:-12, None], AIR[-12:, None]
    forecast = baseline_forecast(method, history, 12, 12)
    assert forecast.shape == (12, 1) and np.isfinite(forecast).all()
    snaive = forecast_metrics(actual, baseline_forecast("seasonal_naive", history, 12, 12), history, 12)["MASE"]
    assert forecast_metrics(actual, forecast, history, 12)["MASE"] < snaive


def test_an_extra_forecaster_is_scored_on_the_same_origins_and_every_error_is_kept():
    calls = []

    def repeat_last_season(history, horizon):  # an outside forecaster: the seasonal naive forecast
        calls.append(len(history))
        return baseline_forecast("seasonal_naive", history, horizon, 12)

    sel = select_forecast(AIR[:-12], 12, 12, candidates=("seasonal_naive", "drift"), extra={"mine": repeat_last_season})
    assert sel.scores["mine"] == sel.scores["seasonal_naive"]
    assert sorted(calls[:len(sel.cuts)]) == sel.cuts  # fitted on each origin's history only
    for name, err in sel.errors.items():
        assert err.shape == (len(sel.cuts), 12, 1), name
    c = sel.cuts[0]
    drift = baseline_forecast("drift", AIR[:c], 12, 12)
    np.testing.assert_allclose(sel.errors["drift"][0], AIR[c:c + 12, None] - drift)


def test_ets_chooses_a_multiplicative_season_by_aicc_when_the_swing_grows_with_the_level():
    from rnnkit.tasks.forecast.baselines import ets

    t = np.arange(108)
    y = (20 + t) * (1 + 0.4 * np.sin(2 * np.pi * t / 12))  # the seasonal swing grows with the level
    forecast = ets(y[:96], 12, 12)
    assert np.mean(np.abs(forecast - y[96:]) / y[96:]) < 0.01  # an additive season misses by about 40%
    assert np.isfinite(ets(y[:96] - 200, 12, 12)).all()  # non-positive data: no multiplicative candidate


def test_origins_lie_half_a_horizon_apart_and_each_forecast_ends_inside_the_history():
    from rnnkit.tasks.forecast.select import ORIGINS, origin_step

    assert origin_step(18) == 9 and origin_step(7) == 4 and origin_step(1) == 1
    cuts = origins_for(94, 6, 1)
    assert len(cuts) == ORIGINS and cuts[-1] == 88 and np.all(np.diff(cuts) == 3)
    sel = select_forecast(AIR[:-12], 12, 12, candidates=("seasonal_naive", "drift"))
    assert sel.cuts == origins_for(len(AIR) - 12, 12, 12) and max(sel.cuts) + 12 <= len(AIR) - 12


def test_selection_on_a_40_point_annual_series_ignores_the_held_out_tail():
    rng = np.random.default_rng(3)
    series = 100 + np.cumsum(2 + rng.normal(0, 3, 40))
    spoiled = series.copy()
    spoiled[-6:] *= 100
    fast = ("seasonal_naive", "drift", "ets", "theta", "comb")  # all but ARIMA, whose order search is slow
    a, b = select_forecast(series[:-6], 6, candidates=fast), select_forecast(spoiled[:-6], 6, candidates=fast)
    assert len(a.cuts) == 6 and a.choice == b.choice and a.scores == b.scores
    np.testing.assert_array_equal(a.forecast, b.forecast)
    assert np.isfinite(a.forecast).all() and a.errors[a.choice].shape == (6, 6, 1)


def test_a_non_finite_score_ranks_last():
    assert rank({"a": float("nan"), "b": 2.0, "c": float("inf"), "d": 1.0}, "abcde") == ["d", "b", "a", "c", "e"]
