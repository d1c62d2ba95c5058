"""A series cut for training, and a trained forecaster with its scaling: forecasts in the series' own units.

A series of N points is split, oldest first, into

    training part  |  validation tail (val_size)  |  held-out tail (holdout)

The scaler is fitted on the training part only; training windows have their targets in it; the model
forecasting the validation tail from its start is the validation loss (early stopping, best.pt); the
held-out tail is what ``rnnkit eval`` scores. A run's ``series.json`` (``ForecastVocab``) keeps the scalers
and what the model needs to know of its series (names, frequency, season, the interval calibration).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit import checkpoint as ckpt
from rnnkit.data.series import Scaler, Series, SeriesConfig, load_series
from rnnkit.errors import RnnkitError, raise_first
from rnnkit.generate import check_memory
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.tasks.forecast.choice import ModelChoice, choice_forecast
from rnnkit.tasks.forecast.config import ForecastRunConfig

SERIES_FILE = "series.json"


@dataclass
class ForecastVocab:
    """series.json: the target (and covariate) scalers fitted on the training part, and the series' facts."""

    scaler: Scaler
    covariate_scaler: Scaler | None
    series_info: dict[str, Any]  # Series.describe(), plus "interval_adjust" once the intervals are calibrated

    def to_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.to_dict(), "series": self.series_info,
                "covariate_scaler": self.covariate_scaler.to_dict() if self.covariate_scaler else None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForecastVocab:
        info = d.get("series")

        def names(key: str) -> bool:
            return isinstance(info.get(key), list) and all(isinstance(n, str) for n in info[key])
        raise_first([
            (isinstance(info, dict), "has no 'series' table"),
            (isinstance(info, dict) and names("target_names") and len(info["target_names"]) >= 1,
             "series.target_names must be a list of column names"),
            (isinstance(info, dict) and names("covariate_names"), "series.covariate_names must be a list of names"),
            (isinstance(info, dict) and isinstance(info.get("season"), int) and not isinstance(info["season"], bool)
             and info["season"] >= 1, "series.season must be an integer >= 1"),
        ])
        cov = d.get("covariate_scaler")
        covariates = len(info["covariate_names"])
        return cls(Scaler.from_dict(d.get("scaler"), len(info["target_names"])),
                   Scaler.from_dict(cov, covariates) if cov is not None else None, dict(info))


# -- a series cut for training ---------------------------------------------------------------------
@dataclass
class PreparedSeries:
    """A series cut for training: split points, the fitted scaler and the scaled arrays."""

    series: Series
    config: ForecastRunConfig  # with the model's data-dependent fields filled in
    scaler: Scaler
    train_end: int  # training targets are series[:train_end]
    fit_end: int  # training + validation: series[:fit_end]; the rest is held out
    scaled: np.ndarray  # (N, T)
    scaled_covariates: np.ndarray  # (N + F, C)
    covariate_scaler: Scaler | None


INPUT_LEN_CAP = 36  # the default input length where the series is long enough (tuned on air passengers)
MIN_WINDOWS = 8  # an adaptive input length leaves at least this many training windows where it can


def adaptive_lengths(n: int, data: SeriesConfig, output_len: int, season: int = 1,
                     residual: bool = False) -> SeriesConfig:
    """``data`` with an unset ``input_len`` / ``val_size`` filled in for a series of ``n`` points.

    The input length is ``INPUT_LEN_CAP`` where that leaves ``MIN_WINDOWS`` training windows, shorter
    otherwise, never below one season (the residual forecast reads one) or one point. Where even the shortest
    input leaves no training window, an unset validation tail is dropped (training then runs its full budget).
    Settings the user gave are kept as given; ``split_points`` names the flags when they do not fit.
    """
    floor = season if residual and season > 1 else 1
    val = data.val_points(season)
    if data.val_size is None and n - data.holdout_points - val < floor + output_len:
        val = 0  # a short series: every point before the holdout trains
    length = data.input_len
    if length is None:
        train_end = n - data.holdout_points - val
        length = max(floor, min(INPUT_LEN_CAP, train_end - output_len - (MIN_WINDOWS - 1)))
    return dataclasses.replace(data, input_len=length, val_size=val if data.val_size is None else data.val_size)


def split_points(n: int, data: SeriesConfig, output_len: int, season: int = 1,
                 name: str = "the series") -> tuple[int, int]:
    """(train_end, fit_end) for a series of ``n`` points, or a one-line error when it is too short (``prepare``
    adds the flags that would train, ``working_flags``)."""
    fit_end = n - data.holdout_points
    val_points = data.val_points(season)
    train_end = fit_end - val_points
    need = data.input_len + output_len  # one training window
    if train_end < need:
        raise RnnkitError(f"--horizon {data.horizon} is too long for {name} ({n} points): one training window "
                          f"(input_len {data.input_len} + {output_len}) plus validation ({val_points}) and "
                          f"held-out ({data.holdout_points}) tails need {need + val_points + data.holdout_points}")
    return train_end, fit_end


def config_problem(config: ForecastRunConfig, series: Series) -> RnnkitError | None:
    """Why ``config`` (as the user gave it) cannot train on ``series``, or None."""
    try:
        filled = fill_model_config(config, series)
        split_points(len(series), filled.data, filled.model.output_len, series.season, series.name)
    except RnnkitError as e:
        return e
    return None


def working_flags(config: ForecastRunConfig, series: Series) -> list[str]:
    """Flags that, added to the user's, let ``config`` train on ``series``: the longest ``--horizon`` that
    fits, ``--holdout 0 --val-size 0``, another ``--input-len`` (when one was given) and ``--no-residual``;
    each is tried before it is suggested."""
    data, model = config.data, config.model

    def with_(data_changes: dict[str, Any] | None = None, **model_changes: Any) -> ForecastRunConfig:
        return dataclasses.replace(config, data=dataclasses.replace(data, **(data_changes or {})),
                                   model=dataclasses.replace(model, **model_changes))
    options: list[tuple[str, ForecastRunConfig]] = []
    horizon = next((h for h in range(data.horizon - 1, 0, -1) if config_problem(with_({"horizon": h}), series) is None),
                   None)
    if horizon is not None:
        options.append((f"--horizon {horizon}", with_({"horizon": horizon})))
    if data.holdout_points or data.val_size != 0:
        options.append(("--holdout 0 --val-size 0", with_({"holdout": 0, "val_size": 0})))
    if data.input_len is not None:  # one season (what the residual reads), else shorter than given
        lengths = [*([series.season] if series.season > data.input_len else []), *range(data.input_len - 1, 0, -1)]
        length = next((k for k in lengths if config_problem(with_({"input_len": k}), series) is None), None)
        if length is not None:
            options.append((f"--input-len {length}", with_({"input_len": length})))
    if model.residual:
        options.append(("--no-residual", with_(residual=False)))
    return [flags for flags, option in options if config_problem(option, series) is None]


def fill_model_config(config: ForecastRunConfig, series: Series) -> ForecastRunConfig:
    """The run config with the model's data-dependent fields (targets, covariates, season, output_len) and the
    adaptive lengths (``adaptive_lengths``) filled in."""
    m = config.model
    output_len = m.output_len or config.data.horizon
    model = dataclasses.replace(m, num_targets=series.values.shape[1], num_covariates=series.covariates.shape[1],
                                season=series.season, output_len=output_len)
    data = adaptive_lengths(len(series), config.data, output_len, series.season, m.residual)
    if model.residual and data.input_len < series.season:
        raise RnnkitError(f"--input-len {data.input_len} is shorter than the season ({series.season}) the "
                          "residual forecast needs")
    return dataclasses.replace(config, data=data, model=model)


def prepare(config: ForecastRunConfig, series: Series | None = None, scaler: Scaler | None = None,
            covariate_scaler: Scaler | None = None) -> PreparedSeries:
    """Load (or take) the series, split it, fit the scalers on the training part only, and scale it."""
    series = series if series is not None else load_series(config.data)
    problem = config_problem(config, series)
    if problem is not None:  # name the flags that would train, each tried first
        flags = working_flags(config, series)
        raise RnnkitError(f"{problem}; " + (f"use {', or '.join(flags)}" if flags else
                                                    "give a longer series")) from None
    config = fill_model_config(config, series)
    train_end, fit_end = split_points(len(series), config.data, config.model.output_len, series.season, series.name)
    if scaler is None:
        scaler = Scaler.fit(series.values[:train_end], config.data.scaler, config.data.log, series.target_names)
    if covariate_scaler is None and series.covariates.shape[1]:
        covariate_scaler = Scaler.fit(series.covariates[:train_end], "standard" if config.data.scaler != "none"
                                      else "none")
    scaled_cov = covariate_scaler.transform(series.covariates) if covariate_scaler else series.covariates
    return PreparedSeries(series, config, scaler, train_end, fit_end, scaler.transform(series.values), scaled_cov,
                          covariate_scaler)


def to_tensors(*arrays: np.ndarray, device: torch.device) -> list[torch.Tensor]:
    return [torch.as_tensor(a, dtype=torch.float32, device=device) for a in arrays]


def validation_inputs(prepared: PreparedSeries, device: torch.device) -> list[torch.Tensor] | None:
    """(past (1, L, T+C), future covariates (1, V, C), targets (1, V, T)), scaled, of forecasting the
    validation tail from its start; None without a validation tail."""
    start, end, length = prepared.train_end, prepared.fit_end, prepared.config.data.input_len
    if end <= start:
        return None
    past = np.concatenate([prepared.scaled[start - length:start], prepared.scaled_covariates[start - length:start]],
                          axis=1)[None]  # (1, L, T+C)
    return to_tensors(past, prepared.scaled_covariates[start:end][None], prepared.scaled[start:end][None],
                      device=device)


# -- the trained model with its scaling ------------------------------------------------------------
@dataclass
class Forecast:
    """Forecasts of H steps for T targets: the point forecast and, with quantiles, Q quantile forecasts."""

    times: Any  # (H,) pandas Index
    point: np.ndarray  # (H, T)
    quantiles: np.ndarray | None  # (H, T, Q)
    levels: tuple[float, ...]
    target_names: tuple[str, ...]

    def interval(self, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Bounds (H, T) of the interval between quantile levels ``lo`` and ``hi``, if both were trained."""
        if self.quantiles is None or lo not in self.levels or hi not in self.levels:
            return None
        return self.quantiles[..., self.levels.index(lo)], self.quantiles[..., self.levels.index(hi)]

    def outer_interval(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The widest interval: lowest to highest quantile."""
        return self.interval(self.levels[0], self.levels[-1]) if self.quantiles is not None else None

    def to_frame(self):
        """A pandas DataFrame: time, one column per target, and ``TARGET_qLEVEL`` columns per quantile."""
        import pandas as pd

        frame = pd.DataFrame({"time": self.times})
        for j, name in enumerate(self.target_names):
            frame[name] = self.point[:, j]
            for k, level in enumerate(self.levels if self.quantiles is not None else ()):
                frame[f"{name}_q{level:g}"] = self.quantiles[:, j, k]
        return frame


class ForecastModel:
    """A trained forecaster with its scalers (``rnnkit.runs.predictors.Forecaster``): forecasts in the
    series' own units, after the run's own series or any other with the same columns.

    With a ``choice`` (the run's selection.json) other than the RNN, it forecasts with the chosen classical
    method or combination, refitted on the history it is given (``choice.choice_forecast``)."""

    def __init__(self, model: Forecaster, config: ForecastRunConfig, vocab: ForecastVocab,
                 choice: ModelChoice | None = None):
        self.model, self.config, self.vocab, self.choice = model.eval(), config, vocab, choice

    @property
    def chosen(self) -> str:
        """The forecaster this predictor forecasts with: rnn, a classical method or a combination."""
        return self.choice.choice if self.choice is not None else "rnn"

    @property
    def scaler(self) -> Scaler:
        return self.vocab.scaler

    @property
    def covariate_scaler(self) -> Scaler | None:
        return self.vocab.covariate_scaler

    @property
    def series_info(self) -> dict[str, Any]:
        return self.vocab.series_info

    @property
    def horizon(self) -> int:
        return self.config.data.horizon

    def series(self, data: str | None = None) -> Series:
        """The run's own series (its config's ``[data]``), or ``data`` (a CSV or built-in name) read the same way."""
        config = self.config.data if data is None else dataclasses.replace(self.config.data, data=data)
        return load_series(config)

    def check_series(self, series: Series) -> None:
        """A one-line error unless ``series`` has the targets and covariates this model was trained on."""
        info = self.series_info
        if list(series.target_names) != info["target_names"] and len(series.target_names) != len(info["target_names"]):
            raise RnnkitError(f"the model forecasts {', '.join(info['target_names'])}, the data has "
                              f"{', '.join(series.target_names)}; pass --target with the same columns")
        if series.covariates.shape[1] != len(info["covariate_names"]):
            raise RnnkitError(f"the model was trained with covariates {', '.join(info['covariate_names']) or 'none'}"
                              f", the data has {', '.join(series.covariate_names) or 'none'}")

    def forecast(self, horizon: int | None = None, history: Series | None = None) -> Forecast:
        """Forecast ``horizon`` steps (default: the trained horizon) after ``history`` (default: the run's series)."""
        return self.predict(history if history is not None else self.series(), horizon)

    def predict(self, series: Series, horizon: int | None = None) -> Forecast:
        """Forecast ``horizon`` steps (default: the trained horizon) after the last point of ``series``, with
        the run's chosen forecaster."""
        horizon = horizon or self.horizon
        self.check_series(series)
        if horizon < 1:
            raise RnnkitError(f"--horizon must be >= 1, got {horizon}")
        # per step: a time stamp, covariates, and each target's point and quantiles through a few copies
        quantiles = len(self.config.model.quantiles)
        per_step = 64 + 8 * series.covariates.shape[1] + 32 * series.values.shape[1] * (2 + quantiles)
        check_memory(horizon * per_step, f"--horizon {horizon}", "forecast fewer steps")
        if self.choice is None or self.choice.is_rnn:
            return self.predict_rnn(series, horizon)
        levels = tuple(self.config.model.quantiles)
        point, bands = choice_forecast(self.choice, series.values, horizon, int(self.series_info["season"]),
                                       lambda: self.predict_rnn(series, horizon).point, levels)
        return Forecast(series.future_times(horizon), point, bands, levels if bands is not None else (),
                        series.target_names)

    def predict_rnn(self, series: Series, horizon: int) -> Forecast:
        """The RNN's own forecast of ``horizon`` steps after ``series`` (whatever the run's choice)."""
        length, n = self.config.data.input_len, len(series)
        if n < length:
            raise RnnkitError(f"the model reads {length} past points but the series has {n}; give a longer series")
        c = series.covariates.shape[1]
        if c and series.future_covariate_rows < horizon:
            raise RnnkitError(f"forecasting {horizon} steps needs the covariates' future: add {horizon} rows after "
                              f"the last observation with covariates filled and targets empty (found "
                              f"{series.future_covariate_rows})")
        past_targets = self.scaler.transform(series.values[n - length:])  # (L, T)
        covs = self.covariate_scaler.transform(series.covariates) if self.covariate_scaler else series.covariates
        past = np.concatenate([past_targets, covs[n - length:n]], axis=1)[None]  # (1, L, T+C)
        future = covs[n:n + horizon][None] if c else np.zeros((1, horizon, 0))  # (1, H, C)
        pred = model_forecast(self.model, past, future, horizon)  # (H, T, Q) scaled
        pred = widen_intervals(pred, self.series_info.get("interval_adjust"))
        values = self.scaler.inverse(np.moveaxis(pred, -1, 0))  # (Q, H, T)
        return forecast_of(self.model.config, series, np.moveaxis(values, 0, -1))  # values (H, T, Q)


def widen_intervals(pred: np.ndarray, adjust: list[float] | None) -> np.ndarray:
    """``pred`` (H, T, Q) in scaled units with its outer quantiles moved apart by the conformal widening
    ``adjust`` (T,) of the run (``calibrate.calibrate_intervals``); unchanged without one or without quantiles."""
    if adjust is not None and pred.shape[-1] > 1:
        pred[..., 0] -= np.asarray(adjust)
        pred[..., -1] += np.asarray(adjust)
    return pred


def model_forecast(model: Forecaster, past: np.ndarray, future: np.ndarray, horizon: int) -> np.ndarray:
    """The network's (H, T, Q) output, in its scaled units, for one window: past (1, L, T+C), future (1, H, C)."""
    past_t, future_t = to_tensors(past, future, device=next(model.parameters()).device)
    with torch.inference_mode():
        return model.forecast(past_t, future_t, horizon)[0].double().cpu().numpy()


def forecast_of(config: ForecasterConfig, series: Series, values: np.ndarray) -> Forecast:
    """The ``Forecast`` after ``series`` of the model's (H, T, Q) output in the series' units: quantiles sorted
    (none cross), the point forecast the median quantile's when there are quantiles, else the only output."""
    quantiles = np.sort(values, axis=-1) if config.quantiles else None
    point = quantiles[..., config.point_index] if quantiles is not None else values[..., 0]  # (H, T)
    return Forecast(series.future_times(len(values)), point, quantiles, tuple(config.quantiles),
                    series.target_names)


def load_forecaster(run_dir: str | Path, config: ForecastRunConfig, device: torch.device) -> ForecastModel:
    """The forecaster a run of ``config`` (already known: config.json is not read) trained into ``run_dir``:
    its series.json and best.pt (else last.pt) on ``device``. For the task's own helper runs; everything
    else opens runs with ``rnnkit.runs.open_run``."""
    run_dir = Path(run_dir)
    vocab = ForecastVocab.from_dict(ckpt.load_json(run_dir / SERIES_FILE))
    model = ckpt.load_model(lambda: Forecaster(config.model), ckpt.find_weights(run_dir), config.model, device)
    return ForecastModel(model, config, vocab)


__all__ = ["SERIES_FILE", "Forecast", "ForecastModel", "ForecastVocab", "PreparedSeries", "fill_model_config",
           "forecast_of", "load_forecaster", "model_forecast", "prepare", "split_points", "to_tensors",
           "validation_inputs", "working_flags", "config_problem"]
