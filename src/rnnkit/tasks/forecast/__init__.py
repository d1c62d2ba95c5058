"""Time-series forecasting: an RNN forecaster, calibrated intervals, backtests, and classical baselines.

    config.py     the run's settings and the task's training defaults; ``--model`` (``SelectConfig``)
    select.py     rolling-origin selection among classical forecasters and their combinations
    auto.py       ``--model``: the selection run inside the training part, with the RNN as a candidate
    choice.py     selection.json (``ModelChoice``) and the classical/combined forecast made from it
    conformal.py  quantiles around a selected forecast from its rolling-origin errors
    model.py      series.json (``ForecastVocab``), the series cut for training (``prepare``, ``split_points``),
                  the trained model with its scaling (``ForecastModel``, the run's predictor) and ``Forecast``
    calibrate.py  conformal widening of the quantile intervals from rolling-origin refits
    report.py     the held-out forecast beside the baselines: tables and plots
    backtest.py   rolling-origin evaluation with a fresh model per origin
    global_model.py  one model across the many series of a long CSV (--id-column): per-series scales,
                  series.json's ``PanelVocab`` and the ``GlobalForecaster`` predictor
    baselines.py  naive, seasonal naive, drift, ETS and ARIMA, and the forecast metrics
    task.py       ``TASK``: the task behind ``rnnkit.runs.train("forecast", ..., series=...)``

Train, resume and open runs with ``rnnkit.runs`` (``train``, ``resume``, ``open_run``).
"""

from rnnkit.tasks.forecast.backtest import backtest
from rnnkit.tasks.forecast.baselines import BASELINES, METRICS, baseline_forecast, forecast_metrics
from rnnkit.tasks.forecast.calibrate import calibrate_intervals, refit_scores, validation_scores
from rnnkit.tasks.forecast.choice import CHOICE_FILE, ModelChoice
from rnnkit.tasks.forecast.config import MODELS, SINE_DEFAULTS, TRAIN_DEFAULTS, ForecastRunConfig, SelectConfig
from rnnkit.tasks.forecast.global_model import GlobalForecaster, PanelVocab, SeriesScale
from rnnkit.tasks.forecast.model import (
    SERIES_FILE,
    Forecast,
    ForecastModel,
    ForecastVocab,
    PreparedSeries,
    fill_model_config,
    prepare,
    split_points,
)
from rnnkit.tasks.forecast.report import (
    HOLDOUT_PLOT,
    baseline_table,
    eval_table,
    format_table,
    holdout_forecast,
    plot_forecast,
)
from rnnkit.tasks.forecast.task import TASK, ForecastTask, make_loss_fn

__all__ = ["BASELINES", "CHOICE_FILE", "HOLDOUT_PLOT", "METRICS", "MODELS", "SERIES_FILE", "SINE_DEFAULTS", "TASK",
           "TRAIN_DEFAULTS", "Forecast", "ForecastModel", "ForecastRunConfig", "ForecastTask", "ForecastVocab",
           "GlobalForecaster", "ModelChoice", "PanelVocab", "PreparedSeries", "SelectConfig", "SeriesScale",
           "backtest", "baseline_forecast", "baseline_table", "calibrate_intervals", "eval_table",
           "fill_model_config", "forecast_metrics", "format_table", "holdout_forecast", "make_loss_fn",
           "plot_forecast", "prepare", "refit_scores", "split_points", "validation_scores"]
