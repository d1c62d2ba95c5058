"""How a forecaster does: its held-out forecast beside the baselines', as a table and a picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.series import Series
from rnnkit.errors import RnnkitError
from rnnkit.fileio import atomic_write
from rnnkit.tasks.forecast.baselines import BASELINES, baseline_forecast, forecast_metrics
from rnnkit.tasks.forecast.choice import member_forecast
from rnnkit.tasks.forecast.model import Forecast, ForecastModel
from rnnkit.tasks.forecast.select import combine, rank

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
               baselines: tuple[str, ...] = BASELINES) -> dict[str, dict[str, Any]]:
    """Held-out metrics on the last ``holdout`` points of ``series`` (rows: models): ``rnnkit`` (the run's
    chosen forecaster), then, when the run chose by validation, every candidate with its mean validation MASE
    (``val_MASE``) and ``chosen`` marking the choice, then the baselines not already listed."""
    holdout = fm.config.data.holdout_points or fm.horizon
    cutoff = len(series) - holdout
    if cutoff < fm.config.data.input_len:
        raise RnnkitError(f"{len(series)} points leave too little history before the last {holdout}; "
                          f"the model reads {fm.config.data.input_len}")
    table: dict[str, dict[str, Any]] = {"rnnkit": holdout_forecast(fm, series, cutoff)["metrics"]}
    history, actual = series.values[:cutoff], series.values[cutoff:]
    season = int(fm.series_info["season"])
    forecasts: dict[str, Any] = {}

    def forecast(name: str):  # each member fitted once, shared by the combinations
        if name not in forecasts:
            if name.startswith("combo_"):
                forecasts[name] = combine([forecast(m) for m in fm.choice.members], name.removeprefix("combo_"))
            else:
                forecasts[name] = member_forecast(name, history, len(actual), season,
                                                  lambda: fm.predict_rnn(series.head(cutoff), len(actual)).point)
        return forecasts[name]

    scores = fm.choice.scores if fm.choice is not None else {}
    for name in rank(scores, scores):
        if name.startswith("combo_") and not fm.choice.members:
            continue
        table[name] = {**forecast_metrics(actual, forecast(name), history, season), "val_MASE": scores[name],
                       "chosen": name == fm.chosen}
    for name in baselines:
        table.setdefault(name, forecast_metrics(actual, forecast(name), history, season))
    return table


def format_table(table: dict[str, dict[str, Any]]) -> str:
    """Models as rows, metrics as columns; the chosen candidate's row is marked with ``*``."""
    columns = [c for c in ("val_MASE", "MAE", "RMSE", "MAPE", "sMAPE", "MASE", "coverage")
               if any(c in r for r in table.values())]
    width = max(len(name) for name in table) + 4
    header = "model".ljust(width) + "".join(f"{(c + ' %' if c in ('MAPE', 'sMAPE', 'coverage') else c):>12}"
                                            for c in columns)
    lines = [header, "-" * len(header)]
    for name, row in table.items():
        label = f"{name} *" if row.get("chosen") else name
        lines.append(label.ljust(width) + "".join(f"{row[c]:>12.3f}" if c in row else f"{'':>12}" for c in columns))
    if any(row.get("chosen") for row in table.values()):
        lines.append("* the run's forecaster (rnnkit), chosen by the lowest val_MASE: mean MASE on rolling origins "
                     "before the held-out tail")
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
