"""Classical forecasts and forecast metrics, the yardstick every rnnkit forecaster is measured against.

Baselines forecast one target column from its own history: naive (last value), seasonal naive (last
season repeated), drift (the line from the first to the last point), Holt-Winters exponential
smoothing (statsmodels; season none/additive/multiplicative and trend none/additive/damped by AICc) and a
seasonal ARIMA whose orders are chosen by AIC over a small grid (an AutoARIMA in the spirit of
Hyndman & Khandakar 2008: differencing by unit-root tests, then the lowest AIC). With ``season=1`` both
are non-seasonal (the darts AutoARIMA default, m=1, behind its published 12.70% on air passengers).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

from rnnkit.errors import RnnkitError

BASELINES = ("naive", "seasonal_naive", "drift", "ets", "arima")
METRICS = ("MAE", "RMSE", "MAPE", "sMAPE", "MASE")
SEASONAL_STRENGTH_FOR_D = 0.64  # seasonal differencing above this STL seasonal strength (forecast::nsdiffs)


def naive(history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    """The last value, repeated."""
    return np.full(horizon, history[-1], dtype=np.float64)


def seasonal_naive(history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    """The last season, repeated (naive when season is 1 or longer than the history)."""
    m = season if 1 <= season <= len(history) else 1
    return np.resize(history[-m:], horizon).astype(np.float64)


def drift(history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    """The last value plus the average step of the history, extrapolated."""
    slope = (history[-1] - history[0]) / max(len(history) - 1, 1)
    return history[-1] + slope * np.arange(1, horizon + 1)


def _statsmodels():
    try:
        import statsmodels.api as sm
    except ImportError as e:
        raise RnnkitError("ETS and ARIMA baselines need statsmodels; pip install 'rnnkit[forecast]'") from e
    return sm


def ets(history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    """Holt-Winters with the lowest AICc among no, additive and damped trend, each with no season and, given two
    seasons, an additive and (for positive data) a multiplicative season."""
    sm = _statsmodels()
    seasonals: list[str | None] = [None]
    if season > 1 and len(history) >= 2 * season:
        seasonals += ["add"] + (["mul"] if (history > 0).all() else [])
    best, best_aicc = None, math.inf
    for seasonal, (trend, damped) in itertools.product(seasonals, ((None, False), ("add", False), ("add", True))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = sm.tsa.ExponentialSmoothing(history, trend=trend, damped_trend=damped, seasonal=seasonal,
                                                  seasonal_periods=season if seasonal else None,
                                                  initialization_method="estimated").fit()
            except (ValueError, np.linalg.LinAlgError):
                continue
        if np.isfinite(fit.aicc) and fit.aicc < best_aicc:
            best, best_aicc = fit, fit.aicc
    if best is None:
        return naive(history, horizon)
    return np.asarray(best.forecast(horizon), dtype=np.float64)


def _seasonal_strength(history: np.ndarray, season: int) -> float:
    from statsmodels.tsa.seasonal import STL

    fit = STL(history, period=season, robust=True).fit()
    remainder = np.var(fit.resid)
    return max(0.0, 1.0 - remainder / max(np.var(fit.resid + fit.seasonal), 1e-12))


def _differences(history: np.ndarray, season: int) -> tuple[int, int]:
    """(d, D): seasonal differencing by STL seasonal strength, then KPSS tests for d (at most 2)."""
    from statsmodels.tsa.stattools import kpss

    big_d = int(season > 1 and len(history) >= 3 * season and _seasonal_strength(history, season)
                > SEASONAL_STRENGTH_FOR_D)
    x = history[season:] - history[:-season] if big_d else history
    d = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while d < 2 and len(x) > 10 and kpss(x, regression="c", nlags="auto")[1] < 0.05:
            x, d = np.diff(x), d + 1
    return d, big_d


def arima_order(history: np.ndarray, season: int = 1) -> tuple[tuple[int, int, int], tuple[int, int, int, int]]:
    """The (p, d, q), (P, D, Q, m) orders of the lowest-AIC SARIMA over p + q <= 2 and P + Q <= 1."""
    sm = _statsmodels()
    d, big_d = _differences(history, season)
    seasonal_orders = [(P, big_d, Q, season) for P, Q in ((0, 0), (1, 0), (0, 1))] if season > 1 else [(0, 0, 0, 0)]
    arma_orders = [(p, q) for p, q in itertools.product(range(3), range(3)) if p + q <= 2]
    best, best_aic = None, math.inf
    for (p, q), seasonal in itertools.product(arma_orders, seasonal_orders):
        trend = "c" if d + big_d == 0 else ("t" if d + big_d == 1 else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = sm.tsa.SARIMAX(history, order=(p, d, q), seasonal_order=seasonal, trend=trend).fit(disp=False)
            except (np.linalg.LinAlgError, ValueError):
                continue
        if np.isfinite(fit.aic) and fit.aic < best_aic:
            best, best_aic = ((p, d, q), seasonal), fit.aic
    if best is None:
        return (0, d, 0), (0, 0, 0, 0)
    return best


def arima(history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    """Seasonal ARIMA with AIC-selected orders (``arima_order``), fitted by statsmodels."""
    sm = _statsmodels()
    order, seasonal = arima_order(history, season)
    d_total = order[1] + seasonal[1]
    trend = "c" if d_total == 0 else ("t" if d_total == 1 else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.tsa.SARIMAX(history, order=order, seasonal_order=seasonal, trend=trend).fit(disp=False)
        return np.asarray(fit.forecast(horizon), dtype=np.float64)


def _deseasonalise(history: np.ndarray, horizon: int, season: int) -> tuple[np.ndarray, np.ndarray]:
    """(history / seasonal index, the index over the next ``horizon`` steps): classical multiplicative
    decomposition as in the M4 benchmarks, where there are two seasons of positive data; else ones."""
    if season <= 1 or len(history) < 2 * season or (history <= 0).any():
        return history, np.ones(horizon)
    sm = _statsmodels()
    index = sm.tsa.seasonal_decompose(history, model="multiplicative", period=season).seasonal  # (N,)
    return history / index, np.resize(index[len(history) - season:], horizon)


def theta(history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    """The Theta method (Assimakopoulos & Nikolopoulos 2000; statsmodels' ThetaModel), deseasonalised first."""
    _statsmodels()
    from statsmodels.tsa.forecasting.theta import ThetaModel

    adjusted, index = _deseasonalise(history, horizon, season)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ThetaModel(adjusted, period=1, deseasonalize=False).fit()
    return np.asarray(fit.forecast(horizon), dtype=np.float64) * index


def comb(history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    """M4's "Comb" benchmark: the mean of SES, Holt and damped Holt on the deseasonalised series."""
    sm = _statsmodels()
    adjusted, index = _deseasonalise(history, horizon, season)
    forecasts = []
    for trend, damped in ((None, False), ("add", False), ("add", True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.tsa.ExponentialSmoothing(adjusted, trend=trend, damped_trend=damped,
                                              initialization_method="estimated").fit()
        forecasts.append(np.asarray(fit.forecast(horizon), dtype=np.float64))
    return np.mean(forecasts, axis=0) * index


FUNCTIONS = {"naive": naive, "seasonal_naive": seasonal_naive, "drift": drift, "ets": ets, "arima": arima,
             "theta": theta, "comb": comb}


def baseline_forecast(name: str, history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    """Forecast each column of ``history`` (N, T) ``horizon`` steps with baseline ``name``; returns (H, T)."""
    if name not in FUNCTIONS:
        raise RnnkitError(f"unknown baseline {name!r}; choose from {', '.join(FUNCTIONS)}")
    history = np.asarray(history, dtype=np.float64)
    columns = history[:, None] if history.ndim == 1 else history
    return np.stack([FUNCTIONS[name](columns[:, j], horizon, season) for j in range(columns.shape[1])], axis=1)


def forecast_metrics(actual: np.ndarray, predicted: np.ndarray, history: np.ndarray, season: int = 1,
                     lower: np.ndarray | None = None, upper: np.ndarray | None = None) -> dict[str, float]:
    """MAE, RMSE, MAPE %, sMAPE %, MASE (and interval coverage % with ``lower``/``upper``) over (H, T) arrays.

    MAPE skips points whose actual value is zero. MASE scales each target's MAE by the in-sample MAE of its
    seasonal-naive forecast on ``history`` (N, T) (Hyndman & Koehler 2006); with several targets the figures
    are averaged over them.
    """
    actual, predicted = np.asarray(actual, np.float64), np.asarray(predicted, np.float64)
    history = np.asarray(history, np.float64)
    error = actual - predicted  # (H, T)
    m = season if len(history) > season else 1
    scale = np.abs(history[m:] - history[:-m]).mean(axis=0)  # (T,)
    with np.errstate(divide="ignore", invalid="ignore"):
        # MAPE leaves out points whose actual value is (numerically) zero, where it is undefined
        nonzero = np.abs(actual) > 1e-9 * max(float(np.abs(actual).max()), 1e-300)
        ape = np.where(nonzero, np.abs(error) / np.abs(actual), np.nan)
        sape = 2 * np.abs(error) / (np.abs(actual) + np.abs(predicted))
        mase = (np.abs(error).mean(axis=0) / scale).mean()
    out = {"MAE": float(np.abs(error).mean()), "RMSE": float(np.sqrt((error ** 2).mean())),
           "MAPE": float(100 * np.nanmean(np.where(np.isfinite(ape), ape, np.nan))) if np.isfinite(ape).any()
           else math.nan,
           "sMAPE": float(100 * np.nanmean(sape)), "MASE": float(mase)}
    if lower is not None and upper is not None:
        inside = (actual >= lower) & (actual <= upper)
        out["coverage"] = float(100 * inside.mean())
    return out


__all__ = ["BASELINES", "METRICS", "arima", "arima_order", "baseline_forecast", "comb", "drift", "ets",
           "forecast_metrics", "naive", "seasonal_naive", "theta"]
