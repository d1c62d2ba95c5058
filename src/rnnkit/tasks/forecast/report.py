"""How a forecaster does: its held-out forecast beside the baselines', as a table and a picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.series import Series
from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write
from rnnkit.tasks.forecast.baselines import BASELINES, baseline_forecast, forecast_metrics
from rnnkit.tasks.forecast.model import Forecast, ForecastModel

HOLDOUT_PLOT = "holdout.png"


def holdout_forecast(fm: ForecastModel, series: Series, cutoff: int) -> dict[str, Any]:
    """Forecast ``series[cutoff:]`` from ``series[:cutoff]``; returns the forecast and its metrics."""
    horizon = len(series) - cutoff
    forecast = fm.predict(series.head(cutoff), horizon)
    actual = series.values[cutoff:]
    bounds = forecast.outer_interval()
    metrics = forecast_metrics(actual, forecast.point, series.values[:cutoff], series.season,
                               *(bounds if bounds is not None else (None, None)))
    return {"forecast": forecast, "metrics": metrics}


def baseline_table(series: Series, cutoff: int, baselines: tuple[str, ...] = BASELINES) -> dict[str, dict]:
    """Metrics of each baseline forecasting ``series[cutoff:]`` from ``series[:cutoff]``."""
    history, actual = series.values[:cutoff], series.values[cutoff:]
    return {name: forecast_metrics(actual, baseline_forecast(name, history, len(actual), series.season), history,
                                   series.season)
            for name in baselines}


def eval_table(fm: ForecastModel, series: Series,
               baselines: tuple[str, ...] = BASELINES) -> dict[str, dict[str, float]]:
    """Held-out metrics of the model and the baselines on the last ``holdout`` points of ``series`` (rows: models)."""
    holdout = fm.config.data.holdout_points or fm.horizon
    cutoff = len(series) - holdout
    if cutoff < fm.config.data.input_len:
        raise RnnkitError(f"{len(series)} points leave too little history before the last {holdout}; "
                          f"the model reads {fm.config.data.input_len}")
    table = {"rnnkit": holdout_forecast(fm, series, cutoff)["metrics"]}
    table.update(baseline_table(series, cutoff, baselines))
    return table


def format_table(table: dict[str, dict[str, float]]) -> str:
    """Models as rows, metrics as columns."""
    columns = [c for c in ("MAE", "RMSE", "MAPE", "sMAPE", "MASE", "coverage") if any(c in r for r in table.values())]
    width = max(len(name) for name in table) + 2
    header = "model".ljust(width) + "".join(f"{(c + ' %' if c in ('MAPE', 'sMAPE', 'coverage') else c):>12}"
                                            for c in columns)
    lines = [header, "-" * len(header)]
    for name, row in table.items():
        lines.append(name.ljust(width) + "".join(f"{row[c]:>12.3f}" if c in row else f"{'':>12}" for c in columns))
    return "\n".join(lines)


def plot_forecast(history: Series, forecast: Forecast, path: str | Path, actual: np.ndarray | None = None,
                  history_points: int | None = None) -> bool:
    """History, forecast (and held-out actuals) with the outer quantile band, one panel per target; PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    n_targets = forecast.point.shape[1]
    fig, axes = plt.subplots(n_targets, 1, figsize=(8, 3.4 * n_targets), dpi=110, squeeze=False)
    start = 0 if history_points is None else max(0, len(history) - history_points)
    band = forecast.outer_interval()
    for j, ax in enumerate(axes[:, 0]):
        ax.plot(history.times[start:], history.values[start:, j], color="0.3", lw=1.2, label="history (input)")
        if actual is not None:
            ax.plot(forecast.times[:len(actual)], actual[:, j], color="tab:green", lw=1.4, label="actual (target)")
        ax.plot(forecast.times, forecast.point[:, j], color="tab:blue", lw=1.6, label="forecast (prediction)")
        if band is not None:
            lo, hi = forecast.levels[0], forecast.levels[-1]
            ax.fill_between(forecast.times, band[0][:, j], band[1][:, j], color="tab:blue", alpha=0.2,
                            label=f"{lo:g}-{hi:g} quantiles")
        ax.set_title(forecast.target_names[j])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
    return True


__all__ = ["HOLDOUT_PLOT", "baseline_table", "eval_table", "format_table", "holdout_forecast", "plot_forecast"]
